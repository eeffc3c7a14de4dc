#!/usr/bin/env python3
"""Fixtures for Tests/CoDEKitTests/Evaluation*Tests (run from the repository root):

    /work/venv/bin/python Tests/Fixtures/make_eval_fixtures.py

Pinned: Python 3.11, numpy 1.26.4, scikit-learn 1.3.2, safetensors 0.8.0.
Writes Tests/Fixtures/eval/reference.safetensors: for inputs that the Swift test regenerates from
CoDECore's fixtureUniform (SplitMix64; Python twin below), the PCA of 60 8-d float32 rows (numpy
eigh of the ddof=1 covariance) and the per-generator / overall metrics of code-eval (accuracy from
counts, ROC AUC and AP from scikit-learn). No randomness beyond the fixed seeds; running it again
rewrites an identical file.

Inputs (row i = 0..59):
  x[i, j] = u61[i * 8 + j] * (1 + j)          float32, u61 = fixture_uniform(61, 480)
  group   = ["real", "genA", "genB"][i % 3]   label fake unless group is real
  fakeness = float64(u62[i]) + (0.5 if fake else 0), u62 = fixture_uniform(62, 60)
  verdict  = fake if fakeness > 0.3 else real
"""
import os

import numpy as np
import sklearn
from safetensors.numpy import save_file
from sklearn.metrics import average_precision_score, roc_auc_score

MASK = (1 << 64) - 1


def fixture_uniform(seed, count):
    state, out = seed, []
    for _ in range(count):
        state = (state + 0x9E3779B97F4A7C15) & MASK
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        z ^= z >> 31
        out.append((z >> 40) / 2**23 - 1)
    return np.array(out, dtype=np.float32)


def main():
    n, d = 60, 8
    x = fixture_uniform(61, n * d).reshape(n, d) * np.arange(1, d + 1, dtype=np.float32)
    groups = [["real", "genA", "genB"][i % 3] for i in range(n)]
    fake = np.array([g != "real" for g in groups])
    fakeness = fixture_uniform(62, n).astype(np.float64) + 0.5 * fake
    verdict_fake = fakeness > 0.3

    xd = x.astype(np.float64)
    w, v = np.linalg.eigh(np.cov(xd.T, ddof=1))
    order = np.argsort(w)[::-1][:2]
    axes = v[:, order].T.copy()
    for a in axes:
        if a[np.argmax(np.abs(a))] < 0:
            a *= -1
    coords = (xd - xd.mean(axis=0)) @ axes.T

    real = ~fake
    acc = [np.mean(~verdict_fake[real]), np.mean(verdict_fake[fake]), np.mean(verdict_fake == fake)]
    gen_acc, gen_auc, gen_ap = [], [], []
    for g in ["genA", "genB"]:
        sel = np.array([gg == g for gg in groups])
        part = real | sel
        gen_acc.append(np.mean(verdict_fake[sel]))
        gen_auc.append(roc_auc_score(fake[part], fakeness[part]))
        gen_ap.append(average_precision_score(fake[part], fakeness[part]))
    out = {
        "pca_variances": w[order].astype(np.float64),
        "pca_axes": axes.astype(np.float64),
        "pca_coordinates": coords.astype(np.float64),
        "accuracy": np.array(acc, dtype=np.float64),
        "auc_ap": np.array([roc_auc_score(fake, fakeness), average_precision_score(fake, fakeness)], dtype=np.float64),
        "generator_accuracy": np.array(gen_acc, dtype=np.float64),
        "generator_auc": np.array(gen_auc, dtype=np.float64),
        "generator_ap": np.array(gen_ap, dtype=np.float64),
    }
    os.makedirs("Tests/Fixtures/eval", exist_ok=True)
    save_file(out, "Tests/Fixtures/eval/reference.safetensors",
              # One metadata key: safetensors writes several in hash order, which would change the bytes.
              metadata={"source": f"make_eval_fixtures.py numpy {np.__version__} scikit-learn {sklearn.__version__}; generators genA,genB"})
    print("wrote Tests/Fixtures/eval/reference.safetensors")


if __name__ == "__main__":
    main()
