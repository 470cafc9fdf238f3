#!/usr/bin/env bash
# TLS handshakes per second: a node:tls server built from TlsSettings (one process) against nginx
# (one worker) on the same certificate, both driven by `openssl s_time` clients on 127.0.0.1.
#   full:    every connection does a full handshake (s_time -new)
#   resumed: every connection resumes the first session (s_time -reuse); "(N% r)" is the share of
#            connections that really resumed
# Each connection fetches `/` (-www) so the client also reads TLS 1.3 session tickets.
# Usage: packages/tls/bench/handshake.sh [seconds per run, default 10] [parallel clients, default 2]
# Runs on demand, never in CI. Needs openssl; nginx is optional.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
certs="$root/tooling/test-utils/certs"
seconds="${1:-10}"
parallel="${2:-2}"
work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# run_s_time PORT MODE PROTO -> prints handshakes/second summed over the parallel clients
run_s_time() {
  local port=$1 mode=$2 proto=$3 i total=0 n
  for i in $(seq "$parallel"); do
    openssl s_time -connect "127.0.0.1:$port" "-$mode" "-$proto" -time "$seconds" -www / >"$work/st.$i" 2>&1 &
  done
  wait
  for i in $(seq "$parallel"); do
    n=$(grep -Eo '^[0-9]+ connections in [0-9.]+ real' "$work/st.$i" | awk '{print $1}' | tail -1)
    total=$((total + ${n:-0}))
  done
  awk -v t="$total" -v s="$seconds" 'BEGIN { printf "%.0f", t / s }'
  if [ "$mode" = reuse ]; then
    # s_time prints one character per connection: 'r' resumed, '*' full handshake.
    local resumed full
    resumed=$(cat "$work"/st.* | grep -E '^[r*]+$' | tr -cd 'r' | wc -c)
    full=$(cat "$work"/st.* | grep -E '^[r*]+$' | tr -cd '*' | wc -c)
    awk -v r="$resumed" -v f="$full" 'BEGIN { t = r + f; printf " (%d%% r)", (t > 0 ? 100 * r / t : 0) }'
  fi
}

report() {
  local name=$1 port=$2
  printf '%-26s' "$name"
  for proto in tls1_3 tls1_2; do
    printf '  %s full %6s/s' "$proto" "$(run_s_time "$port" new "$proto")"
    printf '  resumed %14s' "$(run_s_time "$port" reuse "$proto")"
  done
  printf '\n'
}

echo "openssl s_time, $parallel clients x ${seconds}s, $(nproc) cores, $(openssl version | cut -d' ' -f1-2)"

node_bin="${NODE:-node}"
"$node_bin" --conditions=@pingora-ts/source --import "$root/node_modules/tsx/dist/esm/index.mjs" \
  "$here/tls-server.ts" >"$work/node.port" &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/node.port" ] && break; sleep 0.1; done
report "node $("$node_bin" -v) TlsSettings" "$(head -1 "$work/node.port")"

if command -v nginx >/dev/null 2>&1; then
  port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
  cat >"$work/nginx.conf" <<CONF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  server {
    listen 127.0.0.1:$port ssl;
    ssl_certificate $certs/localhost.pem;
    ssl_certificate_key $certs/localhost.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ecdh_curve X25519:prime256v1:secp384r1;
    ssl_session_tickets on;
    ssl_session_cache shared:SSL:10m;
    location / { return 200 "ok"; }
  }
}
CONF
  nginx -p "$work" -c "$work/nginx.conf" -g 'daemon on;' 2>>"$work/error.log"
  for _ in $(seq 50); do [ -s "$work/nginx.pid" ] && break; sleep 0.1; done
  report "nginx $(nginx -v 2>&1 | cut -d/ -f2) (1 worker)" "$port"
else
  echo "nginx not installed: skipped"
fi
