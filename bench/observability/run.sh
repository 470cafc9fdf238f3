#!/usr/bin/env bash
# Metrics on/off (and no-op tracing) side by side: bundles the example, then runs the shared
# harness (nginx origin, wrk, proxy pinned to CPU 0) with the three targets interleaved, under
# the bench lock.   bash bench/observability/run.sh [-d 6] [-r 3]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
dir=${PINGORA_BENCH_BUILD_DIR:-/tmp/pingora-ts-bench-obs}
PINGORA_BENCH_BUILD_DIR=$dir node_modules/.bin/tsup --config bench/observability/tsup.config.ts
obs="bash $ROOT/bench/observability/obs.sh $dir"
exec flock /tmp/bench.lock /work/shared/bench/run.sh -s small "$@" \
  "bare=$obs bare" "metrics=$obs metrics" "tracing=$obs tracing"
