#!/usr/bin/env python3
"""Reference fixtures for CoDEKit's ViT (Tests/CoDEModelTests).

Run with the versions it was last run with (CPU):
    torch 2.15.0, timm 1.0.31, transformers 5.24.0, numpy 1.26.4, safetensors 0.8.0
    python Tests/Fixtures/make_model_fixtures.py        # writes Tests/Fixtures/model/

Everything is deterministic: weights and inputs come from `fixture_uniform`, the twin of
CoDECore's `fixtureUniform(seed:count:)` (SplitMix64, value = (x >> 40) / 2**23 - 1), so the
full-size ViT-Tiny weights are generated on both sides instead of being committed.
"""
import json
from functools import partial
import os
import shutil

import numpy as np
import torch
from safetensors.numpy import save_file

import timm
from timm.layers import PatchEmbed
from timm.models.vision_transformer import Attention, Block
from transformers import ViTConfig, ViTModel

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "model")
torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

MASK = (1 << 64) - 1


def fixture_uniform(seed: int, count: int) -> np.ndarray:
    """SplitMix64(seed) -> float32 uniform in [-1, 1): identical to CoDECore.fixtureUniform."""
    out = np.empty(count, dtype=np.float32)
    state = seed & MASK
    with np.errstate(over="ignore"):
        # Vectorised SplitMix64: state_k = seed + k * gamma.
        k = np.arange(1, count + 1, dtype=np.uint64)
        z = np.uint64(state) + k * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    out[:] = (z >> np.uint64(40)).astype(np.float64) / 8388608.0 - 1.0
    return out


def timm_vit(img, patch, dim, depth, heads, mlp_ratio, eps):
    return timm.models.vision_transformer.VisionTransformer(
        img_size=img, patch_size=patch, embed_dim=dim, depth=depth, num_heads=heads,
        mlp_ratio=mlp_ratio, qkv_bias=True, num_classes=0, global_pool="token",
        norm_layer=partial(torch.nn.LayerNorm, eps=eps)).eval()


def fill_fixture_weights(model, base_seed):
    """Parameter i (state_dict order = CoDEKit layout order) gets
    fixture_uniform(base_seed + i) scaled by kind: LayerNorm weights 1 + 0.1u, LayerNorm biases
    0.1u, other biases 0.05u, everything else 0.06u (std about 0.035)."""
    sd = model.state_dict()
    names = list(sd.keys())
    new = {}
    for i, n in enumerate(names):
        u = torch.from_numpy(fixture_uniform(base_seed + i, sd[n].numel())).reshape(sd[n].shape)
        is_norm = ".norm" in "." + n and n.split(".")[-2].startswith("norm")
        if is_norm and n.endswith("weight"):
            v = 1 + 0.1 * u
        elif is_norm:
            v = 0.1 * u
        elif n.endswith("bias"):
            v = 0.05 * u
        else:
            v = 0.06 * u
        new[n] = v
    model.load_state_dict(new)
    return names


def timm_to_hf(sd, depth, dim):
    """timm state dict -> transformers ViTModel names (qkv split into query/key/value)."""
    hf = {
        "embeddings.cls_token": sd["cls_token"],
        "embeddings.position_embeddings": sd["pos_embed"],
        "embeddings.patch_embeddings.projection.weight": sd["patch_embed.proj.weight"],
        "embeddings.patch_embeddings.projection.bias": sd["patch_embed.proj.bias"],
        "layernorm.weight": sd["norm.weight"], "layernorm.bias": sd["norm.bias"],
    }
    for i in range(depth):
        t, h = f"blocks.{i}.", f"encoder.layer.{i}."
        for a, b in [("norm1", "layernorm_before"), ("attn.proj", "attention.output.dense"),
                     ("norm2", "layernorm_after"), ("mlp.fc1", "intermediate.dense"), ("mlp.fc2", "output.dense")]:
            hf[h + b + ".weight"] = sd[t + a + ".weight"]
            hf[h + b + ".bias"] = sd[t + a + ".bias"]
        for kind in ["weight", "bias"]:
            q, k, v = sd[t + "attn.qkv." + kind].split(dim, dim=0)
            hf[h + "attention.attention.query." + kind] = q
            hf[h + "attention.attention.key." + kind] = k
            hf[h + "attention.attention.value." + kind] = v
    return hf


