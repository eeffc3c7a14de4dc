#!/usr/bin/env python3
"""Reference for bf16 mixed-precision training (Tests/CoDEKitTests/BF16TrainingTests.swift).

Needs only torch, timm, safetensors and numpy (e.g. /work/venv-fix or `make fixtures`' venv):
    python Tests/Fixtures/make_bf16_fixtures.py     # writes Tests/Fixtures/model/bf16-training-gradients.safetensors

The tiny ViT of make_model_fixtures.py (weights as tiny-timm.safetensors, step 0's eight view
groups) under the CoDE loss, by PyTorch autograd, twice:
- fp32: plain autograd (as training-gradients.safetensors);
- bf16: every linear layer (patch embedding, qkv, proj, fc1, fc2) replaced by a custom autograd
  Function whose three GEMMs (forward, dX, dW) take operands rounded to bfloat16 (round to
  nearest even, torch's .to(bfloat16)) and multiply them in fp32 (products of bf16 values are
  exact in fp32, so this is bf16 x bf16 with fp32 accumulation); biases, LayerNorm, attention,
  GELU, the loss and all gradients outside the GEMMs stay fp32. This is CoDEKit's
  `TrainingPrecision.bf16`.

It also measures how chaotic the bf16 reference is (the bounds of the Swift test come from
these numbers): bf16 rounding turns fp32 rounding noise (e.g. a different summation order) into
whole bf16 steps, so the bf16 gradient of inputs perturbed by 1e-7 moves. For three
perturbations it records the relative L2 change of the whole gradient and of the loss parts,
and the relative L2 distance between the fp32 and the bf16 gradient (metadata "measurements").
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.numpy import save_file

import timm

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "model")
torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

# The fixture helpers shared with the other model fixtures (as make_objective_fixtures.py uses them).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_model_fixtures as mm  # noqa: E402

fixture_uniform, timm_vit, fill_fixture_weights = mm.fixture_uniform, mm.timm_vit, mm.fill_fixture_weights


TAU = 0.1
TINY = dict(img=32, patch=8, D=32, depth=2, H=2, mlp=64, eps=1e-6)
B, BASE_SEED = 3, 500


def info_nce(q, p, n):
    q, p, n = (F.normalize(x, dim=-1) for x in (q, p, n))
    logits = torch.cat([(q * p).sum(dim=1, keepdim=True), q @ n.T], dim=1) / TAU
    return F.cross_entropy(logits, torch.zeros(len(q), dtype=torch.long))


def code_loss(model, groups):
    e = [model(g) for g in groups]
    l_rg, l_rl = info_nce(e[0], e[2], e[3]), info_nce(e[5], e[4], e[6])
    l_fg, l_fl = info_nce(e[1], e[3], e[2]), info_nce(e[7], e[6], e[4])
    total = 0.5 * (l_rg + l_rl) + 0.5 * (l_fg + l_fl)
    return total, (l_rg, l_rl, l_fg, l_fl)


def step_groups(step):
    c = TINY
    n = B * 3 * c["img"] * c["img"]
    return [torch.from_numpy(fixture_uniform(1000 + 8 * step + g, n).reshape(B, 3, c["img"], c["img"])) * 2
            for g in range(8)]

# --- bf16 GEMMs ----------------------------------------------------------------------------------

def bf(t):
    """Round to bfloat16 (nearest even) and back: the value a bf16 GEMM operand holds."""
    return t.to(torch.bfloat16).to(torch.float32)


class BF16Linear(torch.autograd.Function):
    """y = bf16(x) bf16(W)^T + b; dX = bf16(dY) bf16(W); dW = bf16(dY)^T bf16(x); db = sum dY."""

    @staticmethod
    def forward(ctx, x, w, b):
        xr, wr = bf(x), bf(w)
        ctx.save_for_backward(xr, wr)
        ctx.has_bias = b is not None
        y = torch.matmul(xr, wr.t())
        return y + b if b is not None else y

    @staticmethod
    def backward(ctx, g):
        xr, wr = ctx.saved_tensors
        gr = bf(g)
        dx = torch.matmul(gr, wr)
        dw = gr.reshape(-1, gr.shape[-1]).t() @ xr.reshape(-1, xr.shape[-1])
        db = g.reshape(-1, g.shape[-1]).sum(0) if ctx.has_bias else None
        return dx, dw, db


def use_bf16_gemms(model):
    """Every nn.Linear and the patch-embedding convolution (kernel = stride = P, i.e. im2col +
    one GEMM, columns in the (c, ky, kx) order of the conv weight) through BF16Linear."""
    for mod in model.modules():
        if isinstance(mod, torch.nn.Linear):
            mod.forward = (lambda m: lambda x: BF16Linear.apply(x, m.weight, m.bias))(mod)
    proj = model.patch_embed.proj
    P = proj.kernel_size[0]
    assert proj.stride[0] == P

    def conv(x):
        n, _, h, w = x.shape
        cols = F.unfold(x, P, stride=P).transpose(1, 2)                     # [B, L, C*P*P]
        y = BF16Linear.apply(cols, proj.weight.reshape(proj.out_channels, -1), proj.bias)
        return y.transpose(1, 2).reshape(n, proj.out_channels, h // P, w // P)
    proj.forward = conv


def gradients(bf16, groups):
    c = TINY
    m = timm_vit(c["img"], c["patch"], c["D"], c["depth"], c["H"], c["mlp"] / c["D"], c["eps"])
    fill_fixture_weights(m, BASE_SEED)
    m.train()
    if bf16:
        use_bf16_gemms(m)
    total, parts = code_loss(m, groups)
    total.backward()
    loss = np.array([total.item()] + [p.item() for p in parts], dtype=np.float64)
    return loss, {n: p.grad.detach().clone() for n, p in m.named_parameters()}


def flat(g):
    return torch.cat([v.reshape(-1).double() for v in g.values()])


def rel(a, b):
    return float((a - b).norm() / b.norm())


def main():
    os.makedirs(OUT, exist_ok=True)
    groups = step_groups(0)
    loss32, g32 = gradients(False, groups)
    loss16, g16 = gradients(True, groups)
    # The bf16 path must not collapse into the fp32 one (or differ wildly from it).
    fp32_vs_bf16 = rel(flat(g32), flat(g16))
    per_tensor = {n: rel(g32[n].double().reshape(-1), g16[n].double().reshape(-1)) for n in g16}
    chaos, chaos_loss, chaos_tensor = [], [], {n: 0.0 for n in g16}
    for s in range(3):
        pert = [g + 1e-7 * torch.from_numpy(fixture_uniform(9000 + 8 * s + i, g.numel()).reshape(g.shape))
                for i, g in enumerate(groups)]
        lp, gp = gradients(True, pert)
        chaos.append(rel(flat(gp), flat(g16)))
        chaos_loss.append(float(np.max(np.abs(lp - loss16) / np.abs(loss16))))
        for n in g16:
            chaos_tensor[n] = max(chaos_tensor[n], rel(gp[n].double().reshape(-1), g16[n].double().reshape(-1)))
    meas = {"fp32_vs_bf16_gradient_rel_l2": fp32_vs_bf16,
            "perturbed_1e-7_gradient_rel_l2": chaos,
            "perturbed_1e-7_loss_parts_max_rel": chaos_loss,
            "fp32_vs_bf16_loss_parts_max_rel": float(np.max(np.abs(loss32 - loss16) / np.abs(loss16))),
            "per_tensor_fp32_vs_bf16": per_tensor, "per_tensor_perturbed_max": chaos_tensor}
    out = {"loss": loss16, "fp32.loss": loss32}
    out.update({"grad." + n: v.numpy().astype(np.float32) for n, v in g16.items()})
    out.update({"fp32.grad." + n: v.numpy().astype(np.float32) for n, v in g32.items()})
    save_file(out, os.path.join(OUT, "bf16-training-gradients.safetensors"),
              metadata={"parts": "total, lRealGlobal, lRealLocal, lFakeGlobal, lFakeLocal",
                        "versions": json.dumps({"torch": torch.__version__, "timm": timm.__version__, "numpy": np.__version__}),
                        "measurements": json.dumps(meas, sort_keys=True)})
    print("bf16 loss", loss16.tolist(), "fp32 loss", loss32.tolist())
    print("fp32 vs bf16 gradient rel L2 %.3g; loss parts max rel %.3g" % (fp32_vs_bf16, meas["fp32_vs_bf16_loss_parts_max_rel"]))
    print("bf16 gradient moved by 1e-7 input perturbations: rel L2", ["%.3g" % x for x in chaos],
          "loss parts max rel", ["%.3g" % x for x in chaos_loss])
    for n in g16:
        print("  %-32s fp32-vs-bf16 %.3g  perturbed %.3g" % (n, per_tensor[n], chaos_tensor[n]))


if __name__ == "__main__":
    main()
