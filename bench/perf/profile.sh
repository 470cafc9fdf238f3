#!/usr/bin/env bash
# CPU profile of a bundled load balancer (bench/perf/build.sh DIR) under wrk load.
#   bash bench/perf/profile.sh DIR [small|64k|post1m] [SECONDS] [ORIGIN_PORT]
# Needs an origin serving /small, /64k, /upload (the harness's nginx conf). Writes
# DIR/prof/*.cpuprofile and prints the top self-time functions.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"
dir=$1 scenario=${2:-small} secs=${3:-10} origin=${4:-28090}
port=${PERF_PROXY_PORT:-28091}
rm -rf "$dir/prof" && mkdir -p "$dir/prof"
PORT=$port UPSTREAM=http://127.0.0.1:$origin setsid taskset -c 0 bash "$HERE/lb.sh" "$dir" \
  --cpu-prof --cpu-prof-dir="$dir/prof" > "$dir/prof/log" 2>&1 < /dev/null &
pid=$!
wait_port "$port"
scenario_args "$scenario"
taskset -c 1 wrk -t1 -c50 -d"${secs}s" "${extra[@]}" "http://127.0.0.1:$port$path" | grep -E 'Requests/sec|Latency'
kill -INT "$pid"; wait "$pid" || true
node "$HERE/cpuprofile-top.mjs" "$dir"/prof/*.cpuprofile "${TOP:-40}"
