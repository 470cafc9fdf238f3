#!/usr/bin/env bash
# The demo: installs what is missing, then starts the load balancer of examples/load-balancer on
# 127.0.0.1:6188 with two embedded local origins. Extra arguments go to the example
# (`--help` lists them). On a system Node older than 22.12 it runs on a Node 24 fetched from the
# npm registry.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/lib/node.sh
command -v pnpm >/dev/null 2>&1 || npm i -g pnpm@10 >/dev/null
pnpm install --frozen-lockfile --silent
exec node_modules/.bin/tsx --conditions=@pingora-ts/source examples/load-balancer/src/main.ts "$@"
