#!/usr/bin/env bash
# HTTP/2 over TLS (ALPN h2): proxy CPU per request of pingora-ts against nginx (`ssl http2`) and
# haproxy (`ssl alpn h2`), side by side. The shared harness has no TLS scenario; this is its h2
# scenario with TLS in front: h2load 10 connections x 10 streams (GET /small, a 13-byte body),
# or with `-p h1` its small scenario: HTTP/1.1 over TLS, wrk 50 connections (nginx `ssl`,
# haproxy `ssl alpn http/1.1`),
# every proxy forwarding over HTTP/1.1 keep-alive to the same nginx origin, the proxy pinned to
# CPU 0, origin and h2load to CPU 1, targets interleaved per repetition, CPU per request from
# utime+stime of the target's process tree (/proc/PID/stat). Certificates: the test PKI
# (tooling/test-utils/certs, a.test). Run it under `flock /tmp/bench.lock`.
#
#   bash bench/h2/tls.sh [-p h2|h1] [-r REPS] [-d SECONDS] [-w WARMUP] BUNDLE_DIR [NAME=COMMAND...]
#
# BUNDLE_DIR holds load-balancer.js (bash bench/perf/build.sh DIR). Extra targets are run like
# the built-in ones with PORT, UPSTREAM (host:port), CERT, KEY in the environment, e.g.
#   "floor=node bench/h2/node-h2-proxy.mjs --listen 127.0.0.1:\$PORT --upstream \$UPSTREAM --tls-cert \$CERT --tls-key \$KEY"
# Ports: TLS_BENCH_ORIGIN_PORT (default 28380), TLS_BENCH_PORT (default 28381).
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
REPS=3 SECS=5 WARM=2 PROTO=h2
while getopts "p:r:d:w:" o; do
  case $o in
    p) PROTO=$OPTARG ;;
    r) REPS=$OPTARG ;;
    d) SECS=$OPTARG ;;
    w) WARM=$OPTARG ;;
    *) exit 2 ;;
  esac
done
shift $((OPTIND - 1))
case $PROTO in h1 | h2) ;; *) echo "-p takes h1 or h2" >&2; exit 2 ;; esac
BUNDLE=${1:?usage: tls.sh [-p h2|h1] [-r REPS] [-d SECONDS] [-w WARMUP] BUNDLE_DIR [NAME=COMMAND...]}
shift
BUNDLE=$(cd "$BUNDLE" && pwd)
for tool in h2load wrk nginx haproxy curl taskset setsid; do
  command -v "$tool" > /dev/null || { echo "missing $tool (apt-get install -y nghttp2-client wrk nginx haproxy curl)" >&2; exit 1; }
done
ORIGIN_PORT=${TLS_BENCH_ORIGIN_PORT:-28380}
PORT=${TLS_BENCH_PORT:-28381}
CERTS=$ROOT/tooling/test-utils/certs
CLK_TCK=$(getconf CLK_TCK)
OUT=$(mktemp -d /tmp/h2-tls-bench.XXXXXX)
chmod 755 "$OUT"
export CERT=$CERTS/a.test.pem KEY=$CERTS/a.test.key UPSTREAM=127.0.0.1:$ORIGIN_PORT PORT
cat "$CERT" "$KEY" > "$OUT/haproxy.pem"