def hf_model(sd_timm, img, patch, dim, depth, heads, mlp, eps, pooler):
    """A transformers ViTModel loaded by from_pretrained from a folder in the released CoDE
    layout (legacy `encoder.layer.N...` names, which transformers 5 converts on load)."""
    import tempfile
    cfg = ViTConfig(hidden_size=dim, num_hidden_layers=depth, num_attention_heads=heads, intermediate_size=mlp,
                    image_size=img, patch_size=patch, num_channels=3, layer_norm_eps=eps, qkv_bias=True,
                    hidden_act="gelu", hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    state = {k: np32(v) for k, v in timm_to_hf(sd_timm, depth, dim).items()}
    if pooler:
        state["pooler.dense.weight"] = np.zeros((dim, dim), np.float32)
        state["pooler.dense.bias"] = np.zeros(dim, np.float32)
    with tempfile.TemporaryDirectory() as d:
        cfg.save_pretrained(d)
        save_file(state, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
        m = ViTModel.from_pretrained(d, add_pooling_layer=pooler, attn_implementation="eager").eval()
    return m


def np32(t):
    return t.detach().to(torch.float32).contiguous().numpy()


def layers():
    """Each layer's forward on inputs from fixture_uniform, by timm's modules."""
    out = {}
    D, H, T, B = 32, 2, 17, 2
    # LayerNorm (eps 1e-6, as timm)
    x = torch.from_numpy(fixture_uniform(11, 5 * D).reshape(5, D)) * 3 + 0.5
    g = 1 + 0.1 * torch.from_numpy(fixture_uniform(12, D))
    b = 0.1 * torch.from_numpy(fixture_uniform(13, D))
    out.update({"ln.x": x, "ln.gamma": g, "ln.beta": b,
                "ln.y": torch.nn.functional.layer_norm(x, (D,), g, b, 1e-6)})
    # Linear
    x = torch.from_numpy(fixture_uniform(21, 7 * D).reshape(7, D))
    w = 0.2 * torch.from_numpy(fixture_uniform(22, 48 * D).reshape(48, D))
    bb = 0.1 * torch.from_numpy(fixture_uniform(23, 48))
    out.update({"linear.x": x, "linear.w": w, "linear.b": bb, "linear.y": torch.nn.functional.linear(x, w, bb)})
    # exact GELU
    x = torch.linspace(-6, 6, 1001)
    out.update({"gelu.x": x, "gelu.y": torch.nn.functional.gelu(x)})
    # timm Attention (qkv + core + proj)
    attn = Attention(D, num_heads=H, qkv_bias=True).eval()
    with torch.no_grad():
        for i, (n, p) in enumerate(attn.named_parameters()):
            p.copy_(0.2 * torch.from_numpy(fixture_uniform(30 + i, p.numel())).reshape(p.shape))
    x = torch.from_numpy(fixture_uniform(39, B * T * D).reshape(B, T, D))
    with torch.no_grad():
        y = attn(x)
    out.update({"attn.x": x, "attn.y": y})
    out.update({"attn." + n: p for n, p in attn.named_parameters()})
    # timm PatchEmbed (conv 8x8 stride 8 on 32x32)
    pe = PatchEmbed(img_size=32, patch_size=8, in_chans=3, embed_dim=D).eval()
    with torch.no_grad():
        for i, (n, p) in enumerate(pe.named_parameters()):
            p.copy_(0.2 * torch.from_numpy(fixture_uniform(40 + i, p.numel())).reshape(p.shape))
    imgs = torch.from_numpy(fixture_uniform(49, 2 * 3 * 32 * 32).reshape(2, 3, 32, 32)) * 2
    with torch.no_grad():
        y = pe(imgs)
    out.update({"patch.images": imgs, "patch.y": y})
    out.update({"patch." + n: p for n, p in pe.named_parameters()})
    # timm Block (pre-norm attention + MLP with exact GELU)
    blk = Block(D, num_heads=H, mlp_ratio=2.0, qkv_bias=True, norm_layer=partial(torch.nn.LayerNorm, eps=1e-6)).eval()
    with torch.no_grad():
        for i, (n, p) in enumerate(blk.named_parameters()):
            u = torch.from_numpy(fixture_uniform(50 + i, p.numel())).reshape(p.shape)
            p.copy_(1 + 0.1 * u if "norm" in n and n.endswith("weight") else 0.2 * u)
    x = torch.from_numpy(fixture_uniform(79, B * T * D).reshape(B, T, D))
    with torch.no_grad():
        y = blk(x)
    out.update({"block.x": x, "block.y": y})
    out.update({"block." + n: p for n, p in blk.named_parameters()})
    save_file({k: np32(v) for k, v in out.items()}, os.path.join(OUT, "layers.safetensors"),
              metadata={"generator": "make_model_fixtures.py"})


def tiny_end_to_end():
    """A 2-block ViT (32x32, patch 8, D 32, 2 heads, MLP 64) saved as a transformers folder (with a
    pooler, which loaders must ignore), the same with a 'vit.' prefix, and a timm state dict; plus
    the embeddings both libraries compute for three images."""
    img, patch, D, depth, H, mlp, eps = 32, 8, 32, 2, 2, 64, 1e-6
    m = timm_vit(img, patch, D, depth, H, mlp / D, eps)
    fill_fixture_weights(m, 500)
    sd = {k: v.detach().clone() for k, v in m.state_dict().items()}
    x = torch.from_numpy(fixture_uniform(599, 3 * 3 * img * img).reshape(3, 3, img, img)) * 2
    with torch.no_grad():
        e_timm = m(x)                                       # CLS after final norm (num_classes=0)
    hf = hf_model(sd, img, patch, D, depth, H, mlp, eps, pooler=True)
    with torch.no_grad():
        e_hf = hf(pixel_values=x).last_hidden_state[:, 0]
    folder = os.path.join(OUT, "tiny-transformers")
    shutil.rmtree(folder, ignore_errors=True)
    hf.save_pretrained(folder, safe_serialization=True)
    # Prefixed variant: the tensors renamed 'vit.*' as in ViTFor* checkpoints.
    from safetensors.numpy import load_file
    st = load_file(os.path.join(folder, "model.safetensors"))
    pre = os.path.join(OUT, "tiny-transformers-prefixed")
    shutil.rmtree(pre, ignore_errors=True)
    os.makedirs(pre)
    save_file({"vit." + k: v for k, v in st.items()}, os.path.join(pre, "model.safetensors"), metadata={"format": "pt"})
    shutil.copy(os.path.join(folder, "config.json"), os.path.join(pre, "config.json"))
    save_file({k: np32(v) for k, v in sd.items()}, os.path.join(OUT, "tiny-timm.safetensors"), metadata={"format": "pt"})
    save_file({"images": np32(x), "embedding.timm": np32(e_timm), "embedding.transformers": np32(e_hf)},
              os.path.join(OUT, "tiny-io.safetensors"))
    print("tiny: timm vs transformers max diff", float((e_timm - e_hf).abs().max()))


def full_tiny():
    """The full ViT-Tiny (vit_tiny_patch16_224 shape) with fixture weights (base seed 7000) on two
    inputs (seeds 7999, 7998, values 2u): the transformers embedding in float32 and float64."""
    m = timm_vit(224, 16, 192, 12, 3, 4.0, 1e-6)
    names = fill_fixture_weights(m, 7000)
    sd = {k: v.detach().clone() for k, v in m.state_dict().items()}
    assert sum(v.numel() for v in sd.values()) == 5524416
    x = torch.from_numpy(np.stack([fixture_uniform(7999, 3 * 224 * 224), fixture_uniform(7998, 3 * 224 * 224)])
                         .reshape(2, 3, 224, 224)) * 2
    hf = hf_model(sd, 224, 16, 192, 12, 3, 768, 1e-6, pooler=False)
    with torch.no_grad():
        e32 = hf(pixel_values=x).last_hidden_state[:, 0]
        e64 = hf.double()(pixel_values=x.double()).last_hidden_state[:, 0]
    save_file({"embedding.f32": np32(e32), "embedding.f64": e64.contiguous().numpy()},
              os.path.join(OUT, "full-tiny-io.safetensors"),
              metadata={"info": json.dumps({"weights": "fixture_uniform(7000 + i) per tensor i, see fill_fixture_weights",
                                            "inputs": "2 * fixture_uniform(7999|7998, 3*224*224)", "names": names}, sort_keys=True)})
    print("full: f32 vs f64 max diff", float((e32.double() - e64).abs().max()), "max |e|", float(e64.abs().max()))


TAU = 0.1
TINY = dict(img=32, patch=8, D=32, depth=2, H=2, mlp=64, eps=1e-6)
TRAIN = dict(B=3, base_seed=500, steps=10, lr=2e-3, warmup=3, warmup_lr=1e-5, min_lr=1e-5, wd=0.05, max_norm=1.0)


def info_nce(q, p, n):
    """The authors' InfoNCE (negative_mode 'unpaired'): all rows L2-normalised, logits
    [q.p, q.N^T] / 0.1, cross-entropy with target 0, mean."""
    import torch.nn.functional as F
    q, p, n = (F.normalize(x, dim=-1) for x in (q, p, n))
    logits = torch.cat([(q * p).sum(dim=1, keepdim=True), q @ n.T], dim=1) / TAU
    return F.cross_entropy(logits, torch.zeros(len(q), dtype=torch.long))


def code_loss(model, groups):
    """CoDE objective over the eight views (real, fake, aug real, aug fake, global real,
    local real, global fake, local fake); total = L_real + L_fake."""
    e = [model(g) for g in groups]
    l_rg, l_rl = info_nce(e[0], e[2], e[3]), info_nce(e[5], e[4], e[6])
    l_fg, l_fl = info_nce(e[1], e[3], e[2]), info_nce(e[7], e[6], e[4])
    total = 0.5 * (l_rg + l_rl) + 0.5 * (l_fg + l_fl)
    return total, (l_rg, l_rl, l_fg, l_fl)


def step_groups(step):
    """Views of training step `step`: group g holds 2 * fixture_uniform(1000 + 8 step + g)."""
    c = TINY
    n = TRAIN["B"] * 3 * c["img"] * c["img"]
    return [torch.from_numpy(fixture_uniform(1000 + 8 * step + g, n).reshape(TRAIN["B"], 3, c["img"], c["img"])) * 2
            for g in range(8)]


def training():
    """The tiny ViT (weights as tiny-timm.safetensors) under the CoDE loss: loss parts and every
    parameter gradient by autograd for step 0's views; then 10 AdamW steps (timm's weight-decay
    groups, clip_grad_norm_ 1.0, warm-up + cosine per step) with the loss per step and the final
    parameters."""
    from timm.scheduler import CosineLRScheduler
    c = TINY
    m = timm_vit(c["img"], c["patch"], c["D"], c["depth"], c["H"], c["mlp"] / c["D"], c["eps"])
    fill_fixture_weights(m, TRAIN["base_seed"])
    m.train()
    total, parts = code_loss(m, step_groups(0))
    total.backward()
    out = {"loss": torch.tensor([total.item()] + [p.item() for p in parts], dtype=torch.float64)}
    out.update({"grad." + n: p.grad for n, p in m.named_parameters()})
    save_file({k: (v.numpy() if v.dtype == torch.float64 else np32(v)) for k, v in out.items()},
              os.path.join(OUT, "training-gradients.safetensors"), metadata={"parts": "total, lRealGlobal, lRealLocal, lFakeGlobal, lFakeLocal"})

    m.zero_grad()
    decay = [p for n, p in m.named_parameters() if p.ndim > 1 and n not in ("pos_embed", "cls_token")]
    no_decay = [p for n, p in m.named_parameters() if not (p.ndim > 1 and n not in ("pos_embed", "cls_token"))]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": TRAIN["wd"]}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=TRAIN["lr"], betas=(0.9, 0.999), eps=1e-8)
    sched = CosineLRScheduler(opt, t_initial=TRAIN["steps"], lr_min=TRAIN["min_lr"], warmup_t=TRAIN["warmup"],
                              warmup_lr_init=TRAIN["warmup_lr"], t_in_epochs=True)
    losses, norms, lrs = [], [], []
    for t in range(TRAIN["steps"]):
        opt.zero_grad()
        total, _ = code_loss(m, step_groups(t))
        total.backward()
        norms.append(float(torch.nn.utils.clip_grad_norm_(m.parameters(), TRAIN["max_norm"])))
        losses.append(total.item())
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step(t + 1)
    traj = {"loss": np.array(losses), "preClipNorm": np.array(norms), "lr": np.array(lrs)}
    traj.update({"param." + n: np32(p) for n, p in m.named_parameters()})
    save_file(traj, os.path.join(OUT, "training-trajectory.safetensors"),
              metadata={"train": json.dumps(TRAIN, sort_keys=True)})
    print("training: losses", [round(x, 5) for x in losses])


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    layers()
    tiny_end_to_end()
    full_tiny()
    training()
