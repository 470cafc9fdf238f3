#!/usr/bin/env bash
# nginx with proxy_cache (1 worker) for the shared harness: the reference of the hit-path
# benchmark. Env: PORT, UPSTREAM (set by run.sh), PEER_RUN_DIR (optional).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${PORT:?PORT is required}" "${UPSTREAM:?UPSTREAM is required (http://host:port)}"
hostport=${UPSTREAM#*://}; hostport=${hostport%%/*}
dir=${PEER_RUN_DIR:-$(mktemp -d /tmp/bench-nginx-cache.XXXXXX)}
mkdir -p "$dir/cache"; chmod 755 "$dir"
sed -e "s|@PORT@|$PORT|g" -e "s|@UPSTREAM@|$hostport|g" -e "s|@RUN@|$dir|g" \
    "$here/nginx-proxy-cache.conf.tmpl" > "$dir/nginx.conf"
exec nginx -p "$dir/" -e "$dir/error.log" -c "$dir/nginx.conf" -g 'daemon off;'
