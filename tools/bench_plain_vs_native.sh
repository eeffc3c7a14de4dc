#!/usr/bin/env bash
# The plain build (`swift build -c release`, what SwiftPM builds for a package's users) against the
# tuned one (`-Xswiftc -target-cpu -Xswiftc native`), in alternating rounds on one machine state:
#   - code-embed throughput on COUNT JPEGs from INPUT (images/s, from its last progress line);
#   - training step time (code-bench --profile-steps STEPS: forward + backward + AdamW at micro-batch 32).
# Each round runs plain then native, the next round native then plain, so drift of a shared
# machine falls on both. Prints per-round figures and the median of the per-round ratios
# plain / native, and writes them to OUT (JSON). See docs/performance.md.
#
#   tools/bench_plain_vs_native.sh [INPUT] [OUT]
#
# INPUT (default ../shared/data/photos/val) is searched recursively for *.jpg; the first COUNT
# (default 64, sorted by path) are copied into .build/bench-plain-native-jpegs. ROUNDS (default 5),
# STEPS (default 5), THREADS (default 2), BATCH (default 32), MODEL (default the bundled ViT-Tiny). Scratch paths: .build-plain, .build-native.
set -euo pipefail
input=${1:-../shared/data/photos/val}
out=${2:-bench-results/plain-vs-native.json}
ROUNDS=${ROUNDS:-5} STEPS=${STEPS:-5} THREADS=${THREADS:-2} BATCH=${BATCH:-32} COUNT=${COUNT:-64}
SWIFT=${SWIFT:-swift} MODEL=${MODEL:-Sources/CoDEKit/Resources/DefaultModel}
[ -d "$input" ] || { echo "bench_plain_vs_native.sh: input folder '$input' not found" >&2; exit 2; }

declare -A flags=([plain]="" [native]="-Xswiftc -target-cpu -Xswiftc native")
declare -A bin
for b in plain native; do
  for p in code-embed code-bench; do
    # shellcheck disable=SC2086
    $SWIFT build -c release --scratch-path .build-$b ${flags[$b]} --product $p >&2
  done
  # shellcheck disable=SC2086
  bin[$b]=$($SWIFT build -c release --scratch-path .build-$b ${flags[$b]} --show-bin-path)
done

jpegs=.build/bench-plain-native-jpegs
rm -rf "$jpegs" && mkdir -p "$jpegs"
i=0
while IFS= read -r f; do
  cp "$f" "$jpegs/$(printf %03d $i).jpg"; i=$((i + 1))
done < <(find "$input" -name '*.jpg' | sort | head -n "$COUNT")
[ "$i" = "$COUNT" ] || { echo "bench_plain_vs_native.sh: found $i JPEGs in '$input', need $COUNT" >&2; exit 2; }

embed() {  # images/s of one code-embed run
  "${bin[$1]}/code-embed" --model "$MODEL" --batch-size "$BATCH" --threads "$THREADS" "$jpegs" 2>&1 >/dev/null |
    tr '\r' '\n' | grep -o '[0-9.]* images/s' | tail -1 | cut -d' ' -f1
}
step() {  # median seconds per training step
  "${bin[$1]}/code-bench" --threads "$THREADS" --profile-steps "$STEPS" | grep -o 'median [0-9.]* s' | cut -d' ' -f2
}

rows=()
for r in $(seq 1 "$ROUNDS"); do
  order="plain native"; [ $((r % 2)) = 0 ] && order="native plain"
  declare -A e=() s=()
  for b in $order; do e[$b]=$(embed $b); done
  for b in $order; do s[$b]=$(step $b); done
  echo "round $r ($order): embed plain ${e[plain]} native ${e[native]} images/s; step plain ${s[plain]} native ${s[native]} s" >&2
  rows+=("$r ${e[plain]} ${e[native]} ${s[plain]} ${s[native]}")
done

mkdir -p "$(dirname "$out")"
printf '%s\n' "${rows[@]}" | python3 -c '
import json, statistics, sys
out, threads, batch, count, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
rounds = []
for line in sys.stdin:
    r, ep, en, sp, sn = line.split()
    rounds.append({"round": int(r), "embed_plain_images_per_s": float(ep), "embed_native_images_per_s": float(en),
                   "step_plain_s": float(sp), "step_native_s": float(sn)})
embed = statistics.median(x["embed_plain_images_per_s"] / x["embed_native_images_per_s"] for x in rounds)
step = statistics.median(x["step_native_s"] / x["step_plain_s"] for x in rounds)
summary = {"threads": threads, "batch_size": batch, "images": count, "steps_per_round": steps,
           "median_embed_plain_over_native": round(embed, 4),
           "median_training_throughput_plain_over_native": round(step, 4), "rounds": rounds}
print("median ratio plain / native: embed throughput %.3f, training throughput %.3f (%d rounds)" % (embed, step, len(rounds)))
tmp = out + ".partial"
with open(tmp, "w") as f: json.dump(summary, f, indent=1)
import os; os.replace(tmp, out)
' "$out" "$THREADS" "$BATCH" "$COUNT" "$STEPS"
