#!/usr/bin/env bash
# Compares the pingora-ts load balancer (examples/load-balancer) with nginx, node-http-proxy,
# @fastify/reply-from, a node:http pass-through and undici, using the shared harness
# ../shared/bench/run.sh (same origin, interleaved rounds, ratios to nginx).
#
#   bash bench/proxy/run.sh [harness options] [SCENARIO ...]
#
# SCENARIO: small 64k post1m close h2 (default: small 64k post1m; `-s a,b` works too).
# Harness options pass through: -d SEC, -w SEC, -r ROUNDS, -c CONNS, -o DIR, --no-pin, -b NAME.
# Environment:
#   PINGORA_BENCH_TARGETS  targets to compare (default: pingora-ts nginx http-proxy fastify
#                          node-http undici); `pingora-ts-tsx` runs the example under tsx
#   PINGORA_BENCH_HARNESS  the harness (default: ../shared/bench/run.sh next to the checkout)
# The example is rebuilt once per invocation (see pingora-ts.sh), so each run measures the
# current sources. Results: the harness's directory (-o), summary printed at the end.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HARNESS=${PINGORA_BENCH_HARNESS:-$ROOT/../shared/bench/run.sh}
[ -f "$HARNESS" ] || { echo "harness not found: $HARNESS (set PINGORA_BENCH_HARNESS)" >&2; exit 1; }

scenarios=()
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    -s) IFS=, read -r -a more <<< "$2"; scenarios+=("${more[@]}"); shift 2 ;;
    -d|-w|-r|-c|-o|-b) args+=("$1" "$2"); shift 2 ;;
    --no-pin) args+=("$1"); shift ;;
    --) shift ;; # `pnpm bench -- ...` passes it through
    -h|--help) sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) scenarios+=("$1"); shift ;;
  esac
done
[ ${#scenarios[@]} -gt 0 ] || scenarios=(small 64k post1m)
scenario_list=$(IFS=,; echo "${scenarios[*]}")

# Build the bundle once, from the current sources, before any timed run.
build_dir=$(mktemp -d /tmp/pingora-ts-bench.XXXXXX)
trap 'rm -rf "$build_dir"' EXIT
(cd "$ROOT" && PINGORA_BENCH_BUILD_DIR=$build_dir node_modules/.bin/tsup --config bench/proxy/tsup.config.ts)

launcher=$ROOT/bench/proxy/pingora-ts.sh
targets=()
for t in ${PINGORA_BENCH_TARGETS:-pingora-ts nginx http-proxy fastify node-http undici}; do
  case "$t" in
    pingora-ts) targets+=("pingora-ts=PINGORA_BENCH_BUILD_DIR='$build_dir' bash '$launcher'") ;;
    pingora-ts-tsx) targets+=("pingora-ts-tsx=PINGORA_TS_RUNNER=tsx bash '$launcher'") ;;
    *) targets+=("$t") ;;
  esac
done

cd "$ROOT"
bash "$HARNESS" -s "$scenario_list" -b nginx "${args[@]}" "${targets[@]}"
