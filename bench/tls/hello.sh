#!/usr/bin/env bash
# Cost of core's TLS listener: core's hello world over TLS (core-server.ts) against the floor of
# Node's TLS (node-server.mjs: node:https, node:http2 secure server), HTTP/1.1 (wrk -c50) and h2
# (h2load -c10 -m10), keep-alive, the same certificate. Servers pinned to CPU 0, the load to
# CPU 1, targets interleaved per round; CPU per request from utime+stime in /proc/PID/stat.
# Run it under `flock /tmp/bench.lock`.
#
#   bash bench/tls/hello.sh [-r ROUNDS] [-d SECONDS] [-t TARGET,...]
#
# Targets: core-h1 node-h1 core-h2 node-h2 (default: all), plus plain-core-h1 and plain-node-h1
# (bench/core-hello's servers without TLS: what TLS adds on each side) and core-close and
# node-close (HTTP/1.1 with `Connection: close`: a full TLS handshake per request), and
# settings-close (node:https with core's TlsSettings options: the TLS parameters' share).
# CORE_SERVER=FILE runs another core server script; BASE_SERVER=FILE adds the targets base-h1,
# base-h2 and base-close on it (an A/B of a change: a copy of the tree before it).
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
ROUNDS=3 SECS=5 WARM=2 TARGETS=core-h1,node-h1,core-h2,node-h2
while getopts "r:d:t:" o; do
  case $o in
    r) ROUNDS=$OPTARG ;;
    d) SECS=$OPTARG ;;
    t) TARGETS=$OPTARG ;;
    *) exit 2 ;;
  esac
done
IFS=, read -r -a NAMES <<< "$TARGETS"
PORT=${TLS_HELLO_PORT:-18290}
TSX="$ROOT/node_modules/tsx/dist/esm/index.mjs"
CORE_SERVER=${CORE_SERVER:-$HERE/core-server.ts}
CLK_TCK=$(getconf CLK_TCK)
for tool in wrk h2load taskset; do command -v "$tool" > /dev/null || { echo "missing $tool" >&2; exit 1; }; done
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
wait_port() { for _ in $(seq 1 400); do (exec 3<> "/dev/tcp/127.0.0.1/$1") 2> /dev/null && return 0; sleep 0.05; done; return 1; }
wait_free() { for _ in $(seq 1 200); do (exec 3<> "/dev/tcp/127.0.0.1/$1") 2> /dev/null || return 0; sleep 0.05; done; return 1; }

server_cmd() { # TARGET -> the server command line
  case $1 in
    core-h1 | core-h2 | core-close) echo "node --conditions=@pingora-ts/source --import $TSX $CORE_SERVER $PORT" ;;
    base-h1 | base-h2 | base-close) echo "node --conditions=@pingora-ts/source --import $TSX ${BASE_SERVER:?BASE_SERVER unset} $PORT" ;;
    node-h1 | node-close) echo "node $HERE/node-server.mjs h1 $PORT" ;;
    settings-close) echo "node --conditions=@pingora-ts/source --import $TSX $HERE/node-settings-server.ts $PORT" ;;
    node-h2) echo "node $HERE/node-server.mjs h2 $PORT" ;;
    plain-core-h1) echo "node --conditions=@pingora-ts/source --import $TSX $ROOT/bench/core-hello/core-server.ts $PORT" ;;
    plain-node-h1) echo "node --import $TSX $ROOT/bench/core-hello/node-server.ts $PORT" ;;
    *) echo "unknown target $1" >&2; return 1 ;;
  esac
}
load() { # TARGET SECONDS OUT -> requests done
  case $1 in
    *-close)
      taskset -c 1 wrk -t1 -c10 -d"$2"s -H 'Connection: close' "https://127.0.0.1:$PORT/" > "$3" 2>&1
      awk '/ requests in / { print $1 }' "$3" ;;
    *-h1) local scheme=https
      case $1 in plain-*) scheme=http ;; esac
      taskset -c 1 wrk -t1 -c50 -d"$2"s "$scheme://127.0.0.1:$PORT/" > "$3" 2>&1
      awk '/ requests in / { print $1 }' "$3" ;;
    *-h2)
      taskset -c 1 h2load -t1 -c10 -m10 -D "$2" "https://127.0.0.1:$PORT/" > "$3" 2>&1
      grep -q '^Application protocol: h2' "$3" || { echo "no h2 negotiated" >&2; echo 0; return; }
      awk '/^requests:/ { for (i = 1; i <= NF; i++) if ($(i + 1) ~ /^succeeded/) print $i }' "$3" ;;
  esac
}

RESULTS=$(mktemp)
OUTF=$(mktemp)
echo "node $(node -v), ${SECS}s x $ROUNDS rounds, h1: wrk -c50, h2: h2load -c10 -m10, close: wrk -c10" >&2
count=${#NAMES[@]}
for round in $(seq 1 "$ROUNDS"); do
  for ((i = 0; i < count; i++)); do
    name=${NAMES[$(((i + round - 1) % count))]}
    wait_free "$PORT" || echo "port $PORT still busy" >&2
    cmd=$(server_cmd "$name") || exit 2
    # shellcheck disable=SC2086
    taskset -c 0 $cmd > /dev/null 2>&1 &
    pid=$!
    wait_port "$PORT" || { echo "$name did not listen" >&2; kill "$pid"; continue; }
    load "$name" "$WARM" "$OUTF" > /dev/null
    t0=$(cpu_ticks "$pid")
    n=$(load "$name" "$SECS" "$OUTF")
    t1=$(cpu_ticks "$pid")
    kill "$pid" 2> /dev/null
    wait "$pid" 2> /dev/null
    awk -v n="$name" -v r="$round" -v t=$((t1 - t0)) -v hz="$CLK_TCK" -v ok="${n:-0}" -v s="$SECS" \
      'BEGIN { if (ok == 0) { printf "%s round %s: no requests\n", n, r > "/dev/stderr"; exit }
               printf "%s %.0f %.2f\n", n, ok / s, (t / hz) * 1e6 / ok
               printf "%-14s round %s %8.0f req/s %8.2f us CPU/request\n", n, r, ok / s, (t / hz) * 1e6 / ok > "/dev/stderr" }' >> "$RESULTS"
  done
done
rm -f "$OUTF"
echo "medians of $ROUNDS (CPU us per request):"
for name in "${NAMES[@]}"; do
  grep "^$name " "$RESULTS" | sort -k3,3n | awk -v n="$name" '{ r[NR] = $2; c[NR] = $3 }
    END { if (NR == 0) exit; m = int((NR + 1) / 2)
          printf "%-14s %8.0f req/s %8.2f us/request (min %.2f, max %.2f)\n", n, r[m], c[m], c[1], c[NR] }'
done
rm -f "$RESULTS"
