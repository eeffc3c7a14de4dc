#!/usr/bin/env python3
"""Reference fixtures for CoDEContrastive (InfoNCE, the CoDE objective) and CoDECore's optimizer
(AdamW, global-norm clipping, cosine schedule with warm-up).

Run with: torch 2.15.0, timm 1.0.31, numpy 1.26.4, safetensors 0.8.0 (Python 3, CPU).
    /work/venv/bin/python Tests/Fixtures/make_contrastive_fixtures.py
Writes Tests/Fixtures/contrastive/{infonce,objective,adamw,schedule}.safetensors. Seeds are fixed;
rerunning reproduces every output. Losses and gradients come from PyTorch autograd in float64 on
float32 inputs (the inputs are stored as float32, exactly what the Swift tests feed in).

The InfoNCE here is written independently from the definition in SPEC section 3 (the authors'
`info_nce` with negative_mode 'unpaired', mean reduction): rows L2-normalised with F.normalize,
logits = [q_i . p_i, q_i . N^T] / tau, cross-entropy with target 0, mean over i.
"""
import json
import os

import numpy as np
import timm
import torch
import torch.nn.functional as F
from safetensors.numpy import save_file
from timm.scheduler import CosineLRScheduler

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "contrastive")
TAU = 0.1
META = {"generator": "make_contrastive_fixtures.py", "torch": torch.__version__, "timm": timm.__version__}


def info_nce(q, p, n, tau=TAU):
    q, p, n = (F.normalize(x, dim=-1) for x in (q, p, n))
    logits = torch.cat([(q * p).sum(dim=1, keepdim=True), q @ n.T], dim=1) / tau
    target = torch.zeros(len(q), dtype=torch.long)
    return F.cross_entropy(logits, target, reduction="mean")


def f32(t):
    return t.detach().to(torch.float32).numpy().copy()


def f64(t):
    return t.detach().to(torch.float64).numpy().copy()


def save(name, tensors, meta):
    # One metadata key holding sorted JSON: safetensors writes several keys in hash order, which
    # would make the files differ byte-wise between runs.
    save_file(tensors, os.path.join(OUT, name), metadata={"info": json.dumps({**META, **meta}, sort_keys=True)})


def infonce_fixture():
    g = torch.Generator().manual_seed(1234)
    out = {}
    # (n queries, m negatives, d): more negatives than queries, fewer, and equal.
    cases = [(5, 7, 16), (4, 3, 16), (6, 6, 8)]
    for c, (n, m, d) in enumerate(cases):
        q = (torch.randn(n, d, generator=g) * 2.5).float()
        p = (q + 0.8 * torch.randn(n, d, generator=g)).float()
        neg = (torch.randn(m, d, generator=g) * 0.7).float()
        q64, p64, n64 = (x.double().requires_grad_(True) for x in (q, p, neg))
        loss = info_nce(q64, p64, n64)
        loss.backward()
        out |= {f"case{c}.query": f32(q), f"case{c}.positive": f32(p), f"case{c}.negatives": f32(neg),
                f"case{c}.loss": f64(loss.reshape(1)), f"case{c}.dQuery": f64(q64.grad),
                f"case{c}.dPositive": f64(p64.grad), f"case{c}.dNegatives": f64(n64.grad)}
    save("infonce.safetensors", out, {"cases": str(len(cases)), "temperature": str(TAU)})


GROUPS = ["real", "fake", "augReal", "augFake", "globalReal", "localReal", "globalFake", "localFake"]


def objective(e, roll_real=None, roll_fake=None):
    """The CoDE objective on raw embeddings e[name] of shape [B, d] (SPEC section 3).
    A roll index r replaces the augmented view by its rows r[i] (the authors' roll_index)."""
    aug_real = e["augReal"] if roll_real is None else e["augReal"][roll_real]
    aug_fake = e["augFake"] if roll_fake is None else e["augFake"][roll_fake]
    parts = {
        "lRealGlobal": info_nce(e["real"], aug_real, aug_fake),
        "lRealLocal": info_nce(e["localReal"], e["globalReal"], e["globalFake"]),
        "lFakeGlobal": info_nce(e["fake"], aug_fake, aug_real),
        "lFakeLocal": info_nce(e["localFake"], e["globalFake"], e["globalReal"]),
    }
    parts["lReal"] = (parts["lRealGlobal"] + parts["lRealLocal"]) / 2
    parts["lFake"] = (parts["lFakeGlobal"] + parts["lFakeLocal"]) / 2
    parts["total"] = parts["lReal"] + parts["lFake"]
    return parts


def objective_fixture():
    g = torch.Generator().manual_seed(42)
    B, d = 6, 16
    base_real, base_fake = torch.randn(B, d, generator=g), torch.randn(B, d, generator=g)
    emb = {}
    for name in GROUPS:
        base = base_real if "eal" in name else base_fake
        emb[name] = (1.5 * base + torch.randn(B, d, generator=g) * 1.2).float()
    out = {f"input.{k}": f32(v) for k, v in emb.items()}
    rolls = {"plain": (None, None),
             "rolled": (torch.tensor([3, 0, 5, 1, 2, 4]), torch.tensor([1, 2, 3, 4, 5, 0]))}
    for case, (rr, rf) in rolls.items():
        x = {k: v.double().requires_grad_(True) for k, v in emb.items()}
        parts = objective(x, rr, rf)
        parts["total"].backward()
        out |= {f"{case}.{k}": f64(v.reshape(1)) for k, v in parts.items()}
        out |= {f"{case}.grad.{k}": f64(v.grad) for k, v in x.items()}
        if rr is not None:
            out[f"{case}.rollReal"] = rr.numpy().astype(np.int64)
            out[f"{case}.rollFake"] = rf.numpy().astype(np.int64)
    save("objective.safetensors", out, {"batch": str(B), "dim": str(d), "temperature": str(TAU)})


