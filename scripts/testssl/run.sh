#!/usr/bin/env bash
# Scans three TLS endpoints with testssl.sh (Debian's package), side by side, on the same test
# certificate (tooling/test-utils/certs/localhost, ECDSA P-256, chain with the intermediate):
#   core      core's TLS listener with its defaults (ListeningService.addTls)
#   demo      the load-balancer demo in its TLS mode (--tls-cert/--tls-key)
#   nginx     nginx with Mozilla's "intermediate" configuration (ssl-config.mozilla.org, v5.7)
# then prints a table (check, pingora-ts core, demo, nginx) of every check whose result is not
# the same OK/INFO on all three, and exits 1 when core or the demo rates worse than nginx on one.
# Slow (several minutes per endpoint; the three scans run at once): not a CI test.
#   bash scripts/testssl/run.sh [OUT_DIR]          (needs: apt-get install -y testssl.sh nginx)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OUT=${1:-$(mktemp -d /tmp/testssl.XXXXXX)}
mkdir -p "$OUT"
CERTS=$ROOT/tooling/test-utils/certs
CERT=$CERTS/localhost.pem KEY=$CERTS/localhost.key
for tool in testssl nginx openssl; do
  command -v "$tool" > /dev/null || { echo "missing $tool: apt-get install -y testssl.sh nginx" >&2; exit 2; }
done
free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }
CORE_PORT=$(free_port) DEMO_PORT=$(free_port) NGINX_PORT=$(free_port)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2> /dev/null || true; done; }
trap cleanup EXIT

cd "$ROOT"
npx tsx --conditions=@pingora-ts/source scripts/testssl/core-listener.ts "$CORE_PORT" "$CERT" "$KEY" > "$OUT/core.log" 2>&1 &
pids+=($!)
(cd examples/load-balancer && exec node --import tsx --conditions=@pingora-ts/source src/main.ts \
  --listen "127.0.0.1:$DEMO_PORT" --tls-cert "$CERT" --tls-key "$KEY") > "$OUT/demo.log" 2>&1 &
pids+=($!)

# nginx, Mozilla intermediate v5.7, with the RFC 7919 ffdhe2048 group Mozilla ships.
mkdir -p "$OUT/nginx/logs"
npx tsx --conditions=@pingora-ts/source -e \
  "import('./packages/tls/src/profile.ts').then((m) => process.stdout.write(m.FFDHE2048_PEM))" > "$OUT/nginx/ffdhe2048.pem"
cat > "$OUT/nginx/nginx.conf" << CONF
daemon off;
master_process off;
pid $OUT/nginx/nginx.pid;
error_log $OUT/nginx/logs/error.log;
events {}
http {
  access_log off;
  server {
    listen 127.0.0.1:$NGINX_PORT ssl;
    ssl_certificate $CERT;
    ssl_certificate_key $KEY;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ecdh_curve X25519:prime256v1:secp384r1;
    ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305;
    ssl_prefer_server_ciphers off;
    ssl_session_timeout 1d;
    ssl_session_cache shared:MozSSL:10m;
    ssl_session_tickets off;
    ssl_dhparam $OUT/nginx/ffdhe2048.pem;
    location / { return 200 "ok\n"; }
  }
}
CONF
nginx -p "$OUT/nginx" -c "$OUT/nginx/nginx.conf" > "$OUT/nginx.log" 2>&1 &
pids+=($!)

wait_tls() {
  for _ in $(seq 1 120); do
    if openssl s_client -connect "127.0.0.1:$1" -servername localhost < /dev/null > /dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  echo "nothing answers TLS on port $1 (see $OUT/*.log)" >&2
  exit 1
}
wait_tls "$CORE_PORT"
wait_tls "$DEMO_PORT"
wait_tls "$NGINX_PORT"

scan() {
  # --add-ca: trust the test root, so that only what differs between the servers shows.
  testssl --quiet --color 0 --warnings batch --add-ca "$CERTS/ca.pem" \
    --csvfile "$OUT/$1.csv" "127.0.0.1:$2" > "$OUT/$1.txt" 2>&1 || true
}
scan core "$CORE_PORT" &
scan_core=$!
scan demo "$DEMO_PORT" &
scan_demo=$!
scan nginx "$NGINX_PORT" &
scan_nginx=$!
wait "$scan_core" "$scan_demo" "$scan_nginx"
echo "full reports: $OUT/{core,demo,nginx}.txt"
node "$ROOT/scripts/testssl/compare.mjs" "$OUT/core.csv" "$OUT/demo.csv" "$OUT/nginx.csv"
