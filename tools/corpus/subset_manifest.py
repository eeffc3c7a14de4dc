#!/usr/bin/env python3
"""Write a smaller split of a corpus manifest: N images per label drawn from one split, seeded.

    tools/corpus/subset_manifest.py CORPUS/manifest.csv SPLIT N SEED OUT_NAME

Writes CORPUS/OUT_NAME.csv with the same columns, the chosen rows only, their split renamed to
OUT_NAME, so that code-train/code-fit/code-eval read it as ``CORPUS/OUT_NAME.csv#OUT_NAME``
(paths stay relative to CORPUS). The draw is random.Random(SEED).sample over the rows in manifest
order, per label, so the same manifest and seed give the same subset. Used by the small-budget
ablation run of docs/training-objective.md.
"""
import csv, os, random, sys

if len(sys.argv) != 6:
    sys.exit(__doc__)
manifest, split, n, seed, name = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
with open(manifest, newline="") as f:
    reader = csv.DictReader(f)
    fields, rows = reader.fieldnames, [r for r in reader if r["split"] == split]
rng = random.Random(seed)
chosen = []
for label in ("real", "fake"):
    pool = [r for r in rows if r["label"] == label]
    if len(pool) < n:
        sys.exit(f"subset_manifest: split {split} has only {len(pool)} {label} images, asked for {n}")
    chosen += rng.sample(pool, n)
chosen.sort(key=lambda r: r["path"])
out = os.path.join(os.path.dirname(manifest), name + ".csv")
tmp = out + ".tmp"
with open(tmp, "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=fields, lineterminator="\n")
    w.writeheader()
    for r in chosen:
        w.writerow({**r, "split": name})
os.replace(tmp, out)
print(f"{out}: {len(chosen)} rows ({n} real, {n} fake) from split {split}, seed {seed}")
