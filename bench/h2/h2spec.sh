#!/usr/bin/env bash
# RFC 9113 / RFC 7541 conformance of core's HTTP/2 server with h2spec (github.com/summerwind/h2spec),
# all of its cases (--strict), on both engines (H2Options.engine 'native' and 'node'), over h2c
# with prior knowledge and over TLS (ALPN h2, the test PKI's localhost certificate). Not in CI:
# it needs an h2spec binary, which this repository does not build or ship. CI runs the same cases
# as our own tests: packages/core/test/http2/h2spec-cases.test.ts.
#
#   H2SPEC=/path/to/h2spec bench/h2/h2spec.sh [PORT]
#
# Prints each run's summary line and its failed cases; the full reports go to $OUT (a temporary
# directory unless set). Exits non-zero when the native engine fails a case on TLS, or any case
# on h2c but 3.5/2 (see docs/http2.md: an h2c port that also speaks HTTP/1.1 answers an invalid
# preface with an HTTP/1.1 400, which h2spec counts as a failure).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
H2SPEC=${H2SPEC:-h2spec}
PORT=${1:-18300}
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"
TSX="$ROOT/node_modules/tsx/dist/esm/index.mjs"
command -v "$H2SPEC" >/dev/null || { echo "no h2spec binary: set H2SPEC=/path/to/h2spec" >&2; exit 1; }
wait_port() { for _ in $(seq 1 400); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }
status=0
for engine in native node; do
  node --conditions=@pingora-ts/source --import "$TSX" "$HERE/h2spec-server.ts" --engine "$engine" "$PORT" \
    >"$OUT/server-$engine.log" 2>&1 &
  pid=$!
  wait_port "$PORT"; wait_port $((PORT + 1))
  for transport in h2c tls; do
    flags=(-S -o 2 -h 127.0.0.1 -p "$PORT")
    [ "$transport" = tls ] && flags=(-S -o 2 -h 127.0.0.1 -p $((PORT + 1)) -t -k)
    report="$OUT/$engine-$transport.txt"
    "$H2SPEC" "${flags[@]}" >"$report" 2>&1 || true
    echo "$engine $transport: $(tail -n 1 "$report")"
    sed -n '/^Failures:/,$p' "$report" | grep -a '×' | sed 's/^ */    /' || true
    if [ "$engine" = native ]; then
      failed=$(sed -n '/^Failures:/,$p' "$report" | grep -a -c '×' || true)
      allowed=0
      [ "$transport" = h2c ] && allowed=$(sed -n '/^Failures:/,$p' "$report" | grep -a -c '× 2: Sends invalid connection preface' || true)
      [ "$failed" -gt "$allowed" ] && status=1
    fi
  done
  kill "$pid"; wait "$pid" 2>/dev/null || true
done
echo "reports: $OUT"
exit "$status"
