#!/usr/bin/env bash
# Memory per cached object: starts an origin (the shared harness's nginx origin: /small 13 bytes,
# /64k 64 KiB) and a caching proxy, fills N distinct keys of one origin resource through it
# (PATH?k=0..N-1, all stored), and prints the growth of the proxy's resident memory per object
# (and, for nginx, the bytes its cache directory holds on disk per object). A Node proxy is
# preloaded with gc-on-signal.mjs and collected (twice, full) before each reading, so the figure
# counts what the cache keeps, not garbage; its heap and array-buffer growth is printed too.
#   bash bench/cache/memory.sh NAME N PATH COMMAND...
# COMMAND runs with PORT, UPSTREAM, PEER_RUN_DIR and NODE_FLAGS set, e.g.
#   bash bench/cache/memory.sh pingora-ts 20000 /small bash bench/cache/cache.sh /tmp/cache-bundle
#   bash bench/cache/memory.sh nginx-cache 20000 /small bash bench/cache/nginx-cache.sh
# Ports: MEMORY_PORT (proxy, default 28170), MEMORY_ORIGIN_PORT (default 28171).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
name=$1 n=$2 path=$3; shift 3
port=${MEMORY_PORT:-28170}
origin=${MEMORY_ORIGIN_PORT:-28171}
run=$(mktemp -d /tmp/bench-cache-memory.XXXXXX)
chmod 755 "$run"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -- "-$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$run"
}
trap cleanup EXIT
wait_port() {
  for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done
  echo "nothing listens on $1" >&2
  exit 1
}

# The origin: the shared harness's nginx configuration (the h2 port unused).
mkdir -p "$run/origin/www"
chmod 755 "$run/origin" "$run/origin/www"
head -c 65536 /dev/zero | tr '\0' 'x' > "$run/origin/www/64k.bin"
sed -e "s|@RUN@|$run/origin|g" -e "s|@ORIGIN_PORT@|$origin|g" -e "s|@ORIGIN_H2_PORT@|$((origin + 1))|g" \
  /work/shared/bench/conf/origin.nginx.conf.tmpl > "$run/origin/nginx.conf"
setsid nginx -p "$run/origin/" -e "$run/origin/error.log" -c "$run/origin/nginx.conf" \
  -g 'daemon off;' > "$run/origin.log" 2>&1 &
pids+=($!)
wait_port "$origin"

mkdir -p "$run/peer"
PORT=$port UPSTREAM="http://127.0.0.1:$origin" PEER_RUN_DIR="$run/peer" \
  NODE_FLAGS="--expose-gc --import $here/gc-on-signal.mjs" setsid "$@" > "$run/log" 2>&1 &
pid=$!
pids+=("$pid")
wait_port "$port"

node_pid() { # the Node process of the proxy's group, if it is one
  for p in $(pgrep -g "$pid"); do
    [ "$(cat "/proc/$p/comm" 2>/dev/null)" = node ] && { echo "$p"; return 0; }
  done
  return 0
}
heap='{}'
settle() { # a full collection in a Node proxy; sets heap to its memoryUsage()
  local p; p=$(node_pid)
  [ -z "$p" ] && return 0
  local report=/tmp/pingora-gc-$p.json
  rm -f "$report"
  kill -USR2 "$p"
  for _ in $(seq 100); do [ -s "$report" ] && break; sleep 0.05; done
  heap=$(cat "$report")
  rm -f "$report"
}
rss() { # resident KiB of the process group (nginx: master + worker)
  local total=0
  for p in $(pgrep -g "$pid"); do
    total=$((total + $(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" 2>/dev/null || echo 0)))
  done
  echo "$total"
}
node "$here/fill.mjs" "$port" 200 "$path" warm # warm-up: code paths and pools, not measured
settle
before=$(rss) heap_before=$heap
node "$here/fill.mjs" "$port" "$n" "$path"
settle
after=$(rss) heap_after=$heap
disk=$(du -sb "$run/peer/cache" 2>/dev/null | cut -f1 || true)
line="$name $path: $(((after - before) * 1024 / n)) bytes RSS per object"
if [ "$heap_after" != '{}' ]; then
  line+=$(node -e '
    const [a, b, n] = [JSON.parse(process.argv[1]), JSON.parse(process.argv[2]), Number(process.argv[3])]
    const per = (k) => Math.round((b[k] - a[k]) / n)
    process.stdout.write(`, heap ${per("heapUsed")} + array buffers ${per("arrayBuffers")} bytes per object`)
  ' "$heap_before" "$heap_after" "$n")
fi
[ -n "$disk" ] && line+=", $((disk / n)) bytes on disk per object"
echo "$line ($n objects)"
