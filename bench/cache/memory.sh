#!/usr/bin/env bash
# Memory per cached object: starts a caching proxy, reads its resident memory, fills N distinct
# keys of one origin resource through it, reads it again; prints bytes per object (and, for
# nginx, the bytes its cache directory holds on disk).
#   bash bench/cache/memory.sh NAME N PATH ORIGIN_PORT COMMAND...
# COMMAND runs with PORT and UPSTREAM set (bench/cache/cache.sh DIR, bench/cache/nginx-cache.sh).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
name=$1 n=$2 path=$3 origin=$4; shift 4
port=${MEMORY_PORT:-28170}
run=$(mktemp -d /tmp/bench-cache-memory.XXXXXX)
PORT=$port UPSTREAM="http://127.0.0.1:$origin" PEER_RUN_DIR="$run" setsid "$@" > "$run/log" 2>&1 &
pid=$!
trap 'kill -- -$pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$run"' EXIT
for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
rss() { # resident KiB of the process group (nginx: master + worker)
  local total=0
  for p in $(pgrep -g "$pid"); do
    total=$((total + $(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" 2>/dev/null || echo 0)))
  done
  echo "$total"
}
node "$here/fill.mjs" "$port" 200 "$path" warm # warm-up: code paths and pools, not measured
before=$(rss)
node "$here/fill.mjs" "$port" "$n" "$path"
after=$(rss)
disk=$(du -sb "$run/cache" 2>/dev/null | cut -f1 || echo 0)
echo "$name $path: $(( (after - before) * 1024 / n )) bytes RSS per object, ${disk:-0} bytes on disk ($n objects)"
