// Loaded into a Node target by bench/h2/memory.mjs (`node --expose-gc --import mem-probe.mjs`):
// on SIGUSR2 it runs a full GC and writes process.memoryUsage() as JSON to
// /tmp/h2-mem-probe-<pid>.json.
import { writeFileSync } from 'node:fs'

process.on('SIGUSR2', () => {
  globalThis.gc?.()
  writeFileSync(`/tmp/h2-mem-probe-${process.pid}.json`, JSON.stringify(process.memoryUsage()))
})
