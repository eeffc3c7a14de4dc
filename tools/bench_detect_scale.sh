#!/usr/bin/env bash
# make bench-detect-scale: code-detect's peak memory and throughput against the number of inputs.
#
#   tools/bench_detect_scale.sh BIN OUTDIR [COUNTS]
#
# BIN is the release bin folder (code-detect, code-fit, code-bench-images). Writes generated
# 64x64 JPEGs (deterministic, code-bench-images --size 64x64) under .build/bench-small, fits a
# linear classifier for the tiny test encoder (Tests/Fixtures/model/tiny-transformers, 32x32
# input, so the images are decoded and resized as real ones are), then runs
# `/usr/bin/time -v code-detect --format csv --output FILE --threads 2` on the first N images of
# each COUNTS (default "1000 100000") through a .csv list, and once with the bundled model on
# 1,000 640x480 JPEGs (its classifiers' five crops). Prints a Markdown table (peak RSS, wall
# time, images/s, CPU time and the share of 2 cores it got, which shows a busy machine) and
# writes it to OUTDIR/detect-scale.md.
set -euo pipefail
BIN=${1:?usage: bench_detect_scale.sh BIN OUTDIR [COUNTS]}
OUT=${2:?usage: bench_detect_scale.sh BIN OUTDIR [COUNTS]}
COUNTS=${3:-"1000 100000"}
WORK=.build/bench-detect-scale
mkdir -p "$OUT" "$WORK"
max=0; for n in $COUNTS; do (( n > max )) && max=$n; done

small=.build/bench-small-$max
if [ "$(find "$small" -name '*.jpg' 2>/dev/null | wc -l)" -ne "$max" ]; then
  rm -rf "$small"
  echo "writing $max 64x64 JPEGs to $small"
  "$BIN/code-bench-images" --make-inputs "$small" --count "$max" --size 64x64
fi
big=.build/bench-jpegs-1000
if [ "$(find "$big" -name '*.jpg' 2>/dev/null | wc -l)" -ne 1000 ]; then
  rm -rf "$big"
  "$BIN/code-bench-images" --make-inputs "$big" --count 1000
fi

# The tiny encoder with a linear classifier fitted on 16 of the images (8 called real, 8 fake).
model=$WORK/tiny-model
rm -rf "$model" "$WORK/fit"
cp -r Tests/Fixtures/model/tiny-transformers "$model"
mkdir -p "$WORK/fit/real" "$WORK/fit/fake"
files=$(find "$small" -name '*.jpg' | sort | awk "NR <= 16")
i=0; for f in $files; do
  if (( i % 2 )); then ln -s "$PWD/$f" "$WORK/fit/fake/"; else ln -s "$PWD/$f" "$WORK/fit/real/"; fi
  i=$((i + 1))
done
"$BIN/code-fit" --classifier linear --data "$WORK/fit" --model "$model" --crops center --threads 2 >/dev/null

# One run under /usr/bin/time -v: prints "inputs peak-RSS-KiB seconds".
run() {
  local label=$1 list=$2; shift 2
  rm -f "$WORK/rows.csv" "$WORK/rows.csv.partial"*
  /usr/bin/time -v -o "$WORK/time.txt" "$BIN/code-detect" "$@" --format csv --output "$WORK/rows.csv" --threads 2 "$list" 2>"$WORK/stderr.txt" || {
    echo "code-detect failed ($label):"; tail -5 "$WORK/stderr.txt"; exit 1; }
  local rss secs n cpu
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/time.txt")
  secs=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$WORK/time.txt" | awk -F: '{ if (NF == 3) print $1 * 3600 + $2 * 60 + $3; else print $1 * 60 + $2 }')
  cpu=$(awk -F': ' '/User time|System time/ {s += $2} END {print s}' "$WORK/time.txt")
  n=$(($(wc -l < "$WORK/rows.csv") - 1))
  echo "$label $n $rss $secs $cpu"
}

results=()
for n in $COUNTS; do
  { echo path; find "$PWD/$small" -name '*.jpg' | sort | awk -v n="$n" "NR <= n"; } > "$WORK/list-$n.csv"
  results+=("$(run "tiny-64x64" "$WORK/list-$n.csv" --model "$model")")
done
# BUNDLED=0 leaves out the bundled-model run (minutes on 2 cores).
if [ "${BUNDLED:-1}" != 0 ]; then
  { echo path; find "$PWD/$big" -name '*.jpg' | sort; } > "$WORK/list-big.csv"
  results+=("$(run "bundled-640x480" "$WORK/list-big.csv")")
fi

{
  echo "| model, images | inputs | peak RSS (MiB) | wall time (s) | images/s | CPU time (s) | CPU used (of 2 threads) |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  for r in "${results[@]}"; do
    read -r label n rss secs cpu <<< "$r"
    awk -v l="$label" -v n="$n" -v r="$rss" -v s="$secs" -v c="$cpu" \
      'BEGIN { printf "| %s | %d | %.1f | %.1f | %.1f | %.1f | %.0f%% |\n", l, n, r / 1024, s, n / s, c, 100 * c / s / 2 }'
  done
  # Growth per input between the smallest and the largest tiny run.
  tiny=($COUNTS); first=(${results[0]}); last=(${results[$((${#tiny[@]} - 1))]})
  if [ "${last[1]}" -gt "${first[1]}" ]; then
    awk -v a="${first[2]}" -v b="${last[2]}" -v na="${first[1]}" -v nb="${last[1]}" \
      'BEGIN { printf "\nPeak RSS growth: %.0f bytes per input (%d to %d inputs).\n", (b - a) * 1024 / (nb - na), na, nb }'
  fi
} | tee "$OUT/detect-scale.md"
