#!/usr/bin/env bash
# HTTP/2 with bodies: proxy CPU per request, throughput and correctness of pingora-ts on both
# downstream HTTP/2 engines (`node`: node:http2, `native`: our own frame layer, ADR 0026) against
# nginx and haproxy, side by side. The shared harness's h2 scenario only has GET /small; this
# adds large responses, uploads and the h2 -> h2 path:
#   get64k   GET /64k: a 64 KiB response                    (h2load -n N, 10 connections x 10 streams)
#   get1m    GET /1m: a 1 MiB response
#   post64k  POST /upload with a 64 KiB body (h2load -d FILE), 3-byte response
#   post1m   POST /upload with a 1 MiB body
#   h2up     GET /small, the proxy speaking h2c to the origin (pingora-ts --upstream-h2, haproxy
#            `proto h2`; nginx has no plain HTTP/2 upstream and stays h2 -> HTTP/1.1: a reference)
#   h2up1m   GET /1m the same way
# Every proxy forwards to the same nginx origin (HTTP/1.1 keep-alive, or h2c for h2up*), the
# proxy pinned to CPU 0, origin and h2load to CPU 1, targets interleaved per repetition, CPU per
# request from utime+stime of the target's process tree (/proc/PID/stat), peak RSS (VmHWM).
# A run counts only if every request succeeded and, for GETs, the DATA bytes h2load received
# are exactly N x the body size (no truncated body). Run it under `flock /tmp/bench.lock`.
#
#   bash bench/h2/bodies.sh [-s LIST] [-r REPS] [-w WARMUP_S] [-t] BUNDLE_DIR [NAME=COMMAND...]
#
# -t: h2 over TLS (ALPN h2, test PKI's a.test) instead of h2c. BUNDLE_DIR holds
# load-balancer.js (bash bench/perf/build.sh DIR). Extra targets get PORT, UPSTREAM
# (host:port, HTTP/1.1), UPSTREAM_H2 (host:port, h2c), SCEN, CERT, KEY in the environment.
# TARGETS="native native-b" runs only those built-in targets; BUNDLE_B=DIR adds `native-b`: the native engine from a second bundle (an A/B beside the peers).
# Requests per run: N_GET64K N_GET1M N_POST64K N_POST1M N_H2UP N_H2UP1M (env).
# Ports: BODIES_BENCH_ORIGIN_PORT (default 28480; +2 is its h2c port), BODIES_BENCH_PORT (28481).
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
REPS=3 WARM=2 TLS=0 SCENARIOS=get64k,get1m,post64k,post1m,h2up,h2up1m
while getopts "s:r:w:t" o; do
  case $o in
    s) SCENARIOS=$OPTARG ;;
    r) REPS=$OPTARG ;;
    w) WARM=$OPTARG ;;
    t) TLS=1 ;;
    *) exit 2 ;;
  esac
done
shift $((OPTIND - 1))
BUNDLE=${1:?usage: bodies.sh [-s LIST] [-r REPS] [-w WARMUP_S] [-t] BUNDLE_DIR [NAME=COMMAND...]}
shift
BUNDLE=$(cd "$BUNDLE" && pwd)
for tool in h2load nginx haproxy curl taskset setsid; do
  command -v "$tool" > /dev/null || { echo "missing $tool (apt-get install -y nghttp2-client nginx haproxy curl)" >&2; exit 1; }
done
ORIGIN_PORT=${BODIES_BENCH_ORIGIN_PORT:-28480}
ORIGIN_H2_PORT=$((ORIGIN_PORT + 2))
PORT=${BODIES_BENCH_PORT:-28481}
CERTS=$ROOT/tooling/test-utils/certs
CLK_TCK=$(getconf CLK_TCK)
OUT=$(mktemp -d /tmp/h2-bodies-bench.XXXXXX)
chmod 755 "$OUT"
export CERT=$CERTS/a.test.pem KEY=$CERTS/a.test.key PORT
export UPSTREAM=127.0.0.1:$ORIGIN_PORT UPSTREAM_H2=127.0.0.1:$ORIGIN_H2_PORT
cat "$CERT" "$KEY" > "$OUT/haproxy.pem"
if [ "$TLS" = 1 ]; then SCHEME=https; else SCHEME=http; fi

