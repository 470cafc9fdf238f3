#!/usr/bin/env bash
# Launches a bundled load-balancer example (built by bench/perf/build.sh) for the shared harness.
#   PORT=... UPSTREAM=http://127.0.0.1:18080 bash bench/perf/lb.sh BUNDLE_DIR [node flags...]
set -euo pipefail
: "${PORT:?PORT must be set}" "${UPSTREAM:?UPSTREAM must be set}"
dir=$1; shift
upstream=${UPSTREAM#http://}
exec node "$@" "$dir/load-balancer.js" --listen "${HOST:-127.0.0.1}:$PORT" --upstream "${upstream%/}"
