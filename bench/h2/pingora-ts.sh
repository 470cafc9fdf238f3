#!/usr/bin/env bash
# Launcher of the bundled load balancer (bench/perf/build.sh DIR) for the shared harness's h2
# scenario: H2=1 adds --h2c (HTTP/2 with prior knowledge beside HTTP/1.1 on the listener);
# UPSTREAM_H2=HOST:PORT speaks h2c to that origin instead (--upstream-h2: the h2 -> h2 path);
# H2_ENGINE=native|node picks the downstream HTTP/2 engine (--h2-engine; native is the default).
#   PORT=... UPSTREAM=http://127.0.0.1:18080 H2=1 bash bench/h2/pingora-ts.sh BUNDLE_DIR
set -euo pipefail
: "${PORT:?PORT must be set}" "${UPSTREAM:?UPSTREAM must be set}"
dir=$1; shift
upstream=${UPSTREAM#http://}
flags=()
[ "${H2:-0}" = 1 ] && flags+=(--h2c)
[ -n "${H2_ENGINE:-}" ] && flags+=(--h2-engine "$H2_ENGINE")
if [ -n "${UPSTREAM_H2:-}" ]; then upstream=$UPSTREAM_H2; flags+=(--upstream-h2); fi
exec node "$@" "$dir/load-balancer.js" --listen "${HOST:-127.0.0.1}:$PORT" --upstream "${upstream%/}" "${flags[@]}"
