#!/usr/bin/env bash
# Hello world on @pingora-ts/core vs node:http: same machine, same run, interleaved rounds.
#
#   bench/core-hello/run.sh [ROUNDS] [SECONDS] [CONNECTIONS]
#
#   PIN=0     no CPU pinning (default: server on CPU 0, load generator on CPU 1)
#   EXTRA=1   also measure the HTTP/1 engine alone (session-server.ts) and a raw node:net
#             floor (raw-server.ts), to see where the time goes
#
# Each round starts each server fresh, warms it up, then measures keep-alive GET / with wrk
# (autocannon when wrk is missing) and reads the server's CPU time (utime+stime from
# /proc/PID/stat) before and after. Prints req/s and CPU microseconds per request per round,
# then medians. The order of the servers rotates every round.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
ROUNDS=${1:-5}
SECONDS_PER_RUN=${2:-10}
CONNS=${3:-50}
WARMUP=2
PORT_BASE=${PORT_BASE:-18090}
TSX="$ROOT/node_modules/tsx/dist/esm/index.mjs"
CLK_TCK=$(getconf CLK_TCK)

if ! command -v wrk >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  apt-get install -y wrk >/dev/null 2>&1 || (apt-get update >/dev/null && apt-get install -y wrk >/dev/null) || true
fi
if command -v wrk >/dev/null 2>&1; then
  LOADGEN=wrk
else
  LOADGEN=autocannon
  [ -x "$HERE/node_modules/.bin/autocannon" ] || (cd "$HERE" && npm install --no-save --silent autocannon@8 >/dev/null)
fi
[ -f "$TSX" ] || (cd "$ROOT" && flock /tmp/pnpm.lock pnpm install >/dev/null)

if [ "${PIN:-1}" = 1 ] && [ "$(nproc)" -ge 2 ]; then
  SERVER_CPU="taskset -c 0"
  LOAD_CPU="taskset -c 1"
else
  SERVER_CPU=""
  LOAD_CPU=""
fi

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

wait_port() {
  for _ in $(seq 1 400); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "server on port $1 did not start" >&2
  return 1
}

load() { # URL SECONDS -> requests per second
  if [ "$LOADGEN" = wrk ]; then
    $LOAD_CPU wrk -t1 -c"$CONNS" -d"$2"s "$1" | awk '/Requests\/sec/ { print $2 }'
  else
    $LOAD_CPU "$HERE/node_modules/.bin/autocannon" -c "$CONNS" -d "$2" -j "$1" |
      node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).requests.average))'
  fi
}

run_one() { # NAME PORT SCRIPT [NODE FLAGS...]
  local name=$1 port=$2 script=$3
  shift 3
  $SERVER_CPU node "$@" --import "$TSX" "$HERE/$script" "$port" &
  local pid=$!
  wait_port "$port"
  load "http://127.0.0.1:$port/" "$WARMUP" >/dev/null
  local before after rps cpu_us
  before=$(cpu_ticks "$pid")
  rps=$(load "http://127.0.0.1:$port/" "$SECONDS_PER_RUN")
  after=$(cpu_ticks "$pid")
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  cpu_us=$(awk -v t=$((after - before)) -v hz="$CLK_TCK" -v r="$rps" -v s="$SECONDS_PER_RUN" \
    'BEGIN { printf "%.2f", (t / hz) * 1e6 / (r * s) }')
  printf '%-10s round %d  %10.0f req/s  %6s us CPU/request\n' "$name" "$round" "$rps" "$cpu_us" >&2
  echo "$name $rps $cpu_us"
}

run_target() { # NAME
  case $1 in
    core) run_one core "$PORT_BASE" core-server.ts --conditions=@pingora-ts/source ;;
    node:http) run_one node:http $((PORT_BASE + 1)) node-server.ts ;;
    session) run_one session $((PORT_BASE + 2)) session-server.ts --conditions=@pingora-ts/source ;;
    raw-net) run_one raw-net $((PORT_BASE + 3)) raw-server.ts ;;
  esac
}

TARGETS=(core node:http)
[ "${EXTRA:-0}" = 1 ] && TARGETS+=(session raw-net)
echo "node $(node -v), $LOADGEN, $CONNS connections, ${SECONDS_PER_RUN}s x $ROUNDS rounds, $(nproc) CPUs, pinned: ${PIN:-1}" >&2
RESULTS=$(mktemp)
count=${#TARGETS[@]}
for round in $(seq 1 "$ROUNDS"); do
  for ((i = 0; i < count; i++)); do
    run_target "${TARGETS[$(((i + round - 1) % count))]}" >>"$RESULTS"
  done
done

node -e '
const rows = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map((l) => l.split(" "))
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2 }
const stats = {}
for (const name of [...new Set(rows.map((r) => r[0]))]) {
  const mine = rows.filter((r) => r[0] === name)
  stats[name] = { rps: median(mine.map((r) => +r[1])), cpu: median(mine.map((r) => +r[2])) }
  console.log(`${name.padEnd(10)} median ${stats[name].rps.toFixed(0).padStart(8)} req/s  ${stats[name].cpu.toFixed(2)} us CPU/request`)
}
console.log(`core / node:http: ${(stats.core.rps / stats["node:http"].rps).toFixed(2)}x req/s, ${(stats.core.cpu / stats["node:http"].cpu).toFixed(2)}x CPU per request`)
' "$RESULTS"
rm -f "$RESULTS"
