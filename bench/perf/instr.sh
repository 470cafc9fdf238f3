#!/usr/bin/env bash
# User-space instructions per request of a bundled load balancer (bench/perf/build.sh DIR),
# counted by valgrind/callgrind: deterministic enough to compare variants on a busy machine
# where CPU-time measurements swing by 30% or more. Kernel work (syscalls) is not counted.
#   bash bench/perf/instr.sh DIR [small|64k|1m|post1m] [REQUESTS] [ORIGIN_PORT]
# PERF_BUNDLE names another bundle in DIR (default load-balancer.js), PERF_ARGS adds its flags,
# PERF_H2=1 loads over h2c with prior knowledge (h2load, PERF_CONNS connections x PERF_STREAMS
# streams, default 1 x 10; give the proxy PERF_ARGS=--h2c) instead of HTTP/1.1,
# PERF_TLS=1 serves and loads over TLS (the test PKI's a.test certificate, given to the proxy as
# --tls-cert/--tls-key; ALPN h2 with PERF_H2=1, else http/1.1),
# PERF_LABEL replaces "DIR SCENARIO" in the output line. The origin must already serve the path
# (an nginx with the shared harness's origin config); the script stops if it does not, rather
# than count the instructions of 502s.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dir=$1 scenario=${2:-small} n=${3:-2000} origin=${4:-28090}
port=${PERF_PROXY_PORT:-28093}
out=$(mktemp -d /tmp/perf-instr.XXXXXX)
case $scenario in
  small) path=/small; extra=() ;;
  64k) path=/64k; extra=() ;;
  1m) path=/1m; extra=() ;; # an origin serving /1m: bench/h2/bodies.sh's (the shared one has none)
  post1m) head -c 1048576 /dev/zero > "$out/body"; path=/upload; extra=(-d "$out/body" -H 'content-type: application/octet-stream') ;;
esac
scheme=http tls_args=()
if [ "${PERF_TLS:-0}" = 1 ]; then
  certs=$(cd "$HERE/../../tooling/test-utils/certs" && pwd)
  scheme=https tls_args=(--tls-cert "$certs/a.test.pem" --tls-key "$certs/a.test.key")
fi
if ! curl -sf -o /dev/null "http://127.0.0.1:$origin/small"; then
  echo "no origin answering http://127.0.0.1:$origin/small" >&2
  exit 1
fi
setsid taskset -c 0 valgrind --tool=callgrind --smc-check=all-non-file --separate-threads=yes \
  --callgrind-out-file="$out/cg.%p" node ${PERF_KEEP:+--perf-basic-prof} "$dir/${PERF_BUNDLE:-load-balancer.js}" --listen "127.0.0.1:$port" \
  ${PERF_ARGS:-} ${tls_args[@]+"${tls_args[@]}"} --upstream "127.0.0.1:$origin" > "$out/log" 2>&1 < /dev/null &
pid=$!
up=0
for _ in $(seq 600); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && { up=1; break; }; sleep 0.2; done
if [ "$up" != 1 ]; then
  echo "the proxy did not listen on :$port within 120 s" >&2
  kill -KILL "$pid" 2>/dev/null; cat "$out/log" >&2; exit 1
fi
if [ "${PERF_H2:-0}" = 1 ]; then proto=(-m "${PERF_STREAMS:-10}"); else proto=(--h1 -m 1); fi
load() { taskset -c 1 h2load "${proto[@]}" -n "$1" -c "$2" "${extra[@]}" "$scheme://127.0.0.1:$port$path" | grep -E '^requests:' ; }
# Warm up until the JIT has settled (compiling is counted too, on its own threads).
load "${PERF_WARMUP:-20000}" 10 > /dev/null
callgrind_control -z "$pid" > /dev/null 2>&1
load "$n" "${PERF_CONNS:-1}" > /dev/null
callgrind_control -d "$pid" > /dev/null 2>&1
kill -KILL "$pid"; wait "$pid" 2>/dev/null || true
# main thread (JS, libuv) and all threads (plus JIT compiler and GC helpers)
main=$(cat "$out"/cg.*.1-01 2>/dev/null | awk '/^totals:/ { s += $2 } END { printf "%d", s }')
all=$(cat "$out"/cg.*.1-* 2>/dev/null | awk '/^totals:/ { s += $2 } END { printf "%d", s }')
echo "${PERF_LABEL:-$dir $scenario}: $(( main / n )) main-thread instructions/request, $(( all / n )) all threads ($n requests)"
if [ -n "${PERF_KEEP:-}" ]; then
  cp "$out"/cg.*.1-01 "$PERF_KEEP"
  # JIT code names for the ??? addresses (node --perf-basic-prof): bench/perf/callgrind-jit.mjs
  cp "/tmp/perf-$pid.map" "$PERF_KEEP.map" 2>/dev/null && rm -f "/tmp/perf-$pid.map"
fi
rm -rf "$out"
