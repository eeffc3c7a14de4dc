#!/usr/bin/env bash
# The paper's comparison table on your own data: trains the four objectives of
# `code-train --objective` (code, global, global-real, bce) for the same budget, fits the three
# classifiers on each encoder, evaluates them with and without the paper's test-time transforms,
# and prints objective x classifier, overall / real / fake (docs/training-objective.md).
#
#   tools/ablation.sh TRAIN_DATA EVAL_DATA OUT_DIR [code-train options...]
#
# TRAIN_DATA and EVAL_DATA are any dataset code-train/code-eval accept (folder, FILE.csv#split,
# .tar shards). The code-train options (e.g. --epochs 2 --pairs-per-batch 32 --init-from DIR) are
# passed to all four runs, so each gets the same budget in optimizer steps and pairs; the cheaper
# objectives embed fewer views per step. Re-running continues unfinished runs (--resume) and
# skips finished fits and evaluations. BIN (default .build/release) holds the tools; needs jq.
# BASELINE=DIR adds a first row "baseline": the encoder in DIR (e.g. the --init-from encoder) with
# no training, its classifiers fitted and evaluated the same way (written to OUT_DIR/baseline).
set -euo pipefail
if [ $# -lt 3 ]; then sed -n 2,14p "$0" | sed 's/^# \{0,1\}//'; exit 2; fi
train=$1 eval_data=$2 out=$3; shift 3
BIN=${BIN:-.build/release}
OBJECTIVES=${OBJECTIVES:-"code global global-real bce"}
CLASSIFIERS=${CLASSIFIERS:-"linear knn svm"}
command -v jq >/dev/null || { echo "ablation.sh: needs jq (apt-get install jq)" >&2; exit 2; }
for t in code-train code-fit code-eval; do
  [ -x "$BIN/$t" ] || { echo "ablation.sh: $BIN/$t not found; build first (make build) or set BIN" >&2; exit 2; }
done
mkdir -p "$out"
if [ -n "${BASELINE:-}" ]; then
  [ -f "$BASELINE/model.safetensors" ] || { echo "ablation.sh: BASELINE=$BASELINE has no model.safetensors" >&2; exit 2; }
  if [ ! -f "$out/baseline/model/model.safetensors" ]; then
    mkdir -p "$out/baseline" && rm -rf "$out/baseline/model.tmp" && mkdir "$out/baseline/model.tmp"
    cp "$BASELINE"/config.json "$BASELINE"/model.safetensors "$out/baseline/model.tmp/" && mv "$out/baseline/model.tmp" "$out/baseline/model"
  fi
  OBJECTIVES="baseline $OBJECTIVES"
fi
for o in $OBJECTIVES; do
  run="$out/$o"
  if [ ! -f "$run/model/model.safetensors" ]; then
    resume=(); [ -d "$run/checkpoint" ] && resume=(--resume)
    echo "== training --objective $o -> $run" >&2
    "$BIN/code-train" --data "$train" --output "$run" --objective "$o" "${resume[@]}" "$@"
  fi
  cls=$CLASSIFIERS; [ "$o" = bce ] && cls="$cls head"   # bce's own head, written by code-train
  for c in $cls; do
    [ -f "$run/model/$c.safetensors" ] || "$BIN/code-fit" --classifier "$c" --data "$train" --model "$run/model" --output "$run/model/$c.safetensors"
    [ -f "$run/eval-$c.json" ] || "$BIN/code-eval" --model "$run/model" --classifier "$c" --data "$eval_data" --transforms both --output "$run/eval-$c" > /dev/null
  done
done
printf '%-12s %-7s | %7s %7s %7s | %7s %7s %7s | %6s\n' objective clf "overall" real fake "overall" real fake AUC
printf '%-12s %-7s | %-23s | %-23s |\n' "" "" "  without transforms" "  with transforms"
for o in $OBJECTIVES; do
  cls=$CLASSIFIERS; [ "$o" = bce ] && cls="$cls head"
  for c in $cls; do
    jq -r --arg o "$o" --arg c "$c" '.conditions as $k |
      [$o, $c] + ([$k.none, $k.paper] | map(.overall, .real, .fake) | map(. * 1000 | round / 10)) + [($k.none.auc * 1000 | round / 1000)] |
      @tsv' "$out/$o/eval-$c.json" | awk -F'\t' '{printf "%-12s %-7s | %7.1f %7.1f %7.1f | %7.1f %7.1f %7.1f | %6.3f\n", $1, $2, $3, $4, $5, $6, $7, $8, $9}'
  done
done
