#!/usr/bin/env bash
# User-space instructions per small GET of the bundled observability example in one mode (bare,
# metrics, tracing with no SDK, tracing-sdk: the OTel SDK exporting over OTLP/HTTP to the origin's
# /upload, which answers 200), counted by valgrind/callgrind (see bench/perf/instr.sh): deterministic enough
# for an A/B on a busy machine. Needs an origin serving /small on ORIGIN_PORT.
#   bash bench/observability/instr.sh DIR bare|metrics|tracing [REQUESTS] [ORIGIN_PORT]
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dir=$1 mode=$2 n=${3:-2000} origin=${4:-28090} scenario=small
mode_flags() { case $1 in bare) echo "--metrics off --tracing off --access-log off" ;; metrics) echo "--metrics 127.0.0.1:0 --tracing off --access-log off" ;; tracing) echo "--metrics off --tracing on --access-log off" ;; tracing-sdk) echo "--metrics off --tracing on --access-log off --otlp http://127.0.0.1:$origin/upload" ;; esac; }
port=${PERF_PROXY_PORT:-28093}
out=$(mktemp -d /tmp/perf-instr.XXXXXX)
case $scenario in
  small) path=/small; extra=() ;;
  64k) path=/64k; extra=() ;;
  post1m) head -c 1048576 /dev/zero > "$out/body"; path=/upload; extra=(-d "$out/body" -H 'content-type: application/octet-stream') ;;
esac
setsid taskset -c 0 valgrind --tool=callgrind --smc-check=all-non-file --separate-threads=yes \
  --callgrind-out-file="$out/cg.%p" node ${PERF_KEEP:+--perf-basic-prof} "$dir/observability.js" --listen "127.0.0.1:$port" $(mode_flags "$mode") \
  --upstream "127.0.0.1:$origin" > "$out/log" 2>&1 < /dev/null &
pid=$!
for _ in $(seq 600); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.2; done
load() { taskset -c 1 h2load --h1 -n "$1" -c "$2" -m 1 "${extra[@]}" "http://127.0.0.1:$port$path" | grep -E '^requests:' ; }
# Warm up until the JIT has settled (compiling is counted too, on its own threads).
load "${PERF_WARMUP:-20000}" 10 > /dev/null
callgrind_control -z "$pid" > /dev/null 2>&1
load "$n" "${PERF_CONNS:-1}" > /dev/null
callgrind_control -d "$pid" > /dev/null 2>&1
kill -KILL "$pid"; wait "$pid" 2>/dev/null || true
# main thread (JS, libuv) and all threads (plus JIT compiler and GC helpers)
main=$(cat "$out"/cg.*.1-01 2>/dev/null | awk '/^totals:/ { s += $2 } END { printf "%d", s }')
all=$(cat "$out"/cg.*.1-* 2>/dev/null | awk '/^totals:/ { s += $2 } END { printf "%d", s }')
echo "$mode: $(( main / n )) main-thread instructions/request, $(( all / n )) all threads ($n requests)"
if [ -n "${PERF_KEEP:-}" ]; then
  cp "$out"/cg.*.1-01 "$PERF_KEEP"
  # JIT code names for the ??? addresses (node --perf-basic-prof): bench/perf/callgrind-jit.mjs
  cp "/tmp/perf-$pid.map" "$PERF_KEEP.map" 2>/dev/null && rm -f "/tmp/perf-$pid.map"
fi
rm -rf "$out"
