# Sourced by scripts/test.sh, scripts/demo.sh and .ci/run: makes sure `node` (and pnpm, npx and
# everything they start) is a supported Node.js, 22.12 or later (docs/decisions/0018). When the
# system Node is older, a Node 24 is fetched from the npm registry (`npx -y node@24`, cached in
# ~/.npm after the first run) and put first on PATH, and a line on stderr says so.
#
# node_path_for MAJOR prints the directory holding the `node` binary of the newest MAJOR.x from
# the npm registry (used by .ci/run to run the suite on Node 22 and Node 24).
node_path_for() {
  dirname "$(npx -y "node@$1" -p 'process.execPath')"
}

node_is_supported() {
  command -v node >/dev/null 2>&1 &&
    node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 22 || (a === 22 && b >= 12) ? 0 : 1)'
}

if ! node_is_supported; then
  if ! command -v npx >/dev/null 2>&1; then
    echo "pingora-ts needs Node.js >= 22.12 (Node 24 recommended), and npx to fetch it: install Node.js first" >&2
    exit 1
  fi
  echo "system Node.js $(node -v 2>/dev/null || echo '(none)') is older than 22.12: using Node 24 from the npm registry (npx -y node@24)" >&2
  PATH="$(node_path_for 24):$PATH"
  export PATH
fi
