#!/usr/bin/env bash
# Builds every published package and packs it into a tarball: `bash scripts/pack-all.sh [DIR]`
# (default DIR: ./packs). Install them in another project with
# `npm install DIR/pingora-ts-*.tgz` until the packages are on the npm registry. pnpm pack
# replaces the `workspace:^` ranges with the real versions, so the tarballs install anywhere.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/lib/node.sh
out=$(mkdir -p "${1:-packs}" && cd "${1:-packs}" && pwd)
command -v pnpm >/dev/null 2>&1 || npm i -g pnpm@10 >/dev/null
pnpm install --frozen-lockfile --silent
pnpm build >/dev/null
rm -f "$out"/pingora-ts-*.tgz
for dir in packages/*/; do
  (cd "$dir" && pnpm pack --pack-destination "$out" >/dev/null)
done
ls "$out"/pingora-ts-*.tgz