LEADERS=()
cleanup() { for p in "${LEADERS[@]}"; do kill -- -"$p" 2> /dev/null; done; }
trap cleanup EXIT
start() { # CPU LOG COMMAND: a new session (process group) pinned to CPU; prints its leader
  setsid taskset -c "$1" bash -c "$3" > "$2" 2>&1 < /dev/null &
  echo $!
}
wait_port() { for _ in $(seq 1 400); do (exec 3<> "/dev/tcp/127.0.0.1/$1") 2> /dev/null && return 0; sleep 0.05; done; return 1; }
wait_free() { for _ in $(seq 1 200); do (exec 3<> "/dev/tcp/127.0.0.1/$1") 2> /dev/null || return 0; sleep 0.05; done; return 1; }
tree_ticks() { # ROOT: utime+stime of ROOT and its descendants
  local total=0 p
  for p in $(ps -e -o pid=,ppid= | awk -v r="$1" '{ k[$2] = k[$2] " " $1 } END { n = 1; q[1] = r;
      for (i = 1; i <= n; i++) { print q[i]; m = split(k[q[i]], a, " "); for (j = 1; j <= m; j++) q[++n] = a[j] } }'); do
    total=$((total + $(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$p/stat" 2> /dev/null || echo 0)))
  done
  echo "$total"
}

# ---- origin: the shared harness's origin config (13-byte /small), HTTP/1.1 only
mkdir -p "$OUT/origin/www"
sed -e "s|@RUN@|$OUT/origin|g" -e "s|@ORIGIN_PORT@|$ORIGIN_PORT|g" -e "s|@ORIGIN_H2_PORT@|$((ORIGIN_PORT + 2))|g" \
  /work/shared/bench/conf/origin.nginx.conf.tmpl > "$OUT/origin/nginx.conf"
: > "$OUT/origin/www/upload"
LEADERS+=("$(start 1 "$OUT/origin.log" "exec nginx -p '$OUT/origin/' -e '$OUT/origin/error.log' -c '$OUT/origin/nginx.conf' -g 'daemon off;'")")
wait_port "$ORIGIN_PORT" || { echo "origin did not start" >&2; cat "$OUT/origin.log" >&2; exit 1; }

# ---- target configs
mkdir -p "$OUT/nginx" "$OUT/haproxy"
if [ "$PROTO" = h2 ]; then NGINX_LISTEN="ssl http2" HAPROXY_ALPN=h2,http/1.1; else NGINX_LISTEN=ssl HAPROXY_ALPN=http/1.1; fi
sed -e "/^ *listen /s|@PORT@ @LISTEN_OPTS@|$PORT $NGINX_LISTEN;\n        ssl_certificate $CERT;\n        ssl_certificate_key $KEY|" \
  -e "s|@UPSTREAM@|$UPSTREAM|g" -e "s|@RUN@|$OUT/nginx|g" -e "s|@BODY_BUF@|64k|g" \
  /work/shared/bench/conf/proxy.nginx.conf.tmpl > "$OUT/nginx/nginx.conf"
sed -e "s|@PORT@|$PORT|g" -e "s|@UPSTREAM@|$UPSTREAM|g" -e "s|@BIND_OPTS@|ssl crt $OUT/haproxy.pem alpn $HAPROXY_ALPN|g" \
  -e "s|@BUFSIZE@|16384|g" /work/shared/bench/conf/proxy.haproxy.cfg.tmpl > "$OUT/haproxy/haproxy.cfg"
declare -A CMD=(
  [nginx]="exec nginx -p '$OUT/nginx/' -e '$OUT/nginx/error.log' -c '$OUT/nginx/nginx.conf' -g 'daemon off;'"
  [haproxy]="exec haproxy -f '$OUT/haproxy/haproxy.cfg' -db"
  [pingora-ts]="exec node '$BUNDLE/load-balancer.js' --listen 127.0.0.1:$PORT --upstream $UPSTREAM --tls-cert '$CERT' --tls-key '$KEY'"
)
NAMES=(nginx haproxy pingora-ts)
for t in "$@"; do CMD[${t%%=*}]=${t#*=}; NAMES+=("${t%%=*}"); done

RESULTS=$OUT/results.tsv
for rep in $(seq 1 "$REPS"); do
  for name in "${NAMES[@]}"; do
    wait_free "$PORT" || echo "port $PORT still busy" >&2
    leader=$(start 0 "$OUT/$rep-$name.log" "${CMD[$name]}")
    LEADERS+=("$leader")
    if ! wait_port "$PORT"; then echo "$name did not listen" >&2; cat "$OUT/$rep-$name.log" >&2; continue; fi
    if [ "$PROTO" = h2 ]; then
      got=$(curl -sk --http2 -o /dev/null -w '%{http_version} %{http_code} %{size_download}' "https://127.0.0.1:$PORT/small")
      [ "$got" = "2 200 13" ] || { echo "$name: check failed ($got)" >&2; kill -- -"$leader"; continue; }
      taskset -c 1 h2load -t1 -c10 -m10 -D "$WARM" "https://127.0.0.1:$PORT/small" > /dev/null 2>&1
      t0=$(tree_ticks "$leader")
      taskset -c 1 h2load -t1 -c10 -m10 -D "$SECS" "https://127.0.0.1:$PORT/small" > "$OUT/$rep-$name.load" 2>&1
      t1=$(tree_ticks "$leader")
      ok=$(awk '/^requests:/ { for (i = 1; i <= NF; i++) if ($(i + 1) ~ /^succeeded/) print $i }' "$OUT/$rep-$name.load")
      proto=$(awk '/^Application protocol:/ { print $3 }' "$OUT/$rep-$name.load")
    else
      got=$(curl -sk --http1.1 -o /dev/null -w '%{http_version} %{http_code} %{size_download}' "https://127.0.0.1:$PORT/small")
      [ "$got" = "1.1 200 13" ] || { echo "$name: check failed ($got)" >&2; kill -- -"$leader"; continue; }
      taskset -c 1 wrk -t1 -c50 -d"${WARM}s" "https://127.0.0.1:$PORT/small" > /dev/null 2>&1
      t0=$(tree_ticks "$leader")
      taskset -c 1 wrk -t1 -c50 -d"${SECS}s" "https://127.0.0.1:$PORT/small" > "$OUT/$rep-$name.load" 2>&1
      t1=$(tree_ticks "$leader")
      # wrk counts non-2xx answers and socket errors apart: only clean 200s count
      ok=$(awk '/ requests in / { n = $1 } /Non-2xx|Socket errors/ { bad = 1 } END { print bad ? 0 : n }' "$OUT/$rep-$name.load")
      proto=http/1.1
    fi
    kill -- -"$leader" 2> /dev/null
    wait "$leader" 2> /dev/null
    awk -v n="$name" -v r="$rep" -v t=$((t1 - t0)) -v hz="$CLK_TCK" -v ok="${ok:-0}" -v s="$SECS" -v p="$proto" \
      'BEGIN { if (ok == 0) { printf "%s\t%s\tNA\tNA\t%s\n", r, n, p; exit }
               printf "%s\t%s\t%.0f\t%.1f\t%s\n", r, n, ok / s, (t / hz) * 1e6 / ok, p }' | tee -a "$RESULTS"
  done
done

echo
[ "$PROTO" = h2 ] && what="h2 over TLS, 10 x 10" || what="HTTP/1.1 over TLS, wrk -c50"
echo "$what, GET /small: medians of $REPS (min-max); ratios of the medians"
awk -F'\t' '
  $4 != "NA" { n = $2; cpu[n, ++c[n]] = $4; rps[n, c[n]] = $3; if (!(n in seen)) { seen[n] = 1; order[++k] = n } }
  function median(arr, n, m,   i, j, v, t) { for (i = 1; i <= m; i++) v[i] = arr[n, i]
    for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (v[j] + 0 < v[i] + 0) { t = v[i]; v[i] = v[j]; v[j] = t }
    lo = v[1]; hi = v[m]; return m % 2 ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2 }
  END {
    for (i = 1; i <= k; i++) { n = order[i]; mc[n] = median(cpu, n, c[n]); l[n] = lo; h[n] = hi; mr[n] = median(rps, n, c[n]) }
    printf "%-12s %8s %22s %9s %11s\n", "target", "req/s", "CPU us/req (min-max)", "vs nginx", "vs haproxy"
    for (i = 1; i <= k; i++) { n = order[i]
      printf "%-12s %8.0f %10.1f (%.1f-%.1f) %8.2fx %10.2fx\n", n, mr[n], mc[n], l[n], h[n],
        ("nginx" in mc) ? mc[n] / mc["nginx"] : 0, ("haproxy" in mc) ? mc[n] / mc["haproxy"] : 0 }
  }' "$RESULTS"
echo "raw results and logs: $OUT"