LEADERS=()
cleanup() { for p in "${LEADERS[@]}"; do kill -- -"$p" 2> /dev/null; done; }
trap cleanup EXIT
start() { # CPU LOG COMMAND: a new session (process group) pinned to CPU; prints its leader
  setsid taskset -c "$1" bash -c "$3" > "$2" 2>&1 < /dev/null &
  echo $!
}
wait_port() { for _ in $(seq 1 400); do (exec 3<> "/dev/tcp/127.0.0.1/$1") 2> /dev/null && return 0; sleep 0.05; done; return 1; }
wait_free() { for _ in $(seq 1 200); do (exec 3<> "/dev/tcp/127.0.0.1/$1") 2> /dev/null || return 0; sleep 0.05; done; return 1; }
tree_pids() {
  ps -e -o pid=,ppid= | awk -v r="$1" '{ k[$2] = k[$2] " " $1 } END { n = 1; q[1] = r;
    for (i = 1; i <= n; i++) { print q[i]; m = split(k[q[i]], a, " "); for (j = 1; j <= m; j++) q[++n] = a[j] } }'
}
tree_ticks() { # ROOT: utime+stime of ROOT and its descendants
  local total=0 p
  for p in $(tree_pids "$1"); do
    total=$((total + $(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$p/stat" 2> /dev/null || echo 0)))
  done
  echo "$total"
}
tree_hwm_kib() { # ROOT: sum of VmHWM over the tree
  local total=0 p v
  for p in $(tree_pids "$1"); do
    v=$(awk '/^VmHWM:/ { print $2 }' "/proc/$p/status" 2> /dev/null)
    total=$((total + ${v:-0}))
  done
  echo "$total"
}

# ---- origin: the shared harness's origin config plus a 1 MiB file
mkdir -p "$OUT/origin/www"
head -c 65536 /dev/zero | tr '\0' 'x' > "$OUT/origin/www/64k.bin"
head -c 1048576 /dev/zero | tr '\0' 'y' > "$OUT/origin/www/1m.bin"
head -c 65536 /dev/zero | tr '\0' 'p' > "$OUT/64k.body"
head -c 1048576 /dev/zero | tr '\0' 'q' > "$OUT/1m.body"
: > "$OUT/origin/www/upload"
sed -e "s|@RUN@|$OUT/origin|g" -e "s|@ORIGIN_PORT@|$ORIGIN_PORT|g" -e "s|@ORIGIN_H2_PORT@|$ORIGIN_H2_PORT|g" \
  -e 's|^\( *\)location = /64k .*$|&\n\1location = /1m { default_type application/octet-stream; try_files /1m.bin =404; }|' \
  /work/shared/bench/conf/origin.nginx.conf.tmpl > "$OUT/origin/nginx.conf"
grep -q 'location = /1m' "$OUT/origin/nginx.conf" || { echo "could not add /1m to the origin config" >&2; exit 1; }
LEADERS+=("$(start 1 "$OUT/origin.log" "exec nginx -p '$OUT/origin/' -e '$OUT/origin/error.log' -c '$OUT/origin/nginx.conf' -g 'daemon off;'")")
wait_port "$ORIGIN_PORT" || { echo "origin did not start" >&2; cat "$OUT/origin.log" >&2; exit 1; }

# ---- scenarios
path_of() { case $1 in get64k) echo /64k ;; get1m | h2up1m) echo /1m ;; post*) echo /upload ;; *) echo /small ;; esac; }
size_of() { case $1 in get64k) echo 65536 ;; get1m | h2up1m) echo 1048576 ;; post*) echo 3 ;; *) echo 13 ;; esac; }
data_of() { case $1 in post64k) echo "$OUT/64k.body" ;; post1m) echo "$OUT/1m.body" ;; *) echo "" ;; esac; }
count_of() {
  case $1 in
    get64k) echo "${N_GET64K:-20000}" ;;
    get1m) echo "${N_GET1M:-3000}" ;;
    post64k) echo "${N_POST64K:-20000}" ;;
    post1m) echo "${N_POST1M:-3000}" ;;
    h2up) echo "${N_H2UP:-60000}" ;;
    h2up1m) echo "${N_H2UP1M:-3000}" ;;
  esac
}

