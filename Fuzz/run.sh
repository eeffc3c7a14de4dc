#!/usr/bin/env bash
# Builds the libFuzzer targets (Fuzz/Package.swift) with -sanitize=fuzzer,address and runs each
# for FUZZ_SECONDS (default 30) on a working corpus seeded from the committed fixtures and
# Fuzz/corpus/<target>/. Inputs that crash, leak, take over 2 s (-timeout=2) or allocate over
# 512 MB in one call (-malloc_limit_mb) are written to Fuzz/.work/crashers/<target>/; the script
# then exits 1. Copy such a file to Tests/Fixtures/images/crashers/ to keep it as a regression test.
set -uo pipefail
cd "$(dirname "$0")/.."
SECS=${FUZZ_SECONDS:-30}
TARGETS=${FUZZ_TARGETS:-"FuzzJPEG FuzzPNG FuzzWebP FuzzGIF FuzzTIFF FuzzBMP FuzzSafeTensors FuzzTar"}
FLAGS=(-c release -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
       -Xcc -fsanitize=fuzzer-no-link,address -Xswiftc -use-ld=lld)
swift build --package-path Fuzz "${FLAGS[@]}" || exit 2
BIN=$(swift build --package-path Fuzz "${FLAGS[@]}" --show-bin-path)
WORK=Fuzz/.work
FX=Tests/Fixtures/images
declare -A SEEDS=(
  [FuzzJPEG]="$FX/*.jpg $FX/bad/*.jpg" [FuzzPNG]="$FX/*.png $FX/bad/*.png" [FuzzWebP]="$FX/*.webp $FX/bad/*.webp"
  [FuzzGIF]="$FX/*.gif $FX/bad/*.gif" [FuzzTIFF]="$FX/*.tif $FX/bad/*.tif" [FuzzBMP]="$FX/*.bmp $FX/bad/*.bmp"
  [FuzzSafeTensors]="" [FuzzTar]="$FX/tar/*.tar"
)
failed=0
for t in $TARGETS; do
  corpus=$WORK/corpus/$t
  mkdir -p "$corpus" "$WORK/crashers/$t"
  for f in ${SEEDS[$t]} Fuzz/corpus/$t/*; do [ -f "$f" ] && cp -n "$f" "$corpus/" ; done
  echo "== $t: ${SECS}s"
  "$BIN/$t" -max_total_time="$SECS" -timeout=2 -rss_limit_mb=2048 -malloc_limit_mb=512 -max_len=262144 \
    -artifact_prefix="$WORK/crashers/$t/" -print_final_stats=1 "$corpus" > "$WORK/$t.log" 2>&1
  rc=$?
  grep -E "^(Done|stat::number_of_executed_units|stat::peak_rss_mb)" "$WORK/$t.log"
  if [ $rc -ne 0 ]; then echo "!! $t failed (exit $rc), see $WORK/$t.log and $WORK/crashers/$t/"; failed=1; fi
done
exit $failed
