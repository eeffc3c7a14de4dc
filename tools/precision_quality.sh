#!/usr/bin/env bash
# The quality cost of reduced-precision inference (issue 24 item 2, docs/precision.md): embeds
# photos/val and cifake/val with the bundled model at fp32, bf16 and int8 (code-embed --crops five,
# the bundled classifiers' crops), scores every embedding with each bundled classifier (code-detect
# --embeddings: linear, knn, svm, with their recorded thresholds), and reports per dataset and
# precision: the embedding relative error against fp32 (per image ||e - e32|| / ||e32||: median,
# 99th percentile, max), verdict agreement with fp32 per classifier, and the ROC AUC and its change.
#
# Usage: tools/precision_quality.sh BIN OUT     (BIN: the release build's bin folder)
# Environment: DATA (default ../shared/data), THREADS (default 2), SETS (default "photos cifake").
# Writes OUT/<set>-<precision>.jsonl (embeddings), OUT/<set>-<precision>-<classifier>.jsonl
# (verdicts), OUT/quality.json and OUT/quality.md. Embeddings already in OUT are reused.
set -euo pipefail
BIN=${1:?usage: tools/precision_quality.sh BIN OUT}
OUT=${2:?usage: tools/precision_quality.sh BIN OUT}
DATA=${DATA:-../shared/data}
THREADS=${THREADS:-2}
SETS=${SETS:-photos cifake}
mkdir -p "$OUT"
for set in $SETS; do
  for p in fp32 bf16 int8; do
    f="$OUT/$set-$p.jsonl"
    if [ ! -s "$f" ]; then
      start=$(date +%s)
      "$BIN/code-embed" --data "$DATA/$set/val" --crops five --precision "$p" --threads "$THREADS" --output "$f" 2> "$OUT/$set-$p.log" || true
      echo "$set $p: embedded in $(( $(date +%s) - start )) s ($(grep -c '"status":"ok"' "$f") ok)"
      grep -- "--precision" "$OUT/$set-$p.log" || true
    fi
    for c in linear knn svm; do
      "$BIN/code-detect" --embeddings "$f" --classifier "$c" --format jsonl --output "$OUT/$set-$p-$c.jsonl" 2> /dev/null || true
    done
  done
done
python3 - "$OUT" $SETS <<'PY'
import json, math, sys
out, sets = sys.argv[1], sys.argv[2:]
def rows(path):
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]
def auc(scores, labels):
    """ROC AUC of fakeness scores (fake = positive), ties counted half (= sklearn's roc_auc_score)."""
    pairs = sorted(zip(scores, labels))
    ranks, i = {}, 0
    r = [0.0] * len(pairs)
    while i < len(pairs):
        j = i
        while j < len(pairs) and pairs[j][0] == pairs[i][0]: j += 1
        for k in range(i, j): r[k] = (i + j + 1) / 2
        i = j
    pos = sum(1 for _, l in pairs if l == 1); neg = len(pairs) - pos
    return (sum(rk for rk, (_, l) in zip(r, pairs) if l == 1) - pos * (pos + 1) / 2) / (pos * neg)
def pct(v, q):
    v = sorted(v); return v[min(len(v) - 1, int(q * (len(v) - 1) + 0.5))]
sign = {"linear": 1, "knn": 1, "svm": -1}  # svm: real when the decision is above the threshold
report = {}
md = ["| set | precision | images | embedding rel. error median / p99 / max | " +
      " | ".join(f"{c} agreement | {c} AUC (Δ)" for c in sign) + " |",
      "|---|---|---:|---|" + "---:|---:|" * len(sign)]
for s in sets:
    emb = {p: {r["path"]: r for r in rows(f"{out}/{s}-{p}.jsonl") if r.get("status") == "ok"} for p in ["fp32", "bf16", "int8"]}
    label = {k: 1 if v.get("label") == "fake" else 0 for k, v in emb["fp32"].items()}
    det = {(p, c): {r["path"]: r for r in rows(f"{out}/{s}-{p}-{c}.jsonl") if r.get("status") == "ok"} for p in emb for c in sign}
    for p in ["fp32", "bf16", "int8"]:
        common = [k for k in emb["fp32"] if k in emb[p]]
        errs = []
        for k in common:
            a, b = emb[p][k]["embedding"], emb["fp32"][k]["embedding"]
            errs.append(math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b))) / math.sqrt(sum(y * y for y in b)))
        entry = {"images": len(common), "embedding_relative_error": {"median": pct(errs, 0.5), "p99": pct(errs, 0.99), "max": max(errs)}}
        cells = []
        for c in sign:
            d, d32 = det[(p, c)], det[("fp32", c)]
            keys = [k for k in d32 if k in d and k in label]
            agree = sum(d[k]["verdict"] == d32[k]["verdict"] for k in keys) / len(keys)
            a = auc([sign[c] * d[k]["score"] for k in keys], [label[k] for k in keys])
            a32 = auc([sign[c] * d32[k]["score"] for k in keys], [label[k] for k in keys])
            entry[c] = {"agreement": agree, "disagreeing": sum(d[k]["verdict"] != d32[k]["verdict"] for k in keys), "auc": a, "auc_fp32": a32, "delta_auc": a - a32}
            cells.append(f"{100 * agree:.2f}% | {a:.4f} ({a - a32:+.4f})")
        report.setdefault(s, {})[p] = entry
        e = entry["embedding_relative_error"]
        md.append(f"| {s}/val | {p} | {len(common)} | {e['median']:.2e} / {e['p99']:.2e} / {e['max']:.2e} | " + " | ".join(cells) + " |")
json.dump(report, open(f"{out}/quality.json", "w"), indent=1, sort_keys=True)
open(f"{out}/quality.md", "w").write("\n".join(md) + "\n")
print("\n".join(md))
PY
