#!/usr/bin/env node
// Sums vitest's JSON reports (packages/*/reports, examples/*/reports, tooling/*/reports) and
// prints `tests: N passed, N failed`. With tags as arguments, only reports of those tags count.
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

const root = new URL('..', import.meta.url).pathname
const tags = process.argv.slice(2)
let passed = 0
let failed = 0
let skipped = 0
let files = 0
for (const group of ['packages', 'examples', 'tooling']) {
  const dir = join(root, group)
  if (!existsSync(dir)) continue
  for (const name of readdirSync(dir)) {
    const reports = join(dir, name, 'reports')
    if (!existsSync(reports)) continue
    for (const file of readdirSync(reports)) {
      const m = /^vitest-(.+)\.json$/.exec(file)
      if (!m || (tags.length > 0 && !tags.includes(m[1]))) continue
      const r = JSON.parse(readFileSync(join(reports, file), 'utf8'))
      passed += r.numPassedTests ?? 0
      failed += (r.numFailedTests ?? 0) + (r.success === false && !r.numFailedTests ? 1 : 0)
      skipped += (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0)
      files++
    }
  }
}
if (files === 0) {
  process.stdout.write('tests: 0 passed, 1 failed\n')
  process.exit(1)
}
process.stdout.write(
  `tests: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`,
)
process.exit(failed > 0 ? 1 : 0)
