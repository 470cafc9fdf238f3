// Prints the top functions by self time of a V8 .cpuprofile (node --cpu-prof), and the
// share of GC and idle time.  node bench/perf/cpuprofile-top.mjs FILE [N]
import { readFileSync } from 'node:fs'

const [file, n = '40'] = process.argv.slice(2)
const profile = JSON.parse(readFileSync(file, 'utf8'))
const byId = new Map(profile.nodes.map((node) => [node.id, node]))
const self = new Map()
const dt = profile.timeDeltas
let total = 0
for (let i = 0; i < profile.samples.length; i++) {
  const node = byId.get(profile.samples[i])
  const us = dt[i] ?? 0
  const f = node.callFrame
  const file = f.url.split('/').slice(-2).join('/')
  const key = `${f.functionName || '(anonymous)'} ${file}:${f.lineNumber + 1}`
  self.set(key, (self.get(key) ?? 0) + us)
  total += us
}
const idle = [...self].filter(([k]) => k.startsWith('(idle)')).reduce((a, [, v]) => a + v, 0)
const busy = total - idle
process.stdout.write(
  `total ${(total / 1e3).toFixed(0)} ms, busy ${(busy / 1e3).toFixed(0)} ms (idle excluded from %)\n`,
)
const rows = [...self].filter(([k]) => !k.startsWith('(idle)')).sort((a, b) => b[1] - a[1])
for (const [key, us] of rows.slice(0, Number(n))) {
  process.stdout.write(
    `${((100 * us) / busy).toFixed(1).padStart(5)}%  ${(us / 1e3).toFixed(0).padStart(6)} ms  ${key}\n`,
  )
}
