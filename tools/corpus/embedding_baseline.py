#!/usr/bin/env python3
"""Fits the three CoDE classifiers (scikit-learn, the configurations CoDEKit's match to 1e-9) on
code-embed JSONL of a corpus's train split and scores val and heldout (issue 23's second confound
baseline: a randomly initialised encoder with the same classifiers; works for any encoder).

usage: embedding_baseline.py CORPUS TRAIN.jsonl VAL.jsonl HELDOUT.jsonl

Labels come from the corpus manifest (the path under real/ or fake/). Classifiers: logistic
regression (C 0.316, class_weight balanced, lbfgs), 1-NN with cosine distance (score
d(nearest real) - d(nearest fake)), one-class SVM (poly degree 3, gamma auto, nu 0.1) on the real
rows only. Prints balanced accuracy and ROC AUC (fake positive) per split.
"""
import json
import os
import sys

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import NearestNeighbors
from sklearn.svm import OneClassSVM


def load(corpus, path):
    X, y = [], []
    for line in open(path):
        r = json.loads(line)
        if r.get("status") != "ok":
            continue
        rel = os.path.relpath(os.path.realpath(r["path"]), os.path.realpath(corpus)).split(os.sep)
        if rel[0] in ("train", "val", "heldout"):
            rel = rel[1:]
        y.append(1 if rel[0] == "fake" else 0)
        X.append(r["embedding"])
    return np.array(X, dtype=np.float64), np.array(y)


def report(name, y, score, verdict):
    ra = np.mean(verdict[y == 0] == 0)
    fa = np.mean(verdict[y == 1] == 1)
    print(f"  {name:8s} balanced accuracy {(ra + fa) / 2:.4f}  real {ra:.4f}  fake {fa:.4f}  AUC {roc_auc_score(y, score):.4f}")


def main():
    corpus, tr, va, ho = sys.argv[1:5]
    Xt, yt = load(corpus, tr)
    lin = LogisticRegression(C=0.316, class_weight="balanced", max_iter=5000).fit(Xt, yt)
    n = lambda X: X / np.linalg.norm(X, axis=1, keepdims=True)
    nr = NearestNeighbors(n_neighbors=1, metric="cosine").fit(n(Xt[yt == 0]))
    nf = NearestNeighbors(n_neighbors=1, metric="cosine").fit(n(Xt[yt == 1]))
    svm = OneClassSVM(kernel="poly", degree=3, gamma="auto", nu=0.1).fit(Xt[yt == 0])
    print(f"train: {len(yt)} rows ({int((yt == 0).sum())} real)")
    for split, path in (("val", va), ("heldout", ho)):
        X, y = load(corpus, path)
        print(f"{split}: {len(y)} rows ({int((y == 0).sum())} real)")
        p = lin.predict_proba(X)[:, 1]
        report("linear", y, p, (p > 0.5).astype(int))
        dr = nr.kneighbors(n(X))[0][:, 0]
        df = nf.kneighbors(n(X))[0][:, 0]
        k = dr - df
        report("knn", y, k, (k > 0).astype(int))
        d = svm.decision_function(X)
        report("svm", y, -d, (d <= 0).astype(int))


if __name__ == "__main__":
    main()