# ---- target configs, per scenario (h2up* change the upstream)
configure() { # SCENARIO: fills CMD[]
  local s=$1 up=$UPSTREAM hup="" nginx_listen=http2 hap_bind="proto h2" lb_tls="" lb_up=$UPSTREAM lb_h2=""
  case $s in h2up*) hup=" proto h2" lb_up=$UPSTREAM_H2 lb_h2=--upstream-h2 ;; esac
  if [ "$TLS" = 1 ]; then
    nginx_listen="ssl http2;\n        ssl_certificate $CERT;\n        ssl_certificate_key $KEY"
    hap_bind="ssl crt $OUT/haproxy.pem alpn h2,http/1.1"
    lb_tls="--tls-cert '$CERT' --tls-key '$KEY'"
  else
    lb_tls=--h2c
  fi
  mkdir -p "$OUT/$s/nginx" "$OUT/$s/haproxy"
  sed -e "/^ *listen /s|@PORT@ @LISTEN_OPTS@|$PORT $nginx_listen|" \
    -e "s|@UPSTREAM@|$up|g" -e "s|@RUN@|$OUT/$s/nginx|g" -e "s|@BODY_BUF@|64k|g" \
    /work/shared/bench/conf/proxy.nginx.conf.tmpl > "$OUT/$s/nginx/nginx.conf"
  local hap_up=$up
  [ -n "$hup" ] && hap_up="$UPSTREAM_H2$hup"
  sed -e "s|@PORT@|$PORT|g" -e "s|@UPSTREAM@|$hap_up|g" -e "s|@BIND_OPTS@|$hap_bind|g" \
    -e "s|@BUFSIZE@|16384|g" /work/shared/bench/conf/proxy.haproxy.cfg.tmpl > "$OUT/$s/haproxy/haproxy.cfg"
  CMD[nginx]="exec nginx -p '$OUT/$s/nginx/' -e '$OUT/$s/nginx/error.log' -c '$OUT/$s/nginx/nginx.conf' -g 'daemon off;'"
  CMD[haproxy]="exec haproxy -f '$OUT/$s/haproxy/haproxy.cfg' -db"
  CMD[node]="exec node '$BUNDLE/load-balancer.js' --listen 127.0.0.1:$PORT --upstream $lb_up $lb_h2 $lb_tls"
  CMD[native]="exec node '$BUNDLE/load-balancer.js' --listen 127.0.0.1:$PORT --upstream $lb_up $lb_h2 $lb_tls --h2-engine native"
  [ -n "${BUNDLE_B:-}" ] &&
    CMD[native-b]="exec node '$BUNDLE_B/load-balancer.js' --listen 127.0.0.1:$PORT --upstream $lb_up $lb_h2 $lb_tls --h2-engine native"
}

