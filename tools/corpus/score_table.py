#!/usr/bin/env python3
"""Per-generator and per-source figures for code-detect CSV output on a corpus split (issue 23).

usage: score_table.py CORPUS [KIND=]DETECT.csv [...]

Each DETECT.csv is `code-detect --format csv` output (path,status,verdict,score,classifier,error)
for images of CORPUS (paths under CORPUS, as in its manifest.csv). The classifier's orientation is
read from the classifier column, or from KIND= before the file name (older code-detect CSVs of
--embeddings have no such column): linear / knn / head scores grow with fakeness, svm scores shrink.
Prints, per file: balanced accuracy, real and fake accuracy, ROC AUC (fake positive) overall;
then per generator (accuracy on its fakes, AUC of its fakes against all reals) and per real source
(accuracy on its reals, AUC of all fakes against that source's reals). Needs scikit-learn.
"""
import argparse
import collections
import csv
import os
import sys

from sklearn.metrics import roc_auc_score


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("corpus")
    ap.add_argument("detect", nargs="+")
    a = ap.parse_args()
    root = os.path.realpath(a.corpus)
    with open(os.path.join(root, "manifest.csv"), newline="") as f:
        man = {r["path"]: r for r in csv.DictReader(f)}
    for arg in a.detect:
        kind, _, path = arg.rpartition("=") if "=" in arg else ("", "", arg)
        with open(path, newline="") as f:
            rows = [r for r in csv.DictReader(f)]
        items = []
        errors = 0
        for r in rows:
            p = os.path.realpath(r["path"])
            rel = os.path.relpath(p, root)
            # split folders (train/, val/, heldout/) hold hard links of the top-level files
            parts = rel.split(os.sep)
            if parts[0] in ("train", "val", "heldout"):
                rel = os.sep.join(parts[1:])
            m = man.get(rel)
            if m is None:
                sys.exit(f"{path}: {r['path']} is not in {root}/manifest.csv")
            if r["status"] != "ok":
                errors += 1
                continue
            sign = -1.0 if (kind or r.get("classifier")) == "svm" else 1.0
            items.append((m["label"], m["generator"], m["source"], r["verdict"], sign * float(r["score"])))
        y = [1 if i[0] == "fake" else 0 for i in items]
        s = [i[4] for i in items]
        real = [i for i in items if i[0] == "real"]
        fake = [i for i in items if i[0] == "fake"]
        ra = sum(i[3] == "real" for i in real) / max(1, len(real))
        fa = sum(i[3] == "fake" for i in fake) / max(1, len(fake))
        auc = roc_auc_score(y, s) if 0 < sum(y) < len(y) else float("nan")
        print(f"== {path}: {len(items)} images ({len(real)} real, {len(fake)} fake, {errors} errors)")
        print(f"   balanced accuracy {(ra + fa) / 2:.4f}  real {ra:.4f}  fake {fa:.4f}  AUC {auc:.4f}")
        gens = collections.defaultdict(list)
        for i in fake:
            gens[i[1]].append(i)
        print("   generator                    n   fake acc   AUC vs all reals")
        for g in sorted(gens):
            part = real + gens[g]
            gauc = roc_auc_score([1 if i[0] == "fake" else 0 for i in part], [i[4] for i in part]) if real else float("nan")
            acc = sum(i[3] == "fake" for i in gens[g]) / len(gens[g])
            print(f"   {g:26s} {len(gens[g]):5d}   {acc:.4f}     {gauc:.4f}")
        srcs = collections.defaultdict(list)
        for i in real:
            srcs[i[2]].append(i)
        print("   real source                                      n   real acc   AUC all fakes vs it")
        for src in sorted(srcs):
            part = srcs[src] + fake
            sauc = roc_auc_score([1 if i[0] == "fake" else 0 for i in part], [i[4] for i in part]) if fake else float("nan")
            acc = sum(i[3] == "real" for i in srcs[src]) / len(srcs[src])
            print(f"   {src:46s} {len(srcs[src]):5d}   {acc:.4f}     {sauc:.4f}")


if __name__ == "__main__":
    main()
