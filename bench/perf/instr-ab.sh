#!/usr/bin/env bash
# Runs bench/perf/instr.sh for several bundles in parallel (one port each) and prints
# instructions/request for each.  bash bench/perf/instr-ab.sh SCENARIO N DIR...
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
scenario=$1 n=$2; shift 2
port=28100
pids=()
for dir in "$@"; do
  PERF_PROXY_PORT=$port bash "$HERE/instr.sh" "$dir" "$scenario" "$n" > "/tmp/perf-instr-$port.txt" 2>&1 &
  pids+=($!)
  port=$((port + 1))
done
for p in "${pids[@]}"; do wait "$p"; done
port=28100
for dir in "$@"; do grep instructions "/tmp/perf-instr-$port.txt" || cat "/tmp/perf-instr-$port.txt"; port=$((port + 1)); done
