// Self instructions per function of a callgrind dump (one thread), naming JIT code from the
// V8 perf map written by `node --perf-basic-prof` (bench/perf/instr.sh keeps both with
// PERF_KEEP=FILE).   node bench/perf/callgrind-jit.mjs FILE [N]
import { readFileSync } from 'node:fs'

const [file, n = '60'] = process.argv.slice(2)
const map = []
try {
  for (const line of readFileSync(`${file}.map`, 'utf8').split('\n')) {
    const m = /^([0-9a-f]+) ([0-9a-f]+) (.*)$/.exec(line)
    if (m) map.push([Number.parseInt(m[1], 16), Number.parseInt(m[2], 16), m[3]])
  }
} catch {}
map.sort((a, b) => a[0] - b[0])
function jitName(address) {
  let lo = 0
  let hi = map.length - 1
  while (lo <= hi) {
    const mid = (lo + hi) >> 1
    const [start, size, name] = map[mid]
    if (address < start) hi = mid - 1
    else if (address >= start + size) lo = mid + 1
    else return name
  }
  return undefined
}
// callgrind format: "fn=(id) name" defines/uses a function; cost lines "line cost" follow;
// "calls=" lines are followed by one inclusive-cost line that is not self cost.
const names = new Map()
const self = new Map()
let current
let skipNext = false
let total = 0
for (const line of readFileSync(file, 'utf8').split('\n')) {
  if (line.startsWith('fn=')) {
    const m = /^fn=\((\d+)\)(?: (.*))?$/.exec(line)
    if (m[2] !== undefined) names.set(m[1], m[2])
    current = m[1]
    continue
  }
  if (line.startsWith('cfn=')) {
    const m = /^cfn=\((\d+)\)(?: (.*))?$/.exec(line)
    if (m?.[2] !== undefined) names.set(m[1], m[2])
    continue
  }
  if (line.startsWith('calls=')) {
    skipNext = true
    continue
  }
  if (/^[+-]?\d|^\*/.test(line)) {
    if (skipNext) {
      skipNext = false
      continue
    }
    const parts = line.split(' ')
    const cost = Number(parts[1] ?? 0)
    self.set(current, (self.get(current) ?? 0) + cost)
    total += cost
  }
}
const byName = new Map()
for (const [id, cost] of self) {
  let name = names.get(id) ?? id
  const m = /^0x([0-9a-f]+)$/.exec(name)
  if (m) name = jitName(Number.parseInt(m[1], 16)) ?? name
  byName.set(name, (byName.get(name) ?? 0) + cost)
}
process.stdout.write(`total ${total}\n`)
for (const [name, cost] of [...byName].sort((a, b) => b[1] - a[1]).slice(0, Number(n))) {
  process.stdout.write(`${((100 * cost) / total).toFixed(2).padStart(6)}%  ${name.slice(0, 150)}\n`)
}

// With a third argument: who calls the functions whose name contains it (inclusive cost of
// those calls, per caller).
const target = process.argv[4]
if (target !== undefined) {
  const byCaller = new Map()
  let fn
  let callee
  let pending = false
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line.startsWith('fn=')) {
      fn = /^fn=\((\d+)\)/.exec(line)[1]
      continue
    }
    if (line.startsWith('cfn=')) {
      callee = /^cfn=\((\d+)\)/.exec(line)[1]
      continue
    }
    if (line.startsWith('calls=')) {
      pending = true
      continue
    }
    if (pending && /^[+-]?\d|^\*/.test(line)) {
      pending = false
      const calleeName = resolve(callee)
      if (!calleeName.includes(target)) continue
      const key = `${resolve(fn)}  ->  ${calleeName}`
      byCaller.set(key, (byCaller.get(key) ?? 0) + Number(line.split(' ')[1] ?? 0))
    }
  }
  process.stdout.write(`\ncallers of *${target}*\n`)
  for (const [key, cost] of [...byCaller].sort((a, b) => b[1] - a[1]).slice(0, Number(n))) {
    process.stdout.write(
      `${((100 * cost) / total).toFixed(2).padStart(6)}%  ${key.slice(0, 200)}\n`,
    )
  }
}

function resolve(id) {
  const name = names.get(id) ?? id
  const m = /^0x([0-9a-f]+)$/.exec(name)
  return (m ? jitName(Number.parseInt(m[1], 16)) : undefined) ?? name
}
