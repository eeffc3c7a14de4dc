#!/usr/bin/env python3
"""Reference fixtures for code-train's --objective comparisons (Tests/CoDEKitTests/ObjectiveTests).

Run with the versions recorded in the file's metadata (CPU), from the repository root:
    python Tests/Fixtures/make_objective_fixtures.py     # writes Tests/Fixtures/model/objective-gradients.safetensors

Uses the tiny ViT, weights and step views of make_model_fixtures.py (imported from it), and
PyTorch autograd for:
- global:      InfoNCE(real, aug real, aug fake) + InfoNCE(fake, aug fake, aug real)
- global-real: InfoNCE(real, aug real, aug fake)
- bce:         a linear head (nn.Linear(D, 1)) on the CLS embedding of aug real (target 0) and
               aug fake (target 1), F.binary_cross_entropy_with_logits, mean over the 2B rows;
               its head starts from fixture_uniform(900, D + 1) / 4 (weight, then bias).
For each: the loss and the gradient of every encoder parameter (and of the head for bce). For bce
also 3 AdamW steps (timm's weight-decay groups plus the head: weight decayed, bias not; one
clip_grad_norm_ 1.0 over encoder and head; constant lr 2e-3) and the parameters after them.
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.numpy import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_model_fixtures as mm  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "model")
HEAD_SEED = 900
STEPS = 3
LR = 2e-3


def model():
    c = mm.TINY
    m = mm.timm_vit(c["img"], c["patch"], c["D"], c["depth"], c["H"], c["mlp"] / c["D"], c["eps"])
    mm.fill_fixture_weights(m, mm.TRAIN["base_seed"])
    m.train()
    return m


def head():
    D = mm.TINY["D"]
    h = torch.nn.Linear(D, 1)
    v = torch.from_numpy(mm.fixture_uniform(HEAD_SEED, D + 1)) / 4
    with torch.no_grad():
        h.weight.copy_(v[:D].reshape(1, D))
        h.bias.copy_(v[D:])
    return h


def loss(kind, m, groups, h=None):
    if kind == "bce":
        e = torch.cat([m(groups[2]), m(groups[3])])
        y = torch.cat([torch.zeros(len(groups[2])), torch.ones(len(groups[3]))])
        return F.binary_cross_entropy_with_logits(h(e).reshape(-1), y)
    e = {i: m(groups[i]) for i in (0, 1, 2, 3)}
    l_rg = mm.info_nce(e[0], e[2], e[3])
    if kind == "global-real":
        return l_rg
    return l_rg + mm.info_nce(e[1], e[3], e[2])


def main():
    out = {}
    for kind in ("global", "global-real", "bce"):
        m = model()
        h = head() if kind == "bce" else None
        total = loss(kind, m, mm.step_groups(0), h)
        total.backward()
        out[kind + ".loss"] = np.array([total.item()], dtype=np.float64)
        out.update({f"{kind}.grad.{n}": mm.np32(p.grad) for n, p in m.named_parameters()})
        if h is not None:
            out["bce.grad.head.weight"] = mm.np32(h.weight.grad)
            out["bce.grad.head.bias"] = mm.np32(h.bias.grad)
    # bce: a short AdamW trajectory with one clip over encoder and head.
    m, h = model(), head()
    decay = [p for n, p in m.named_parameters() if p.ndim > 1 and n not in ("pos_embed", "cls_token")] + [h.weight]
    no_decay = [p for n, p in m.named_parameters() if not (p.ndim > 1 and n not in ("pos_embed", "cls_token"))] + [h.bias]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": mm.TRAIN["wd"]}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=LR, betas=(0.9, 0.999), eps=1e-8)
    losses, norms = [], []
    for t in range(STEPS):
        opt.zero_grad()
        total = loss("bce", m, mm.step_groups(t), h)
        total.backward()
        norms.append(float(torch.nn.utils.clip_grad_norm_(list(m.parameters()) + list(h.parameters()), mm.TRAIN["max_norm"])))
        losses.append(total.item())
        opt.step()
    out["bce.trajectory.loss"] = np.array(losses)
    out["bce.trajectory.preClipNorm"] = np.array(norms)
    out.update({"bce.trajectory.param." + n: mm.np32(p) for n, p in m.named_parameters()})
    out["bce.trajectory.param.head.weight"] = mm.np32(h.weight)
    out["bce.trajectory.param.head.bias"] = mm.np32(h.bias)
    import timm
    meta = {"generator": "make_objective_fixtures.py", "torch": torch.__version__, "timm": timm.__version__, "numpy": np.__version__,
            "head_seed": HEAD_SEED, "steps": STEPS, "lr": LR, "train": mm.TRAIN}
    save_file(out, os.path.join(OUT, "objective-gradients.safetensors"), metadata={"info": json.dumps(meta, sort_keys=True, default=str)})
    print("objective fixtures:", {k: float(v[0]) for k, v in out.items() if k.endswith(".loss")}, "bce losses", [round(x, 6) for x in losses])


if __name__ == "__main__":
    torch.manual_seed(0)
    main()
