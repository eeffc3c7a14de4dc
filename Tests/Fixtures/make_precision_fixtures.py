#!/usr/bin/env python3
"""Reference fixtures for CoDEKit's reduced-precision inference (Tests/CoDEOneDNNTests,
Tests/CoDEModelTests/PrecisionTests.swift).

Run with the versions it was last run with (CPU):
    torch 2.13.0, numpy (see the file's metadata), safetensors
    python Tests/Fixtures/make_precision_fixtures.py     # writes Tests/Fixtures/precision/

Emulates, in float32 PyTorch (float32 accumulation), what docs/precision.md says the oneDNN
layers compute:
- bf16: input and weights rounded to bfloat16 (round to nearest, ties to even: torch's
  float32 -> bfloat16 conversion), products summed in float32, bias added in float32;
- int8: weights s8 per output channel, sw = max|W[j,:]| / 127, q = rint(W / sw); input s8 per
  tensor, sx = max|x| / 127, q = rint(x * float32(1 / sx)) clipped to [-127, 127] (oneDNN's
  reorder multiplies by the reciprocal); y = (qx @ qw^T) * (sx * sw) + b.
Then GELU (erf) for fc1 and the residual add for proj and fc2. The patch embedding stays fp32.
int8 activations go to oneDNN as u8 (q + 128) with the offset corrected in the bias: the same
arithmetic as the s8 q used here.

1. `linear.safetensors`: one layer (45 x 96 input, 80 outputs) under each post-op.
2. `tiny-vit.safetensors`: the 2-block tiny ViT of make_model_fixtures.py (weights
   model/tiny-timm.safetensors, images model/tiny-io.safetensors) embedded at fp32, bf16 and
   int8 by a hand-written forward that mirrors CoDEKit's (the last block runs proj/MLP on the CLS
   rows only, so int8's dynamic scales there are over those rows); its fp32 result is checked
   against timm's embedding stored in tiny-io.
"""
import os

import numpy as np
import torch
from safetensors.numpy import load_file, save_file

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "precision")
torch.set_num_threads(1)

MASK = (1 << 64) - 1


def fixture_uniform(seed: int, count: int) -> np.ndarray:
    """SplitMix64(seed) -> float32 uniform in [-1, 1): identical to CoDECore.fixtureUniform."""
    out = np.empty(count, dtype=np.float32)
    with np.errstate(over="ignore"):
        k = np.arange(1, count + 1, dtype=np.uint64)
        z = np.uint64(seed & MASK) + k * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    out[:] = (z >> np.uint64(40)).astype(np.float64) / 8388608.0 - 1.0
    return out


def bf16(t):
    return t.to(torch.bfloat16).to(torch.float32)


def quantize_rows(w):
    """Per-row symmetric s8: scale = max|row| / 127 (1 for a zero row), q = rint(w / scale)."""
    m = w.abs().amax(dim=1)
    s = torch.where(m > 0, m / 127, torch.ones_like(m))
    q = torch.clamp(torch.round(w / s[:, None]), -127, 127)
    return q, s


def quantize_tensor(x):
    """Per-tensor symmetric s8: sx = max|x| / 127, q = rint(x * float32(1 / sx))."""
    m = x.abs().max()
    sx = m / 127 if m > 0 else torch.tensor(1.0)
    inv = (torch.tensor(1.0) / sx).to(torch.float32)
    q = torch.clamp(torch.round(x * inv), -127, 127)
    return q, sx


def linear(x, w, b, precision):
    """x [m, k] @ w[n, k]^T + b in the emulated precision (float32 tensors)."""
    if precision == "fp32":
        return x @ w.T + b
    if precision == "bf16":
        return bf16(x) @ bf16(w).T + b
    qw, sw = quantize_rows(w)
    qx, sx = quantize_tensor(x)
    acc = (qx.double() @ qw.double().T)  # exact integers
    return (acc * (sx.double() * sw.double())[None, :]).to(torch.float32) + b


def gelu(x):
    return 0.5 * x * (1 + torch.erf(x / np.sqrt(2.0)))


