#!/usr/bin/env bash
# Bundles examples/cache from the current sources into DIR/cache.js (plain node at run time).
#   bash bench/cache/build.sh DIR
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
PINGORA_BENCH_BUILD_DIR=$1 node_modules/.bin/tsup --config bench/cache/tsup.config.ts
