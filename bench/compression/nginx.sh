#!/usr/bin/env bash
# nginx `gzip on` peer of the compression bench. Env: PORT, UPSTREAM, LEVEL.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dir=$(mktemp -d /tmp/bench-gzip-nginx.XXXXXX)
chmod 755 "$dir"
hostport=${UPSTREAM#*://}
sed -e "s|@PORT@|$PORT|g" -e "s|@UPSTREAM@|$hostport|g" -e "s|@RUN@|$dir|g" -e "s|@LEVEL@|${LEVEL:-6}|g" \
  "$here/nginx.conf.tmpl" > "$dir/nginx.conf"
exec nginx -p "$dir/" -e "$dir/error.log" -c "$dir/nginx.conf" -g 'daemon off;'
