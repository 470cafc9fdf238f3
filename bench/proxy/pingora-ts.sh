#!/usr/bin/env bash
# Benchmark launcher for the shared harness (../shared/bench/run.sh): starts the load-balancer
# example (examples/load-balancer) on 127.0.0.1:$PORT in front of $UPSTREAM.
#
#   PORT=18081 UPSTREAM=http://127.0.0.1:18080 bash bench/proxy/pingora-ts.sh
#
# PINGORA_TS_RUNNER picks how the TypeScript runs:
#   bundle (default)  plain `node` on one JS file built from the sources by tsup/esbuild
#                     (bench/proxy/tsup.config.ts, target node20), like a production user's
#                     built output; built on first use into $PINGORA_BENCH_BUILD_DIR
#   tsx               `node --import tsx` on the sources (the demo's way); transpiles at load
#                     time only, run as one process so the harness measures no wrapper
# Extra arguments go to the example.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
: "${PORT:?PORT must be set}" "${UPSTREAM:?UPSTREAM must be set (http://host:port)}"
upstream=${UPSTREAM#http://}
upstream=${upstream%/}
listen=${HOST:-127.0.0.1}:$PORT

case "${PINGORA_TS_RUNNER:-bundle}" in
  bundle)
    build_dir=${PINGORA_BENCH_BUILD_DIR:-/tmp/pingora-ts-bench}
    bundle=$build_dir/load-balancer.js
    if [ ! -f "$bundle" ]; then
      (cd "$ROOT" && PINGORA_BENCH_BUILD_DIR=$build_dir node_modules/.bin/tsup --config bench/proxy/tsup.config.ts)
    fi
    exec node "$bundle" --listen "$listen" --upstream "$upstream" "$@"
    ;;
  tsx)
    cd "$ROOT"
    exec node --conditions=@pingora-ts/source --import tsx \
      examples/load-balancer/src/main.ts --listen "$listen" --upstream "$upstream" "$@"
    ;;
  *)
    echo "PINGORA_TS_RUNNER must be bundle or tsx, got '$PINGORA_TS_RUNNER'" >&2
    exit 2
    ;;
esac
