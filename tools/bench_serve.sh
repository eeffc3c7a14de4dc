#!/usr/bin/env bash
# make bench-serve: a release code-serve (bundled model, five crops) on a free loopback port,
# loaded by wrk at 1, 8 and 32 connections posting 640x480 JPEGs; per level requests/s, p50, p99,
# non-2xx responses and the mean batch size (from /metrics: codeserve_batch_size sum/count
# deltas: images per encoder forward). In the same sitting: code-bench's batch-1 and batch-32 forward
# rates and a single-image code-detect run (wall time, model load included).
#   tools/bench_serve.sh BIN OUT_DIR [SECONDS]
set -euo pipefail
bin=${1:?release bin dir}
out=${2:?output dir}
secs=${3:-15}
mkdir -p "$out"
tmp=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; [ -n "$pid" ] && wait "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

# 640x480 JPEGs: the validation photos of that size, else generated ones (code-bench-images).
jpegs=()
for f in ../shared/data/photos/val/real/*.jpg; do
  [ -f "$f" ] && file "$f" | grep -q ", 640x480," && jpegs+=("$(realpath "$f")")
  [ ${#jpegs[@]} -ge 16 ] && break
done
[ ${#jpegs[@]} -ge 1 ] || { echo "no 640x480 JPEG found under ../shared/data/photos/val/real" >&2; exit 2; }
echo "bench-serve: ${#jpegs[@]} 640x480 JPEGs, e.g. ${jpegs[0]}"
{
  echo 'local files = {'
  for f in "${jpegs[@]}"; do echo "  \"$f\","; done
  echo '}'
  cat <<'EOF'
local bodies = {}
for i, f in ipairs(files) do local h = io.open(f, "rb"); bodies[i] = h:read("*a"); h:close() end
local n = 0
request = function()
  n = n + 1
  return wrk.format("POST", "/v1/detect", {["Content-Type"] = "image/jpeg"}, bodies[(n % #bodies) + 1])
end
EOF
} >"$tmp/post.lua"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin/code-serve" --host 127.0.0.1 --port "$port" --threads 2 --timeout 120 >"$out/serve.log" 2>&1 &
pid=$!
for _ in $(seq 1 240); do curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.5; done
curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null
batch() { curl -fsS "http://127.0.0.1:$port/metrics" | awk '/^codeserve_batch_size_sum/ {s=$2} /^codeserve_batch_size_count/ {c=$2} END {print s+0, c+0}'; }
# Warm-up.
curl -fsS -X POST -H 'Content-Type: image/jpeg' --data-binary "@${jpegs[0]}" "http://127.0.0.1:$port/v1/detect" >/dev/null
echo "load before: $(cat /proc/loadavg)" | tee "$out/summary.txt"
for c in 1 8 32; do
  read -r s0 n0 < <(batch)
  wrk -t $(( c < 2 ? 1 : 2 )) -c "$c" -d "${secs}s" --timeout 120s --latency -s "$tmp/post.lua" "http://127.0.0.1:$port/v1/detect" >"$out/wrk-$c.txt"
  read -r s1 n1 < <(batch)
  rps=$(awk '/^Requests\/sec/ {print $2}' "$out/wrk-$c.txt")
  p50=$(awk '$1=="50%" {print $2}' "$out/wrk-$c.txt")
  p99=$(awk '$1=="99%" {print $2}' "$out/wrk-$c.txt")
  bad=$(awk '/Non-2xx/ {print $NF} /Socket errors/ {print}' "$out/wrk-$c.txt" | tr '\n' ' ')
  mb=$(awk -v a="$s0" -v b="$s1" -v x="$n0" -v y="$n1" 'BEGIN { if (y > x) printf "%.1f", (b - a) / (y - x); else print "n/a" }')
  echo "clients $c: $rps req/s, p50 $p50, p99 $p99, mean batch $mb images, errors: ${bad:-none}" | tee -a "$out/summary.txt"
done
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
echo "load after: $(cat /proc/loadavg)" | tee -a "$out/summary.txt"
"$bin/code-bench" --threads 2 --repeats 5 --batches 1 --batches 32 --output "$out/encoder.json" | tee "$out/code-bench.txt" | tail -6
[ -x "$bin/code-detect" ] && { /usr/bin/time -f "code-detect one image: %e s wall (model load included)" "$bin/code-detect" --threads 2 "${jpegs[0]}" >/dev/null; } 2>&1 | tail -1 | tee -a "$out/summary.txt"