declare -A CMD=() EXTRA=()
NAMES=(${TARGETS:-nginx haproxy node native})
[ -n "${BUNDLE_B:-}" ] && NAMES+=(native-b) && BUNDLE_B=$(cd "$BUNDLE_B" && pwd)
for t in "$@"; do EXTRA[${t%%=*}]=${t#*=}; NAMES+=("${t%%=*}"); done
IFS=, read -r -a SCEN_LIST <<< "$SCENARIOS"

RESULTS=$OUT/results.tsv
echo "uptime at start: $(uptime)" | tee "$OUT/load.txt"
for rep in $(seq 1 "$REPS"); do
  for s in "${SCEN_LIST[@]}"; do
    configure "$s"
    path=$(path_of "$s") size=$(size_of "$s") data=$(data_of "$s") n=$(count_of "$s")
    [ -n "$n" ] || { echo "unknown scenario $s" >&2; exit 2; }
    dflag=()
    [ -n "$data" ] && dflag=(-d "$data")
    url=$SCHEME://127.0.0.1:$PORT$path
    for name in "${NAMES[@]}"; do
      cmd=${EXTRA[$name]:-${CMD[$name]}}
      wait_free "$PORT" || echo "port $PORT still busy" >&2
      leader=$(SCEN=$s start 0 "$OUT/$rep-$s-$name.log" "$cmd")
      LEADERS+=("$leader")
      if ! wait_port "$PORT"; then echo "$name did not listen" >&2; cat "$OUT/$rep-$s-$name.log" >&2; continue; fi
      cflag=(--http2-prior-knowledge)
      [ "$TLS" = 1 ] && cflag=(-k --http2)
      if [ -n "$data" ]; then
        got=$(curl -s "${cflag[@]}" --data-binary "@$data" -H 'content-type: application/octet-stream' \
          -o /dev/null -w '%{http_version} %{http_code} %{size_download}' "$url")
      else
        got=$(curl -s "${cflag[@]}" -o /dev/null -w '%{http_version} %{http_code} %{size_download}' "$url")
      fi
      [ "$got" = "2 200 $size" ] || { echo "$s $name: check failed ($got)" >&2; kill -- -"$leader"; continue; }
      taskset -c 1 timeout 60 h2load -t1 -c10 -m10 -D "$WARM" "${dflag[@]}" "$url" > /dev/null 2>&1
      t0=$(tree_ticks "$leader")
      taskset -c 1 timeout 300 h2load -t1 -c10 -m10 -n "$n" "${dflag[@]}" "$url" > "$OUT/$rep-$s-$name.load" 2>&1
      t1=$(tree_ticks "$leader")
      hwm=$(tree_hwm_kib "$leader")
      kill -- -"$leader" 2> /dev/null
      wait "$leader" 2> /dev/null
      # succeeded, 2xx, DATA bytes, seconds
      read -r ok twoxx databytes secs < <(awk '
        /^requests:/ { for (i = 1; i <= NF; i++) if ($(i + 1) ~ /^succeeded/) ok = $i }
        /^status codes:/ { x = $3 }
        /^traffic:/ { for (i = 1; i <= NF; i++) if ($(i + 1) ~ /^data/) { d = $i; gsub(/[()]/, "", d) } }
        /^finished in/ { v = $3; sub(/,$/, "", v); if (v ~ /ms$/) { sub(/ms$/, "", v); v /= 1000 } else sub(/s$/, "", v); t = v }
        END { print ok + 0, x + 0, d + 0, t + 0 }' "$OUT/$rep-$s-$name.load")
      status=ok
      [ "$ok" = "$n" ] && [ "$twoxx" = "$n" ] || status="failed:$ok/$n"
      [ "$status" = ok ] && [ "$databytes" != $((n * size)) ] && status="bytes:$databytes!=$((n * size))"
      awk -v n="$name" -v s="$s" -v r="$rep" -v t=$((t1 - t0)) -v hz="$CLK_TCK" -v ok="$ok" -v secs="$secs" \
        -v db="$databytes" -v st="$status" -v hwm="$hwm" -v upsz="$([ -n "$data" ] && stat -c %s "$data" || echo 0)" \
        'BEGIN { if (ok == 0 || secs == 0) { printf "%s\t%s\t%s\tNA\tNA\tNA\tNA\t%s\n", r, s, n, st; exit }
                 printf "%s\t%s\t%s\t%.0f\t%.1f\t%.1f\t%.1f\t%s\n", r, s, n, ok / secs, (t / hz) * 1e6 / ok,
                   (db + ok * upsz) / secs / 1048576, hwm / 1024, st }' | tee -a "$RESULTS"
    done
  done
done

echo
echo "medians of $REPS (min-max) of proxy CPU us/request; ratios of the medians; $([ "$TLS" = 1 ] && echo 'h2 over TLS' || echo h2c), h2load 10 x 10"
echo "uptime at end: $(uptime)" | tee -a "$OUT/load.txt"
awk -F'\t' '
  $5 != "NA" && $8 == "ok" { k = $2 SUBSEP $3; c[k]++; cpu[k, c[k]] = $5; rps[k, c[k]] = $4; mb[k, c[k]] = $6; rss[k, c[k]] = $7
    if (!($2 in ss)) { ss[$2] = 1; so[++ns] = $2 } if (!($3 in tt)) { tt[$3] = 1; to[++nt] = $3 } }
  $8 != "ok" { bad[$2 SUBSEP $3] = bad[$2 SUBSEP $3] " " $8
    if (!($2 in ss)) { ss[$2] = 1; so[++ns] = $2 } if (!($3 in tt)) { tt[$3] = 1; to[++nt] = $3 } }
  function med(arr, k, m,   i, j, v, t) { for (i = 1; i <= m; i++) v[i] = arr[k, i]
    for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (v[j] + 0 < v[i] + 0) { t = v[i]; v[i] = v[j]; v[j] = t }
    lo = v[1]; hi = v[m]; return m % 2 ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2 }
  END {
    for (a = 1; a <= ns; a++) { s = so[a]
      printf "\n%-8s %-10s %8s %8s %24s %9s %10s %9s %s\n", "scenario", "target", "req/s", "MiB/s", "CPU us/req (min-max)", "vs nginx", "vs haproxy", "peak RSS", "failures"
      for (b = 1; b <= nt; b++) { t = to[b]; k = s SUBSEP t
        if (c[k] == 0) { printf "%-8s %-10s %s\n", s, t, "no clean run:" bad[k]; continue }
        mc[k] = med(cpu, k, c[k]); l = lo; h = hi; mr = med(rps, k, c[k]); mm = med(mb, k, c[k]); mx = med(rss, k, c[k])
        nk = s SUBSEP "nginx"; hk = s SUBSEP "haproxy"
        printf "%-8s %-10s %8.0f %8.1f %10.1f (%.1f-%.1f) %8.2fx %9.2fx %8.0fM %s\n", s, t, mr, mm, mc[k], l, h,
          (c[nk] > 0) ? mc[k] / med(cpu, nk, c[nk]) : 0, (c[hk] > 0) ? mc[k] / med(cpu, hk, c[hk]) : 0, mx, bad[k] }
    }
  }' "$RESULTS"
echo "raw results and logs: $OUT"
