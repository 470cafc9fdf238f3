#!/usr/bin/env node
// `check:package` of every published package (run from the package's directory, after its
// build): packs the package exactly as `changeset publish` would (`pnpm pack`, which runs the
// `prepack` guard of scripts/check-dist.mjs and rewrites `workspace:^` ranges), then lints the
// tarball with publint (strict: warnings fail) and with @arethetypeswrong/cli in its `esm-only`
// profile. ESM only is deliberate (ADR 0002): the profile ignores the CommonJS `node10` and
// `node16-cjs` resolutions, which a package without a `require` condition cannot satisfy; Node
// >= 22.12 loads it from `require()` anyway. Exit 1 on any finding.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const bin = (name) => join(root, 'node_modules', '.bin', name)
const { name } = JSON.parse(readFileSync('package.json', 'utf8'))
const out = mkdtempSync(join(tmpdir(), 'pingora-pack-'))
let status = 0
try {
  execFileSync('pnpm', ['pack', '--pack-destination', out], {
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  const [tarball] = readdirSync(out).filter((file) => file.endsWith('.tgz'))
  if (tarball === undefined) throw new Error(`${name}: pnpm pack produced no tarball`)
  const path = join(out, tarball)
  for (const [tool, args] of [
    ['publint', ['run', path, '--strict']],
    ['attw', [path, '--profile', 'esm-only', '--format', 'ascii', '--no-emoji', '--no-color']],
  ]) {
    try {
      execFileSync(bin(tool), args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' })
    } catch (error) {
      status = 1
      process.stderr.write(`${name}: ${tool} found problems in ${tarball}:\n`)
      process.stderr.write(`${error.stdout ?? ''}${error.stderr ?? ''}\n`)
    }
  }
  if (status === 0)
    process.stdout.write(`${name}: publint and attw (esm-only) clean on ${tarball}\n`)
} finally {
  rmSync(out, { recursive: true, force: true })
}
process.exit(status)
