#!/usr/bin/env bash
# The one test command: installs pnpm if missing, installs dependencies, runs every package's
# tests (vitest, JSON reports in packages/*/reports/), then prints the summary line.
# On a system Node older than 22.12 it runs on a Node 24 fetched from the npm registry.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/lib/node.sh
if ! command -v pnpm >/dev/null 2>&1; then
  npm i -g pnpm@10 >/dev/null
fi
if [ "${SKIP_INSTALL:-}" != 1 ]; then
  pnpm install --frozen-lockfile
fi
export PINGORA_TEST_TAG=${PINGORA_TEST_TAG:-node$(node -p 'process.versions.node.split(".")[0]')}
rm -f ./*/*/reports/vitest-"$PINGORA_TEST_TAG".json
status=0
pnpm exec turbo run test --concurrency=1 --force --continue || status=$?
node scripts/test-summary.mjs "$PINGORA_TEST_TAG" || status=$?
exit $status
