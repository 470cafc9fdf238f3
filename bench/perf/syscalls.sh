#!/usr/bin/env bash
# Syscalls per request of a bundled load balancer (bench/perf/build.sh DIR) under wrk load.
#   bash bench/perf/syscalls.sh DIR [small|64k|post1m] [SECONDS] [ORIGIN_PORT]
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"
dir=$1 scenario=${2:-small} secs=${3:-5} origin=${4:-28090}
port=${PERF_PROXY_PORT:-28091}
PORT=$port UPSTREAM=http://127.0.0.1:$origin setsid taskset -c 0 bash "$HERE/lb.sh" "$dir" \
  > /tmp/perf-syscalls.log 2>&1 < /dev/null &
pid=$!
wait_port "$port"
scenario_args "$scenario"
taskset -c 1 wrk -t1 -c50 -d2s "${extra[@]}" "http://127.0.0.1:$port$path" > /dev/null
strace -c -f -p "$pid" -o /tmp/perf-strace.txt &
spid=$!
sleep 0.5
out=$(taskset -c 1 wrk -t1 -c50 -d"${secs}s" "${extra[@]}" "http://127.0.0.1:$port$path")
kill -INT "$spid"; wait "$spid" || true
kill -INT "$pid"; wait "$pid" || true
reqs=$(awk '/requests in/ { print $1 }' <<< "$out")
echo "requests: $reqs"
awk -v r="$reqs" 'NR > 2 && $NF != "total" && $4 ~ /^[0-9]+$/ { printf "%-16s %8d calls  %6.2f per request\n", $NF, $4, $4 / r }' /tmp/perf-strace.txt | sort -k4 -n -r | head -20
