#!/usr/bin/env bash
# Launches the bundled observability example for the shared harness (PORT, UPSTREAM set by it)
# with the observability features named: bare, metrics, tracing (no SDK: the API's no-op).
#   PORT=... UPSTREAM=http://127.0.0.1:18080 bash bench/observability/obs.sh DIR bare|metrics|tracing
set -euo pipefail
: "${PORT:?PORT must be set}" "${UPSTREAM:?UPSTREAM must be set}"
dir=$1 mode=$2
upstream=${UPSTREAM#http://}
metrics=off tracing=off otlp=()
case $mode in
  bare) ;;
  metrics) metrics=127.0.0.1:0 ;;
  tracing) tracing=on ;;
  # The OTel SDK with a batch processor exporting over OTLP/HTTP (to the origin's /upload).
  tracing-sdk) tracing=on; otlp=(--otlp "${UPSTREAM%/}/upload") ;;
  *) echo "unknown mode: $mode" >&2; exit 2 ;;
esac
exec node "$dir/observability.js" --listen "127.0.0.1:$PORT" --upstream "${upstream%/}" \
  --metrics "$metrics" --tracing "$tracing" --access-log off --error-log stderr "${otlp[@]}"
