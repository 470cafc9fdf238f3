#!/usr/bin/env bash
# Bundles examples/load-balancer from the current sources into DIR (plain node, no tsx at run
# time; the same tsup/esbuild transform and node20 target as the packages' builds).
#   bash bench/perf/build.sh DIR
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
PINGORA_BENCH_BUILD_DIR=$1 node_modules/.bin/tsup --config bench/proxy/tsup.config.ts