def linear_fixtures():
    m, k, n = 45, 96, 80
    x = torch.from_numpy(fixture_uniform(9101, m * k).reshape(m, k)) * 2
    x[3, 5] = 2.5  # one outlier, as LayerNorm outputs have, so sx is set by it
    w = torch.from_numpy(fixture_uniform(9102, n * k).reshape(n, k)) * 0.1
    b = torch.from_numpy(fixture_uniform(9103, n)) * 0.05
    r = torch.from_numpy(fixture_uniform(9104, m * n).reshape(m, n))
    out = {"x": x, "w": w, "b": b, "residual": r}
    for p in ["bf16", "int8"]:
        y = linear(x, w, b, p)
        out[f"{p}.none"] = y
        out[f"{p}.gelu"] = gelu(y)
        out[f"{p}.residual"] = r + y
    out["fp32.none"] = linear(x.double(), w.double(), b.double(), "fp32")
    save_file({k: v.contiguous().numpy() for k, v in out.items()}, os.path.join(OUT, "linear.safetensors"),
              metadata={"torch": torch.__version__, "numpy": np.__version__})


def layer_norm(x, g, b, eps):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps) * g + b


def attention(qkv, B, T, D, H, first_only=False):
    hd = D // H
    q, k, v = qkv.reshape(B, T, 3, H, hd).permute(2, 0, 3, 1, 4)
    if first_only:
        q = q[:, :, :1]
    a = torch.softmax((q @ k.transpose(-1, -2)) / np.sqrt(hd), dim=-1)
    o = (a @ v).transpose(1, 2)
    return o.reshape(B, -1, D)


def vit_embed(sd, x, precision, img=32, patch=8, D=32, depth=2, H=2, eps=1e-6):
    B = x.shape[0]
    g = img // patch
    # im2col: [B*Np, C*P*P], patches row-major, columns (c, i, j).
    cols = x.reshape(B, 3, g, patch, g, patch).permute(0, 2, 4, 1, 3, 5).reshape(B * g * g, 3 * patch * patch)
    wp = sd["patch_embed.proj.weight"].reshape(D, -1)
    # The patch embedding stays fp32 at every precision (see InferencePrecision).
    tok = linear(cols, wp, sd["patch_embed.proj.bias"], "fp32").reshape(B, g * g, D)
    t = torch.cat([sd["cls_token"].expand(B, 1, D), tok], dim=1) + sd["pos_embed"]
    T = t.shape[1]
    t = t.reshape(B * T, D)
    for i in range(depth):
        p = f"blocks.{i}."
        last = i == depth - 1
        lin = lambda name, v: linear(v, sd[p + name + ".weight"], sd[p + name + ".bias"], precision)
        qkv = lin("attn.qkv", layer_norm(t, sd[p + "norm1.weight"], sd[p + "norm1.bias"], eps))
        a = attention(qkv, B, T, D, H, first_only=last)
        if last:
            t = t.reshape(B, T, D)[:, 0]
            a = a.reshape(B, D)
        else:
            a = a.reshape(B * T, D)
        t = t + lin("attn.proj", a)
        h = gelu(lin("mlp.fc1", layer_norm(t, sd[p + "norm2.weight"], sd[p + "norm2.bias"], eps)))
        t = t + lin("mlp.fc2", h)
    return layer_norm(t, sd["norm.weight"], sd["norm.bias"], eps)


def tiny_vit_fixtures():
    sd = {k: torch.from_numpy(v) for k, v in load_file(os.path.join(HERE, "model", "tiny-timm.safetensors")).items()}
    io = load_file(os.path.join(HERE, "model", "tiny-io.safetensors"))
    x = torch.from_numpy(io["images"])
    out = {}
    with torch.no_grad():
        for p in ["fp32", "bf16", "int8"]:
            out["embedding." + p] = vit_embed(sd, x, p)
    d = float((out["embedding.fp32"] - torch.from_numpy(io["embedding.timm"])).abs().max())
    assert d < 1e-5, f"hand-written forward differs from timm by {d}"
    rel = lambda a, b: float((a - b).abs().max() / b.abs().max())
    print("tiny ViT: fp32 vs timm", d, "bf16 vs fp32", rel(out["embedding.bf16"], out["embedding.fp32"]),
          "int8 vs fp32", rel(out["embedding.int8"], out["embedding.fp32"]))
    save_file({k: v.contiguous().numpy() for k, v in out.items()}, os.path.join(OUT, "tiny-vit.safetensors"),
              metadata={"torch": torch.__version__, "numpy": np.__version__})


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    linear_fixtures()
    tiny_vit_fixtures()
