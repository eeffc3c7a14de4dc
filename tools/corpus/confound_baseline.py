#!/usr/bin/env python3
"""Confound baseline for a corpus built by tools/build_corpus.py (issue 23, item 3).

A logistic regression on trivial file features only -- width, height, file size, JPEG quality
estimated from the luminance quantisation table, chroma subsampling (plus, for raw files, the
container format) -- trained on the manifest's ``train`` split and scored (ROC AUC, fake = positive)
on ``val`` and ``heldout``. If the processing rule works, the AUC on the processed OUTPUT files is
near chance (<= 0.6). With --raw MIRRORS the same baseline runs on the original source files
(read from the git mirrors through provenance.csv), to show how much the rule removed.

usage: confound_baseline.py CORPUS [--raw /work/.mirror]
"""
import argparse
import csv
import io
import os
import subprocess
import sys

import numpy as np
from PIL import Image, JpegImagePlugin
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

# ITU-T T.81 Annex K luminance table (the IJG quality-50 table); order does not matter below.
STD_LUMA = [16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
            14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
            49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99]
FORMATS = ["JPEG", "PNG", "WEBP"]
FEATURES = ["width", "height", "bytes", "quality", "subsampling"]


def jpeg_quality(im):
    """IJG-style quality estimate from the luminance table: scale = sum(Q)/sum(std) * 100."""
    q = im.quantization.get(0)
    if not q:
        return -1.0
    s = 100.0 * sum(q) / sum(STD_LUMA)
    return (200.0 - s) / 2.0 if s <= 100.0 else 5000.0 / s


def features(data, with_format):
    im = Image.open(io.BytesIO(data))
    w, h = im.size
    if im.format == "JPEG":
        qual, sub = jpeg_quality(im), float(JpegImagePlugin.get_sampling(im))
    else:
        qual, sub = -1.0, -2.0
    f = [w, h, len(data), qual, sub]
    if with_format:
        f += [1.0 if im.format == k else 0.0 for k in FORMATS]
    return f


def read_blob(mirrors, origin, cache={}):
    repo_commit, path = origin.split("#", 1)[0].split(":", 1)  # a contact-sheet tile: its whole sheet
    repo, commit = repo_commit.split("@")
    gitdir = os.path.join(mirrors, repo.replace("/", "+"), "repo")
    return subprocess.run(["git", "--git-dir", gitdir, "cat-file", "blob", f"{commit}:{path}"],
                          check=True, capture_output=True).stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("corpus")
    ap.add_argument("--raw", metavar="MIRRORS", help="also run on the raw source files from these mirrors")
    a = ap.parse_args()
    with open(os.path.join(a.corpus, "manifest.csv"), newline="") as f:
        man = list(csv.DictReader(f))
    with open(os.path.join(a.corpus, "provenance.csv"), newline="") as f:
        origin = {r["path"]: r["origin"] for r in csv.DictReader(f)}
    y = np.array([1 if r["label"] == "fake" else 0 for r in man])
    split = np.array([r["split"] for r in man])
    variants = [("processed output files", False, lambda r: open(os.path.join(a.corpus, r["path"]), "rb").read())]
    if a.raw:
        variants.append(("raw source files", True, lambda r: read_blob(a.raw, origin[r["path"]])))
    for name, with_format, load in variants:
        X = np.array([features(load(r), with_format) for r in man], dtype=np.float64)
        clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, class_weight="balanced"))
        tr = split == "train"
        clf.fit(X[tr], y[tr])
        print(f"{name}: features = width, height, bytes, JPEG quality, subsampling" + (", format" if with_format else ""))
        for s in ("train", "val", "heldout"):
            m = split == s
            if len(set(y[m])) < 2:
                print(f"  {s:8s} n={m.sum():5d}  AUC n/a (one class)")
                continue
            auc = roc_auc_score(y[m], clf.predict_proba(X[m])[:, 1])
            # Each feature alone (its raw value as the score; constant features give 0.5). An AUC
            # far below 0.5 is as informative as one far above: the direction learnt on train
            # does not carry over, but the feature still separates the labels.
            single = [roc_auc_score(y[m], X[m][:, j]) for j in range(X.shape[1])]
            names = FEATURES + (FORMATS if with_format else [])
            alone = ", ".join(f"{n} {v:.2f}" for n, v in zip(names, single))
            print(f"  {s:8s} n={m.sum():5d} (fake {int(y[m].sum())})  AUC {auc:.3f}  max(AUC, 1-AUC) {max(auc, 1 - auc):.3f}  | alone: {alone}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