def fixture_uniform(seed, count):
    """Python twin of CoDECore.fixtureUniform: SplitMix64(seed), value = (x >> 40) / 2^23 - 1."""
    mask = (1 << 64) - 1
    s, out = seed, []
    for _ in range(count):
        s = (s + 0x9E3779B97F4A7C15) & mask
        z = s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        z ^= z >> 31
        out.append((z >> 40) / 2.0**23 - 1.0)
    return np.array(out, dtype=np.float32)


# AdamW trajectory: three tensors, loss = sum_k 0.5 * a_k * (theta_k - c_k)^2 elementwise, so the
# gradient is a_k * (theta_k - c_k); a = 1 + 0.5 * u (u uniform in [-1, 1)), all from fixture_uniform.
ADAM_LAYOUT = [("w", [4, 5], True, 11), ("b", [5], False, 12), ("pos", [1, 3, 4], False, 13)]
ADAM = {"steps": 10, "lr": 0.05, "warmup": 3, "warmup_lr": 1e-3, "min_lr": 1e-4,
        "weight_decay": 0.1, "betas": (0.9, 0.999), "eps": 1e-8, "max_norm": 2.0}


def adamw_fixture():
    params, targets, scales = [], [], []
    for name, shape, _, seed in ADAM_LAYOUT:
        n = int(np.prod(shape))
        params.append(torch.tensor(fixture_uniform(seed, n).reshape(shape), requires_grad=True))
        targets.append(torch.tensor(fixture_uniform(seed + 100, n).reshape(shape)))
        scales.append(torch.tensor(1 + 0.5 * fixture_uniform(seed + 200, n).reshape(shape)))
    decay = [p for p, (_, _, dec, _) in zip(params, ADAM_LAYOUT) if dec]
    no_decay = [p for p, (_, _, dec, _) in zip(params, ADAM_LAYOUT) if not dec]
    opt = torch.optim.AdamW([{"params": no_decay, "weight_decay": 0.0},
                             {"params": decay, "weight_decay": ADAM["weight_decay"]}],
                            lr=ADAM["lr"], betas=ADAM["betas"], eps=ADAM["eps"], foreach=False)
    sched = CosineLRScheduler(opt, t_initial=ADAM["steps"], lr_min=ADAM["min_lr"], warmup_t=ADAM["warmup"],
                              warmup_lr_init=ADAM["warmup_lr"], t_in_epochs=True)
    losses, norms, lrs = [], [], []
    for t in range(ADAM["steps"]):
        opt.zero_grad()
        loss = sum((0.5 * a * (p - c) ** 2).sum() for p, c, a in zip(params, targets, scales))
        loss.backward()
        norms.append(float(torch.nn.utils.clip_grad_norm_(params, ADAM["max_norm"])))
        losses.append(loss.item())
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step(t + 1)
    out = {"loss": np.array(losses), "preClipNorm": np.array(norms), "lr": np.array(lrs)}
    for p, (name, _, _, _) in zip(params, ADAM_LAYOUT):
        st = opt.state[p]
        out |= {f"final.{name}": f32(p), f"m.{name}": f32(st["exp_avg"]), f"v.{name}": f32(st["exp_avg_sq"])}
    save("adamw.safetensors", out, {k: str(v) for k, v in ADAM.items()})


def schedule_fixture():
    """timm CosineLRScheduler values for the authors' recipe (per epoch: 150 epochs, 5 warm-up,
    lr 2e-3, warmup_lr 1e-6, min_lr 0) and a per-update variant with warmup_prefix and a floor."""
    out = {}
    configs = {"authors": dict(t_initial=150, warmup_t=5, lr=2e-3, warmup_lr_init=1e-6, lr_min=0.0, prefix=False, n=160),
               "prefix": dict(t_initial=40, warmup_t=7, lr=0.5, warmup_lr_init=0.01, lr_min=0.02, prefix=True, n=60)}
    for name, c in configs.items():
        opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=c["lr"])
        s = CosineLRScheduler(opt, t_initial=c["t_initial"], lr_min=c["lr_min"], warmup_t=c["warmup_t"],
                              warmup_lr_init=c["warmup_lr_init"], warmup_prefix=c["prefix"], t_in_epochs=True)
        out[f"{name}.lr"] = np.array([s._get_lr(t)[0] for t in range(c["n"])], dtype=np.float64)
    save("schedule.safetensors", out, {f"{n}.{k}": str(v) for n, c in configs.items() for k, v in c.items()})


if __name__ == "__main__":
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    infonce_fixture()
    objective_fixture()
    adamw_fixture()
    schedule_fixture()
    print("wrote", sorted(os.listdir(OUT)))
