#!/usr/bin/env bash
# Worker-process modes side by side (issue 13, ADR 0015): CPU per request of the whole process
# group and how evenly the workers share the load, for keep-alive clients and for a new connection
# per request. Runs on Node 24 (SO_REUSEPORT needs Node >= 22.12), fetched with npx when missing.
#   bash bench/workers/run.sh [-d SECONDS] [-r REPS] [-w WORKERS]
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
secs=5 reps=2 workers=2 port=${BENCH_WORKERS_PORT:-28300}
while getopts d:r:w: o; do case $o in d) secs=$OPTARG ;; r) reps=$OPTARG ;; w) workers=$OPTARG ;; *) exit 2 ;; esac; done
node=node
if [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 22 ]; then
  node=$(npx -y node@24 -p process.execPath)
fi
tick_us=$(( 1000000 / $(getconf CLK_TCK) ))
ticks() { local t=0; for p in $(pgrep -g "$1"); do local s; s=$(cat /proc/"$p"/stat 2>/dev/null) || continue; s=${s##*) }; read -r -a f <<< "$s"; t=$((t + f[11] + f[12])); done; echo "$t"; }
printf '%-4s %-10s %-10s %10s %12s %s\n' rep mode client req/s "cpu us/req" "requests per worker (max/min)"
for rep in $(seq "$reps"); do
  for mode in rr shared reuseport; do
    for client in keepalive close; do
      out=$(mktemp)
      setsid "$node" "$HERE/modes.mjs" "$mode" "$port" "$workers" > "$out" 2>&1 < /dev/null &
      pid=$!
      for _ in $(seq 100); do grep -q ready "$out" && break; sleep 0.1; done
      hdr=()
      [ "$client" = close ] && hdr=(-H 'Connection: close')
      wrk -t1 -c50 -d1s "${hdr[@]}" "http://127.0.0.1:$port/" > /dev/null
      kill -USR2 "$pid"; for _ in $(seq 50); do [ "$(grep -c counts "$out")" -ge 1 ] && break; sleep 0.1; done
      t0=$(ticks "$pid")
      res=$(wrk -t1 -c50 -d"${secs}s" "${hdr[@]}" "http://127.0.0.1:$port/")
      t1=$(ticks "$pid")
      kill -USR2 "$pid"; for _ in $(seq 50); do [ "$(grep -c counts "$out")" -ge 2 ] && break; sleep 0.1; done
      kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
      read -r -a c0 <<< "$(grep counts "$out" | sed -n 1p | cut -d' ' -f2-)"
      read -r -a c1 <<< "$(grep counts "$out" | sed -n 2p | cut -d' ' -f2-)"
      reqs=$(awk '/requests in/ { print $1 }' <<< "$res"); rps=$(awk '/Requests\/sec/ { print $2 }' <<< "$res")
      per=() max=0 min=999999999
      for i in "${!c1[@]}"; do d=$(( c1[i] - c0[i] )); per+=("$d"); ((d > max)) && max=$d; ((d < min)) && min=$d; done
      ratio=$(awk -v a="$max" -v b="$min" 'BEGIN { if (b == 0) print "inf"; else printf "%.2f", a / b }')
      printf '%-4s %-10s %-10s %10s %12s %s (%s)\n' "$rep" "$mode" "$client" "$rps" \
        "$(awk -v t="$(( (t1 - t0) * tick_us ))" -v r="$reqs" 'BEGIN { printf "%.1f", t / r }')" "${per[*]}" "$ratio"
      rm -f "$out"
      while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do sleep 0.1; done
    done
  done
done
