/**
 * Estimator and Rate against a Map-based exact counter: operations per CPU second (one core), and
 * memory as the number of distinct keys grows. A/B interleaved: each round times every contender
 * on the same key stream, and the report gives the median of the rounds.
 *
 * Run: `cd packages/limits && flock /tmp/bench.lock node --expose-gc --import tsx bench/compare.ts`
 */
import { Estimator } from '../src/estimator.ts'
import { Rate } from '../src/rate.ts'

const print = (line: string): void => {
  process.stdout.write(`${line}\n`)
}

const OPS = 3_000_000
const ROUNDS = 3
const KEY_COUNTS = [1_000, 100_000, 1_000_000]

function keysOf(count: number): string[] {
  // Client-IP-like keys, 9 to 15 characters.
  return Array.from(
    { length: count },
    (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
  )
}

function median(values: number[]): number {
  const sorted = values.slice().sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] ?? 0
}

/** CPU seconds of this process spent in `run` (user + system): one core, whatever else runs. */
function time(run: () => void): number {
  const start = process.cpuUsage()
  run()
  const used = process.cpuUsage(start)
  return (used.user + used.system) / 1e6
}

function heapAfter(build: () => unknown): { bytes: number; keep: unknown } {
  const gc = (globalThis as { gc?: () => void }).gc
  gc?.()
  // Typed arrays live outside the JS heap: count both.
  const used = () => process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers
  const before = used()
  const keep = build()
  gc?.()
  return { bytes: used() - before, keep }
}

for (const keyCount of KEY_COUNTS) {
  const keys = keysOf(keyCount)
  const mask = keys.length
  const results: Record<string, number[]> = {
    'Estimator(4, 1024).incr': [],
    'Map exact counter': [],
    'Rate(1000).observe': [],
  }
  let sink = 0
  for (let round = 0; round < ROUNDS; round++) {
    const estimator = new Estimator(4, 1024)
    results['Estimator(4, 1024).incr']?.push(
      OPS /
        time(() => {
          for (let i = 0; i < OPS; i++) sink += estimator.incr(keys[i % mask] as string, 1)
        }),
    )
    const map = new Map<string, number>()
    results['Map exact counter']?.push(
      OPS /
        time(() => {
          for (let i = 0; i < OPS; i++) {
            const key = keys[i % mask] as string
            const value = (map.get(key) ?? 0) + 1
            map.set(key, value)
            sink += value
          }
        }),
    )
    const rate = new Rate(1000)
    results['Rate(1000).observe']?.push(
      OPS /
        time(() => {
          for (let i = 0; i < OPS; i++) sink += rate.observe(keys[i % mask] as string, 1)
        }),
    )
  }
  // The estimator's size is fixed by construction (measured heap deltas of 32 KiB are noise).
  const estimatorBytes = 4 * 1024 * Float64Array.BYTES_PER_ELEMENT
  const mapMemory = heapAfter(() => {
    const map = new Map<string, number>()
    // Fresh key strings, as requests would bring them.
    for (const key of keys) map.set(`${key} `.trimEnd(), 1)
    return map
  })
  print(`\n${keyCount} distinct keys, ${OPS} operations per round, median of ${ROUNDS}:`)
  const mapOps = median(results['Map exact counter'] ?? [])
  for (const [name, values] of Object.entries(results)) {
    const ops = median(values)
    print(
      `  ${name.padEnd(26)} ${(ops / 1e6).toFixed(1).padStart(6)} M ops/s  (x${(ops / mapOps).toFixed(2)} vs Map)`,
    )
  }
  print(
    `  memory: Estimator ${estimatorBytes / 1024} KiB (fixed), Map ${(mapMemory.bytes / 1024).toFixed(0)} KiB (x${(mapMemory.bytes / estimatorBytes).toFixed(0)})`,
  )
  if (sink === 42) print('')
}
