#!/usr/bin/env node
// Fails when a package depends on a package its layer may not use, through package.json
// or through an import in its sources. The table is the one printed in ARCHITECTURE.md.
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'

/** What each published package may depend on (runtime and dev). */
export const ALLOWED = {
  error: [],
  timeout: [],
  limits: [],
  http: ['error'],
  tls: ['error'],
  pool: ['timeout', 'error'],
  core: ['error', 'timeout', 'http', 'tls', 'pool'],
  'load-balancing': ['core', 'error', 'http', 'timeout'],
  cache: ['core', 'http', 'error', 'timeout'],
  proxy: ['core', 'http', 'cache', 'error', 'timeout', 'pool', 'tls'],
}
/** Packages that may appear as devDependencies only (tests and examples), per package. */
export const DEV_ALLOWED = {
  proxy: ['load-balancing', 'limits'],
}
const TEST_UTILS = 'test-utils'

const root = new URL('..', import.meta.url).pathname
const pkgsDir = join(root, 'packages')
const errors = []
const scope = '@pingora-ts/'

function walk(dir, out) {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist') continue
    const p = join(dir, name)
    if (statSync(p).isDirectory()) walk(p, out)
    else if (/\.(ts|mts|js|mjs)$/.test(name)) out.push(p)
  }
  return out
}

for (const name of readdirSync(pkgsDir)) {
  const pkgJson = join(pkgsDir, name, 'package.json')
  let pkg
  try {
    pkg = JSON.parse(readFileSync(pkgJson, 'utf8'))
  } catch {
    continue
  }
  const allowed = ALLOWED[name]
  if (!allowed) {
    errors.push(`packages/${name}: not in the layer table (scripts/check-layers.mjs)`)
    continue
  }
  const devAllowed = [...allowed, ...(DEV_ALLOWED[name] ?? []), TEST_UTILS]
  for (const [field, ok] of [
    ['dependencies', allowed],
    ['peerDependencies', allowed],
    ['optionalDependencies', allowed],
    ['devDependencies', devAllowed],
  ]) {
    for (const dep of Object.keys(pkg[field] ?? {})) {
      if (!dep.startsWith(scope)) continue
      const short = dep.slice(scope.length)
      if (!ok.includes(short)) errors.push(`packages/${name}: ${field} on ${dep} is not allowed`)
    }
  }
  const srcDir = join(pkgsDir, name, 'src')
  let files = []
  try {
    files = walk(srcDir, [])
  } catch {}
  for (const file of files) {
    const isTest = /\.test(-d)?\.ts$/.test(file)
    const ok = isTest ? devAllowed : allowed
    const text = readFileSync(file, 'utf8')
    for (const m of text.matchAll(
      /(?:from\s+|import\s*\(\s*|import\s+)['"]@pingora-ts\/([a-z-]+)/g,
    )) {
      const short = m[1]
      if (short === name) continue
      if (!ok.includes(short)) {
        errors.push(
          `${file.slice(root.length)}: imports @pingora-ts/${short}, not allowed for ${name}`,
        )
      }
    }
  }
}

if (errors.length > 0) {
  process.stderr.write(`layer check failed:\n  ${errors.join('\n  ')}\n`)
  process.exit(1)
}
process.stdout.write('layer check: ok\n')
