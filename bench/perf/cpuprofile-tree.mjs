// Inclusive time per function of a V8 .cpuprofile (each function counted once per stack).
//   node bench/perf/cpuprofile-tree.mjs FILE [N] [FILTER]
import { readFileSync } from 'node:fs'

const [file, n = '50', filter = ''] = process.argv.slice(2)
const profile = JSON.parse(readFileSync(file, 'utf8'))
const byId = new Map(profile.nodes.map((node) => [node.id, node]))
const parent = new Map()
for (const node of profile.nodes) for (const c of node.children ?? []) parent.set(c, node.id)
const name = (node) => {
  const f = node.callFrame
  return `${f.functionName || '(anonymous)'} ${f.url.split('/').slice(-1)[0]}:${f.lineNumber + 1}`
}
const incl = new Map()
let busy = 0
for (let i = 0; i < profile.samples.length; i++) {
  let id = profile.samples[i]
  const us = profile.timeDeltas[i] ?? 0
  if (byId.get(id).callFrame.functionName === '(idle)') continue
  busy += us
  const seen = new Set()
  while (id !== undefined) {
    const key = name(byId.get(id))
    if (!seen.has(key)) {
      seen.add(key)
      incl.set(key, (incl.get(key) ?? 0) + us)
    }
    id = parent.get(id)
  }
}
const rows = [...incl].filter(([k]) => k.includes(filter)).sort((a, b) => b[1] - a[1])
for (const [key, us] of rows.slice(0, Number(n))) {
  process.stdout.write(`${((100 * us) / busy).toFixed(1).padStart(5)}%  ${key}\n`)
}
