#!/usr/bin/env bash
# Quick interleaved A/B of bundled load balancers (bench/perf/build.sh DIR), CPU us/request
# and req/s, against a running origin.  bash bench/perf/ab.sh [-s small] [-d 5] [-r 3] DIR...
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
scenario=small secs=5 reps=3 origin=${PERF_ORIGIN_PORT:-28090} port=${PERF_PROXY_PORT:-28091}
while getopts s:d:r: o; do case $o in s) scenario=$OPTARG ;; d) secs=$OPTARG ;; r) reps=$OPTARG ;; *) exit 2 ;; esac; done
shift $((OPTIND - 1))
case $scenario in
  small) path=/small; extra=() ;;
  64k) path=/64k; extra=() ;;
  post1m) path=/upload; extra=(-s "$HERE/post1m.lua") ;;
esac
tick_us=$(( 1000000 / $(getconf CLK_TCK) ))
ticks() { local s; s=$(cat /proc/$1/stat); s=${s##*) }; read -r -a f <<< "$s"; echo $(( f[11] + f[12] )); }
for rep in $(seq "$reps"); do
  for dir in "$@"; do
    PORT=$port UPSTREAM=http://127.0.0.1:$origin setsid taskset -c 0 bash "$HERE/lb.sh" "$dir" > /dev/null 2>&1 < /dev/null &
    pid=$!
    for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
    taskset -c 1 wrk -t1 -c50 -d2s "${extra[@]}" "http://127.0.0.1:$port$path" > /dev/null
    c0=$(ticks "$pid")
    out=$(taskset -c 1 wrk -t1 -c50 -d"${secs}s" "${extra[@]}" "http://127.0.0.1:$port$path")
    c1=$(ticks "$pid")
    kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
    while (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; do sleep 0.1; done
    reqs=$(awk '/requests in/ { print $1 }' <<< "$out")
    rps=$(awk '/Requests\/sec/ { print $2 }' <<< "$out")
    printf '%s %-28s %10s req/s  %7.1f us/req\n' "$rep" "$dir" "$rps" "$(echo "($c1 - $c0) * $tick_us / $reqs" | bc -l)"
  done
done
