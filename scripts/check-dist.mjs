#!/usr/bin/env node
// `prepack` of every published package: refuses to pack a package whose build is missing or
// older than its sources, so `pnpm pack` / `changeset publish` can never ship a package without
// `dist/`. Run from the package's directory (npm and pnpm run lifecycle scripts there).
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'

const dir = process.cwd()
const { name } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'))
const required = ['dist/index.js', 'dist/index.d.ts']
const missing = required.filter((file) => !existsSync(join(dir, file)))
if (missing.length > 0) {
  process.stderr.write(
    `${name}: cannot pack without its build (missing ${missing.join(', ')}): run \`pnpm build\` first\n`,
  )
  process.exit(1)
}
const built = statSync(join(dir, 'dist/index.js')).mtimeMs
const newest = (folder) => {
  let latest = 0
  for (const entry of readdirSync(folder, { withFileTypes: true })) {
    const path = join(folder, entry.name)
    latest = Math.max(latest, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs)
  }
  return latest
}
if (newest(join(dir, 'src')) > built) {
  process.stderr.write(`${name}: dist/ is older than src/: run \`pnpm build\` first\n`)
  process.exit(1)
}
