#!/usr/bin/env bash
# Quick interleaved A/B of bundled load balancers (bench/perf/build.sh DIR), CPU us/request
# and req/s, against a running origin.  bash bench/perf/ab.sh [-s small] [-d 5] [-r 3] DIR...
# A shorthand for ab-cmd.sh with one `DIR=bash bench/perf/lb.sh DIR` target per bundle.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
opts=()
while getopts s:d:r: o; do case $o in s | d | r) opts+=("-$o" "$OPTARG") ;; *) exit 2 ;; esac; done
shift $((OPTIND - 1))
targets=()
for dir in "$@"; do targets+=("$(basename "$dir")=bash $HERE/lb.sh $dir"); done
exec bash "$HERE/ab-cmd.sh" "${opts[@]}" "${targets[@]}"
