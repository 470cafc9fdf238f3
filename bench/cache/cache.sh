#!/usr/bin/env bash
# Launches the bundled cache example for the shared harness (/work/shared/bench/run.sh):
# every 200 is fresh for 10 minutes (--default-ttl, like proxy_cache_valid 200 10m).
#   PORT=... UPSTREAM=http://127.0.0.1:18080 bash bench/cache/cache.sh BUNDLE_DIR [example flags]
# NODE_FLAGS (optional): flags for node (memory.sh preloads its collector with them).
set -euo pipefail
: "${PORT:?PORT must be set}" "${UPSTREAM:?UPSTREAM must be set}"
dir=$1; shift
upstream=${UPSTREAM#http://}
# shellcheck disable=SC2086 # NODE_FLAGS is a list of flags
exec node ${NODE_FLAGS:-} "$dir/cache.js" --listen "${HOST:-127.0.0.1}:$PORT" --upstream "${upstream%/}" \
  --default-ttl 600 "$@"
