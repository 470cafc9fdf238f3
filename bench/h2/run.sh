#!/usr/bin/env bash
# HTTP/2 engine cost: core's h2c hello world on the node:http2 engine (`core`) and on our own frame
# layer (`core-native`, H2Options.engine 'native') vs a bare node:http2 hello world (the floor of
# building on nghttp2), side by side, interleaved rounds, h2load 10 connections x 10 streams.
#
#   bench/h2/run.sh [ROUNDS] [REQUESTS]
#
# Prints the server's CPU microseconds per request (utime+stime from /proc/PID/stat) per round
# and the medians. Run it under `flock /tmp/bench.lock`.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
ROUNDS=${1:-3}
REQUESTS=${2:-50000}
TSX="$ROOT/node_modules/tsx/dist/esm/index.mjs"
CLK_TCK=$(getconf CLK_TCK)
command -v h2load >/dev/null || { echo "h2load missing (apt-get install nghttp2-client)" >&2; exit 1; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
wait_port() { for _ in $(seq 1 400); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }
measure() { # name port command...
  local name=$1 port=$2; shift 2
  "$@" "$port" >/dev/null 2>&1 &
  local pid=$!
  wait_port "$port"
  h2load -n 5000 -c 10 -m 10 "http://127.0.0.1:$port/" >/dev/null 2>&1
  local before; before=$(cpu_ticks "$pid")
  h2load -n "$REQUESTS" -c 10 -m 10 "http://127.0.0.1:$port/" > /tmp/h2bench.out 2>&1
  local after; after=$(cpu_ticks "$pid")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  local ok; ok=$(awk '/requests:/ { print $8 }' /tmp/h2bench.out)
  awk -v n="$name" -v t=$((after - before)) -v hz="$CLK_TCK" -v r="$ok" \
    'BEGIN { printf "%s %.1f\n", n, (t / hz) * 1e6 / r }'
}
results=$(mktemp)
core() { exec node --conditions=@pingora-ts/source --import "$TSX" "$HERE/core-h2c-server.ts" "$@"; }
core_native() { exec node --conditions=@pingora-ts/source --import "$TSX" "$HERE/core-h2c-server.ts" --engine native "$@"; }
bare() { exec node "$HERE/node-h2c-server.mjs" "$@"; }
for round in $(seq 1 "$ROUNDS"); do
  # Rotate the order each round so no target always runs first.
  case $((round % 3)) in
    1) order="core core-native node-http2" ;;
    2) order="core-native node-http2 core" ;;
    0) order="node-http2 core core-native" ;;
  esac
  for name in $order; do
    case $name in
      core) measure core 18190 core >> "$results" ;;
      core-native) measure core-native 18192 core_native >> "$results" ;;
      node-http2) measure node-http2 18191 bare >> "$results" ;;
    esac
  done
done
cat "$results"
echo "medians (CPU us per request):"
for name in core core-native node-http2; do
  grep "^$name " "$results" | awk '{ print $2 }' | sort -n | awk -v n="$name" '{ a[NR] = $1 } END { print n, a[int((NR + 1) / 2)] }'
done
