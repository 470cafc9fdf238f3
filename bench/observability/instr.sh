#!/usr/bin/env bash
# User-space instructions per small GET of the bundled observability example in one mode (bare,
# metrics, tracing with no SDK, tracing-sdk: the OTel SDK exporting over OTLP/HTTP to the origin's
# /upload, which answers 200), counted by bench/perf/instr.sh. Needs an origin on ORIGIN_PORT.
#   bash bench/observability/instr.sh DIR bare|metrics|tracing|tracing-sdk [REQUESTS] [ORIGIN_PORT]
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dir=$1 mode=$2 n=${3:-2000} origin=${4:-28090}
case $mode in
  bare) flags="--metrics off --tracing off" ;;
  metrics) flags="--metrics 127.0.0.1:0 --tracing off" ;;
  tracing) flags="--metrics off --tracing on" ;;
  tracing-sdk) flags="--metrics off --tracing on --otlp http://127.0.0.1:$origin/upload" ;;
  *) echo "unknown mode: $mode" >&2; exit 2 ;;
esac
PERF_BUNDLE=observability.js PERF_ARGS="$flags --access-log off" PERF_LABEL=$mode \
  exec bash "$HERE/../perf/instr.sh" "$dir" small "$n" "$origin"
