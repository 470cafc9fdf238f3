#!/usr/bin/env bash
# Side-by-side, interleaved: pingora-ts + ResponseCompression against nginx `gzip on`, both
# proxying a 64 KiB JSON with `Accept-Encoding: gzip`, at gzip levels 1 and 6. Prints req/s and
# CPU us per request of the proxy process (user + sys, /proc/PID/stat), proxy pinned to CPU 0,
# wrk to CPU 1.  flock /tmp/bench.lock bash bench/compression/run.sh [-d 5] [-r 3]
# Env: NODE (the node binary), PINGORA_BENCH_BUILD_DIR (bundle dir), NO_BUILD=1 (reuse it).
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
secs=5 reps=3 origin=${GZIP_BENCH_ORIGIN_PORT:-28390} port=${GZIP_BENCH_PROXY_PORT:-28391}
while getopts d:r: o; do case $o in d) secs=$OPTARG ;; r) reps=$OPTARG ;; *) exit 2 ;; esac; done
node=${NODE:-node}
build=${PINGORA_BENCH_BUILD_DIR:-/tmp/pingora-ts-gzip-bench}
[ "${NO_BUILD:-0}" = 1 ] || (cd "$here/../.." && PINGORA_BENCH_BUILD_DIR=$build node_modules/.bin/tsup --config bench/compression/tsup.config.ts) || exit 1
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
for p in $origin $port; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "port $p is in use" >&2; exit 1; fi
done
tick_us=$(( 1000000 / $(getconf CLK_TCK) ))
ticks() { local t=0; for p in $(pgrep -g "$1"); do local s; s=$(cat /proc/$p/stat 2>/dev/null) || continue; s=${s##*) }; read -r -a f <<< "$s"; t=$((t+f[11]+f[12])); done; echo "$t"; }
PORT=$origin setsid taskset -c 1 "$node" "$here/origin.mjs" & origin_pid=$!
trap 'kill -TERM -- -$origin_pid 2>/dev/null' EXIT
wait_port $origin
for rep in $(seq "$reps"); do
  for level in 1 6; do
    for name in nginx pingora-ts; do
      case $name in
        nginx) cmd="bash $here/nginx.sh" ;;
        pingora-ts) cmd="$node $build/gzip-proxy.js" ;;
      esac
      LEVEL=$level PORT=$port UPSTREAM=http://127.0.0.1:$origin setsid taskset -c 0 bash -c "exec $cmd" > "/tmp/bench-gzip-$name.log" 2>&1 < /dev/null &
      pid=$!
      wait_port $port
      bytes=$(curl -s -H 'Accept-Encoding: gzip' "http://127.0.0.1:$port/json" | wc -c)
      taskset -c 1 wrk -t1 -c16 -d2s -H 'Accept-Encoding: gzip' "http://127.0.0.1:$port/json" > /dev/null
      t0=$(ticks "$pid")
      out=$(taskset -c 1 wrk -t1 -c16 -d"${secs}s" -H 'Accept-Encoding: gzip' "http://127.0.0.1:$port/json")
      t1=$(ticks "$pid")
      kill -TERM -- -"$pid"; wait "$pid" 2>/dev/null || true
      while (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; do sleep 0.1; done
      reqs=$(awk '/requests in/ { print $1 }' <<< "$out")
      rps=$(awk '/Requests\/sec/ { print $2 }' <<< "$out")
      printf '%s level %s %-11s %9s req/s %7.1f us/req  %6s bytes\n' "$rep" "$level" "$name" "$rps" \
        "$(echo "($t1 - $t0) * $tick_us / $reqs" | bc -l)" "$bytes"
    done
  done
done
