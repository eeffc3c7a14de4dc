#!/usr/bin/env bash
# Checks of a running code-serve, each starting its own servers on free loopback ports and always
# stopping them (trap on exit):
#   tools/serve_checks.sh browser BIN PYTHON SCREENSHOT   the real-browser test (tools/browser_test.py)
#   tools/serve_checks.sh nginx BIN                       two replicas behind nginx (-c/-p, temp dir)
# BIN is the directory holding code-serve. Used by `make test-browser` and `make serve-nginx-check`.
set -euo pipefail
mode=${1:?mode: browser or nginx}
bin=${2:?directory holding code-serve}
tmp=$(mktemp -d)
chmod 755 "$tmp"  # nginx workers (user nobody when run as root) read and write under it
# Server pids go to a file: start_server runs in a command substitution (a subshell).
touch "$tmp/pids"
cleanup() {
  while read -r p; do kill "$p" 2>/dev/null || true; done <"$tmp/pids"
  while read -r p; do while kill -0 "$p" 2>/dev/null; do sleep 0.1; done; done <"$tmp/pids"
  if [ -f "$tmp/nginx.pid" ]; then kill "$(cat "$tmp/nginx.pid")" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Starts code-serve on a free port (echoes it) and waits up to 120 s for /readyz.
start_server() {
  local port log
  port=$(free_port)
  log="$tmp/serve-$port.log"
  "$bin/code-serve" --host 127.0.0.1 --port "$port" --threads 2 --decode-threads 1 --timeout 300 >"$log" 2>&1 &
  local pid=$!
  echo "$pid" >>"$tmp/pids"
  for _ in $(seq 1 240); do
    if curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then echo "$port"; return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then echo "code-serve exited:" >&2; cat "$log" >&2; return 1; fi
    sleep 0.5
  done
  echo "code-serve on port $port not ready after 120 s:" >&2; cat "$log" >&2; return 1
}

images=Tests/Fixtures/images
case "$mode" in
browser)
  python=${3:?python with selenium}
  shot=${4:?screenshot path}
  port=$(start_server)
  "$python" tools/browser_test.py --url "http://127.0.0.1:$port/" \
    --image "$images/pil_encoded_q95.jpg" \
    --bad "$images/bad/jpeg_truncated.jpg" --screenshot "$shot"
  ;;
nginx)
  command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || { echo "nginx not found: apt-get install nginx (make serve-nginx-check does)" >&2; exit 2; }
  nginx=$(command -v nginx || echo /usr/sbin/nginx)
  a=$(start_server); b=$(start_server); front=$(free_port)
  mkdir -p "$tmp/logs"
  cat >"$tmp/nginx.conf" <<EOF
worker_processes 1;
pid $tmp/nginx.pid;
error_log $tmp/logs/error.log;
events { worker_connections 64; }
http {
  access_log $tmp/logs/access.log;
  client_body_temp_path $tmp/body;
  proxy_temp_path $tmp/proxy;
  fastcgi_temp_path $tmp/fastcgi;
  uwsgi_temp_path $tmp/uwsgi;
  scgi_temp_path $tmp/scgi;
  upstream codeserve { server 127.0.0.1:$a; server 127.0.0.1:$b; }
  server {
    listen 127.0.0.1:$front;
    client_max_body_size 32m;
    location / { proxy_pass http://codeserve; proxy_read_timeout 60s; }
  }
}
EOF
  "$nginx" -c "$tmp/nginx.conf" -p "$tmp" -e "$tmp/logs/error.log"
  for _ in $(seq 1 40); do curl -fsS "http://127.0.0.1:$front/healthz" >/dev/null 2>&1 && break; sleep 0.25; done
  # /v1/embed with one centre crop: one encoder window per request, so a debug build stays quick.
  n=4
  for i in $(seq 1 $n); do
    out=$(curl -fsS -X POST --data-binary "@$images/pil_encoded_q95.jpg" -H 'Content-Type: image/jpeg' "http://127.0.0.1:$front/v1/embed?crops=center")
    echo "$out" | grep -q '"status":"ok"' || { echo "request $i through nginx: $out" >&2; exit 1; }
  done
  count() {  # POST /v1/embed requests with status 200 a replica counted
    curl -fsS "http://127.0.0.1:$1/metrics" | awk '/^codeserve_requests_total\{/ && /endpoint="\/v1\/embed"/ && /status="200"/ {s+=$2} END {print s+0}'
  }
  ca=$(count "$a"); cb=$(count "$b")
  echo "serve-nginx-check: $n requests through nginx on :$front: replica :$a served $ca, replica :$b served $cb"
  [ "$ca" -ge 1 ] && [ "$cb" -ge 1 ] && [ $((ca + cb)) -eq $n ] || { echo "serve-nginx-check: FAIL: both replicas must serve, all $n counted" >&2; exit 1; }
  echo "serve-nginx-check: OK"
  ;;
*) echo "unknown mode $mode" >&2; exit 2 ;;
esac
