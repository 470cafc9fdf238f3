// Preloaded into the proxy by memory.sh (node --expose-gc --import): on SIGUSR2, a full garbage
// collection, then the heap figures written to /tmp/pingora-gc-PID.json, so the resident memory
// read next counts what is kept, not garbage waiting for the collector.
import { renameSync, writeFileSync } from 'node:fs'

const report = `/tmp/pingora-gc-${process.pid}.json`
process.on('SIGUSR2', () => {
  globalThis.gc?.()
  globalThis.gc?.()
  const usage = process.memoryUsage()
  writeFileSync(`${report}.tmp`, JSON.stringify(usage))
  renameSync(`${report}.tmp`, report)
})
