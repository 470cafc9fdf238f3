#!/usr/bin/env bash
# Interleaved A/B of any proxies (NAME=COMMAND, run with PORT and UPSTREAM set, as the shared
# harness does) against a running origin, printing user and sys CPU us/request apart (whole
# process group, /proc/PID/stat).  bash bench/perf/ab-cmd.sh [-s small] [-d 5] [-r 3] NAME=COMMAND...
#   e.g. "nginx=bash /work/shared/bench/peers/nginx.sh" "after=bash bench/perf/lb.sh /tmp/perf-after"
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"
scenario=small secs=5 reps=3 origin=${PERF_ORIGIN_PORT:-28090} port=${PERF_PROXY_PORT:-28091}
while getopts s:d:r: o; do case $o in s) scenario=$OPTARG ;; d) secs=$OPTARG ;; r) reps=$OPTARG ;; *) exit 2 ;; esac; done
shift $((OPTIND - 1))
scenario_args "$scenario"
tick_us=$(( 1000000 / $(getconf CLK_TCK) ))
ticks() { local tot_u=0 tot_s=0; for p in $(pgrep -g $1) ; do local s; s=$(cat /proc/$p/stat 2>/dev/null) || continue; s=${s##*) }; read -r -a f <<< "$s"; tot_u=$((tot_u+f[11])); tot_s=$((tot_s+f[12])); done; echo "$tot_u $tot_s"; }
for rep in $(seq "$reps"); do
  for spec in "$@"; do
    name=${spec%%=*}; cmd=${spec#*=}
    PORT=$port UPSTREAM=http://127.0.0.1:$origin PEER_RUN_DIR=${PEER_RUN_DIR:-/tmp/perf-ab-peer} setsid taskset -c 0 bash -c "$cmd" > "/tmp/perf-ab-$name.log" 2>&1 < /dev/null &
    pid=$!
    wait_port "$port"
    taskset -c 1 wrk -t1 -c50 -d2s "${extra[@]}" "http://127.0.0.1:$port$path" > /dev/null
    read u0 s0 < <(ticks "$pid")
    out=$(taskset -c 1 wrk -t1 -c50 -d"${secs}s" "${extra[@]}" "http://127.0.0.1:$port$path")
    read u1 s1 < <(ticks "$pid")
    kill -TERM -- -"$pid"; wait "$pid" 2>/dev/null || true
    while (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; do sleep 0.1; done
    reqs=$(awk '/requests in/ { print $1 }' <<< "$out")
    rps=$(awk '/Requests\/sec/ { print $2 }' <<< "$out")
    printf '%s %-12s %10s req/s  user %6.1f sys %6.1f total %6.1f us/req\n' "$rep" "$name" "$rps" \
      "$(echo "($u1 - $u0) * $tick_us / $reqs" | bc -l)" "$(echo "($s1 - $s0) * $tick_us / $reqs" | bc -l)" "$(echo "($u1+$s1-$u0-$s0) * $tick_us / $reqs" | bc -l)"
  done
done
