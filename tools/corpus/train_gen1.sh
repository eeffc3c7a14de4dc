#!/bin/sh
# Issue 23's training run "gen1", in resumable chunks: rerun this script to continue (it passes
# --resume once OUT/checkpoint exists). Stop it any time (Ctrl-C or SIGTERM save a checkpoint;
# a kill loses at most 5 steps).
#
#   tools/corpus/train_gen1.sh CORPUS PHOTOS OUT [code-train binary]
#
# CORPUS is tools/build_corpus.py's output (docs/corpus.md), PHOTOS ../shared/data/photos. The
# training folder OUT/mix is hard links: CORPUS/train plus PHOTOS/train (as real/photos-train and
# fake/photos-train). The encoder starts from the bundled model (a copy in OUT/init-model), with
# a fresh optimizer and schedule; validation probe on CORPUS/val. 8 epochs in bf16 (code-train
# --precision bf16, x1.46 per step): the first, 16-epoch fp32 run (lost with its machine) had a val
# probe flat from epoch 7 (86.2% there, 85.5% at 16).
set -eu
[ $# -ge 3 ] || { echo "usage: $0 CORPUS PHOTOS OUT [code-train]" >&2; exit 2; }
CORPUS=$1 PHOTOS=$2 OUT=$3
TRAIN=${4:-$(swift build -c release --show-bin-path)/code-train}
here=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$OUT"
if [ ! -d "$OUT/mix" ]; then
  mkdir -p "$OUT/mix.tmp/real/photos-train" "$OUT/mix.tmp/fake/photos-train"
  cp -al "$CORPUS/train/real/." "$OUT/mix.tmp/real/"
  cp -al "$CORPUS/train/fake/." "$OUT/mix.tmp/fake/"
  cp -l "$PHOTOS"/train/real/* "$OUT/mix.tmp/real/photos-train/"
  cp -l "$PHOTOS"/train/fake/* "$OUT/mix.tmp/fake/photos-train/"
  mv "$OUT/mix.tmp" "$OUT/mix"
fi
[ -d "$OUT/init-model" ] || cp -r "$here/Sources/CoDEKit/Resources/DefaultModel" "$OUT/init-model"
R=""; [ -d "$OUT/gen1/checkpoint" ] && R="--resume"
exec nice -n 19 "$TRAIN" --data "$OUT/mix" --val "$CORPUS/val" --output "$OUT/gen1" \
  --init-from "$OUT/init-model" --config tiny --epochs 8 --pairs-per-batch 32 --micro-batch 32 \
  --keep-activations --final-view center-crop --lr 3e-4 --warmup-epochs 0.5 --checkpoint-every 5 --seed 4 --threads 2 --precision bf16 $R
