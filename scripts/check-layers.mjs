#!/usr/bin/env node
// Fails when a package depends on a package its layer may not use, through package.json or
// through an import in its sources. The table is the one printed in ARCHITECTURE.md.
//
// Usage: node scripts/check-layers.mjs [root]   (root defaults to this repository)
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

/** What each published package may depend on at runtime (and therefore also in tests). */
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
  observability: ['proxy', 'load-balancing', 'core', 'http', 'error'],
}
/** Packages that may appear as devDependencies only (tests and examples), per package. */
export const DEV_ALLOWED = {
  proxy: ['load-balancing', 'limits'],
}
/** The private test helpers every package may use in devDependencies and test files. */
export const TEST_UTILS = 'test-utils'

const SCOPE = '@pingora-ts/'
const SOURCE_FILE = /\.(ts|mts|cts|js|mjs|cjs)$/
const TEST_FILE = /\.test(-d)?\.(ts|mts|cts|js|mjs|cjs)$/
const IMPORT =
  /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+|\brequire\s*\(\s*)['"]@pingora-ts\/([a-z0-9-]+)/g
// Source folders and whether everything in them is test code.
const SOURCE_DIRS = [
  ['src', false],
  ['test', true],
  ['bench', true],
]

function walk(dir, out) {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist') continue
    const path = join(dir, name)
    if (statSync(path).isDirectory()) walk(path, out)
    else if (SOURCE_FILE.test(name)) out.push(path)
  }
  return out
}

/**
 * Returns `text` with comments blanked out, so an import shown in a TSDoc example is not taken
 * for a real one. Strings and template literals are kept as they are.
 */
export function stripComments(text) {
  let out = ''
  let i = 0
  const n = text.length
  while (i < n) {
    const c = text[i]
    const next = text[i + 1]
    if (c === '/' && next === '/') {
      while (i < n && text[i] !== '\n') i++
    } else if (c === '/' && next === '*') {
      const end = text.indexOf('*/', i + 2)
      i = end === -1 ? n : end + 2
      out += ' '
    } else if (c === "'" || c === '"' || c === '`') {
      // A quote string ends at its line's end at the latest, so a quote inside a regex literal
      // (which this does not parse) cannot swallow more than one line.
      let j = i + 1
      while (j < n && text[j] !== c && (c === '`' || text[j] !== '\n')) {
        j += text[j] === '\\' ? 2 : 1
      }
      out += text.slice(i, j + 1)
      i = j + 1
    } else {
      out += c
      i++
    }
  }
  return out
}

/**
 * Checks every `packages/*` under `root` against the layer table and returns the violations,
 * one message each (empty when the layering holds).
 */
export function checkLayers(root) {
  const errors = []
  const packagesDir = join(root, 'packages')
  if (!existsSync(packagesDir)) return [`${packagesDir}: no packages directory`]
  for (const name of readdirSync(packagesDir).sort()) {
    const dir = join(packagesDir, name)
    let pkg
    try {
      pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'))
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
        if (!dep.startsWith(SCOPE)) continue
        const short = dep.slice(SCOPE.length)
        if (!ok.includes(short)) errors.push(`packages/${name}: ${field} on ${dep} is not allowed`)
      }
    }
    for (const [folder, isTestFolder] of SOURCE_DIRS) {
      const sourceDir = join(dir, folder)
      if (!existsSync(sourceDir)) continue
      for (const file of walk(sourceDir, [])) {
        const ok = isTestFolder || TEST_FILE.test(file) ? devAllowed : allowed
        const text = stripComments(readFileSync(file, 'utf8'))
        for (const m of text.matchAll(IMPORT)) {
          const short = m[1]
          if (short === name || ok.includes(short)) continue
          errors.push(`${relative(root, file)}: imports ${SCOPE}${short}, not allowed for ${name}`)
        }
      }
    }
  }
  return errors
}

const isMain =
  process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)
if (isMain) {
  const root = resolve(process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), '..'))
  const errors = checkLayers(root)
  if (errors.length > 0) {
    process.stderr.write(`layer check failed:\n  ${errors.join('\n  ')}\n`)
    process.exit(1)
  }
  process.stdout.write('layer check: ok\n')
}
