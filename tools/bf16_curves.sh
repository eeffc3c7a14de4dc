#!/usr/bin/env bash
# bf16 mixed-precision training against fp32 on a fixed 200-step run (issue 24 item 3):
# the tiny32 encoder from a random initialisation, 20 (real, fake) pairs per batch, peak lr 5e-4
# (the default one-epoch warm-up), seeds 1 and 2, --precision fp32 and bf16, one epoch on TRAIN
# (200 steps for CIFAKE's train/: 4,000 pairs), then code-train's linear probe on VAL. Prints the
# mean |loss difference| per step between fp32 and bf16 of the same seed and, as the noise to compare it with, between the
# fp32 runs of seeds 1 and 2; and the four probe accuracies. A run already finished in OUT is kept,
# an interrupted one continues from its last checkpoint (every 50 steps; --resume is bit-exact).
#
#   tools/bf16_curves.sh ../shared/data/cifake/train ../shared/data/cifake/val bench-results/bf16-curves
#
# Uses .build/release/code-train (make build, or swift build -c release); CODE_TRAIN overrides it.
set -euo pipefail
if [ $# -ne 3 ]; then echo "usage: $0 TRAIN VAL OUT" >&2; exit 2; fi
TRAIN=$1 VAL=$2 OUT=$3
BIN=${CODE_TRAIN:-.build/release/code-train}
[ -x "$BIN" ] || { echo "$BIN not found: build with 'swift build -c release --product code-train' first" >&2; exit 2; }
mkdir -p "$OUT"
for seed in 1 2; do
  for p in fp32 bf16; do
    d="$OUT/$p-seed$seed"
    if [ -f "$d/train-log.jsonl" ] && grep -q '"event":"done"' "$d/train-log.jsonl"; then continue; fi
    resume=()
    if [ -d "$d/checkpoint" ]; then resume=(--resume); else rm -rf "$d"; fi
    echo "== $p seed $seed ${resume[*]}" >&2
    "$BIN" --data "$TRAIN" --val "$VAL" --output "$d" --config tiny32 --pairs-per-batch 20 --lr 5e-4 \
      --seed "$seed" --precision "$p" --epochs 1 "${resume[@]}" 2>> "$OUT/$p-seed$seed.stderr" >/dev/null
  done
done
python3 - "$OUT" <<'PY'
import json, sys, os
out = sys.argv[1]
runs = {}
for p in ("fp32", "bf16"):
    for s in (1, 2):
        loss, probe, secs, prec = {}, None, [], None
        for line in open(os.path.join(out, f"{p}-seed{s}", "train-log.jsonl")):
            e = json.loads(line)
            if e["event"] == "start": prec = e.get("precision")
            if e["event"] == "step": loss[e["step"]] = e["loss"]; secs.append(e["seconds"])
            if e["event"] == "val": probe = e["linear_probe_accuracy"]
        runs[(p, s)] = (loss, probe, sorted(secs)[len(secs) // 2], prec)

def mean_diff(a, b):
    steps = sorted(set(a) & set(b))
    return sum(abs(a[t] - b[t]) for t in steps) / len(steps), len(steps)

print("| comparison | mean abs loss difference per step | steps |")
print("|---|---:|---:|")
for s in (1, 2):
    d, n = mean_diff(runs[("fp32", s)][0], runs[("bf16", s)][0])
    print(f"| fp32 vs bf16, seed {s} | {d:.3f} | {n} |")
d, n = mean_diff(runs[("fp32", 1)][0], runs[("fp32", 2)][0])
print(f"| fp32 seed 1 vs seed 2 (noise) | {d:.3f} | {n} |")
print()
# Same-seed runs see the same batches, so they start level and drift apart as rounding differences
# grow; per quarter of the run, against the noise.
def quarter(a, b, lo, hi):
    steps = [t for t in sorted(set(a) & set(b)) if lo <= t <= hi]
    return sum(abs(a[t] - b[t]) for t in steps) / max(1, len(steps))
last = max(runs[("fp32", 1)][0])
qs = [(1 + q * last // 4, (q + 1) * last // 4) for q in range(4)]
print("| mean abs loss difference | " + " | ".join(f"steps {lo}-{hi}" for lo, hi in qs) + " |")
print("|---|" + "---:|" * len(qs))
for name, a, b in [("fp32 vs bf16, seed 1", ("fp32", 1), ("bf16", 1)), ("fp32 vs bf16, seed 2", ("fp32", 2), ("bf16", 2)),
                   ("fp32 seed 1 vs seed 2 (noise)", ("fp32", 1), ("fp32", 2))]:
    print(f"| {name} | " + " | ".join(f"{quarter(runs[a][0], runs[b][0], lo, hi):.3f}" for lo, hi in qs) + " |")
print()
print("| run | logged precision | mean loss, last 50 steps | median step s | linear-probe accuracy on VAL |")
print("|---|---|---:|---:|---:|")
for (p, s), (loss, probe, med, prec) in runs.items():
    last = [loss[t] for t in sorted(loss)[-50:]]
    acc = f"{100 * probe:.2f}%" if probe is not None else "n/a"
    print(f"| {p} seed {s} | {prec} | {sum(last) / len(last):.3f} | {med:.2f} | {acc} |")
PY
