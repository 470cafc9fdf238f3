#!/usr/bin/env bash
# CPU time per request of a minimal HTTP/1 server: nginx (return 200), Http1ServerSession and
# node:http, each loaded by wrk over 20 keep-alive connections. CPU = utime+stime of the server
# process from /proc, divided by the requests wrk completed. Run from packages/core:
#   bench/http1-cpu.sh [REPS]
set -uo pipefail
REPS=${1:-3}
NODE=${NODE:-$(npx -y node@24 -p process.execPath)}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cat > "$WORK/nginx.conf" <<CONF
worker_processes 1;
daemon off;
error_log $WORK/error.log;
pid $WORK/nginx.pid;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $WORK/body; proxy_temp_path $WORK/proxy; fastcgi_temp_path $WORK/fcgi;
  uwsgi_temp_path $WORK/uwsgi; scgi_temp_path $WORK/scgi;
  keepalive_requests 1000000;
  server { listen 127.0.0.1:18190; location / { default_type text/plain; return 200 "hello, world!"; } }
}
CONF

measure() {
  local name=$1 port=$2
  shift 2
  "$@" &
  local pid=$!
  for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
  wrk -t1 -c20 -d2s "http://127.0.0.1:$port/" > /dev/null 2>&1
  local tick
  tick=$(getconf CLK_TCK)
  # The server and its children (nginx's worker).
  cpu() {
    local total=0 p s
    for p in $pid $(pgrep -P "$pid"); do
      s=($(sed 's/.*) //' "/proc/$p/stat"))
      total=$((total + s[11] + s[12]))
    done
    echo "$total"
  }
  local c0 c1 out reqs
  c0=$(cpu)
  out=$(wrk -t1 -c20 -d5s "http://127.0.0.1:$port/" 2>&1)
  c1=$(cpu)
  reqs=$(echo "$out" | awk '/requests in/ {print $1}')
  printf '%-10s req/s %8s  cpu/request %6s us\n' "$name" "$(echo "$out" | awk '/Requests\/sec/ {print $2}')" \
    "$(echo "scale=2; ($c1 - $c0) * 1000000 / $tick / $reqs" | bc)"
  kill "$pid"
  wait "$pid" 2> /dev/null
}

for _ in $(seq 1 "$REPS"); do
  measure nginx 18190 nginx -c "$WORK/nginx.conf" -p "$WORK"
  measure session 18191 "$NODE" --conditions=@pingora-ts/source bench/http1-server-peer.ts session 18191
  measure node-http 18192 "$NODE" --conditions=@pingora-ts/source bench/http1-server-peer.ts node 18192
done
