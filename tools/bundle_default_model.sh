#!/usr/bin/env bash
# Turns an encoder trained by code-train into CoDEKit's bundled default model:
#   1. fits the three classifiers on the training images (code-fit --data), each image embedded as
#      the mean of its five crops (CROPS=center for the authors' single centre crop),
#   2. evaluates each on photos/val and cifake/val, with and without the test-time transforms,
#   3. copies encoder + classifiers into Sources/CoDEKit/Resources/DefaultModel/.
# Usage: tools/bundle_default_model.sh ENCODER_DIR [SHARED_DATA_DIR]
# The evaluation tables land in ENCODER_DIR/eval/ (the model card quotes them).
set -euo pipefail
enc=${1:?usage: tools/bundle_default_model.sh ENCODER_DIR [SHARED_DATA_DIR]}
data=${2:-../shared/data}
crops=${CROPS:-five}
bin=$(swift build -c release -Xswiftc -target-cpu -Xswiftc native --show-bin-path)
swift build -c release -Xswiftc -target-cpu -Xswiftc native --product code-fit
swift build -c release -Xswiftc -target-cpu -Xswiftc native --product code-eval
for c in linear knn svm; do
  "$bin/code-fit" --classifier "$c" --crops "$crops" --data "$data/photos/train" --model "$enc" --output "$enc/$c.safetensors"
done
mkdir -p "$enc/eval"
for c in linear knn svm; do
  "$bin/code-eval" --model "$enc" --classifier "$c" --data "$data/photos/manifest.csv#val" --transforms both \
    --output "$enc/eval/photos-val-$c" | tee "$enc/eval/photos-val-$c.txt"
  "$bin/code-eval" --model "$enc" --classifier "$c" --data "$data/cifake/val" --transforms none \
    --output "$enc/eval/cifake-val-$c" | tee "$enc/eval/cifake-val-$c.txt"
done
dst=Sources/CoDEKit/Resources/DefaultModel
cp "$enc/config.json" "$enc/model.safetensors" "$enc/linear.safetensors" "$enc/knn.safetensors" "$enc/svm.safetensors" "$dst/"
du -sh "$dst"
