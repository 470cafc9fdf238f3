// Hit ratio of TinyUfo against a plain weighted LRU on a Zipf (exponent 1) trace, at cache sizes
// from 0.5 % to 10 % of the key space. Run: npx vitest bench --run bench/hit-ratio.bench.ts
// The ratios are printed once; the bench cases time one pass of each policy over the trace.
import { bench, describe } from 'vitest'
import { TinyUfo } from '../src/tiny-ufo.ts'
import { WeightedLru } from '../src/weighted-lru.ts'
import { zipfTrace } from '../src/zipf.ts'

const KEYS = 100_000
const trace = zipfTrace({ keys: KEYS, length: 1_000_000, exponent: 1, seed: 7 })

interface Policy {
  access(key: number): boolean
  admit(key: number, weight: number): number[]
}

function hitRatio(policy: Policy): number {
  let hits = 0
  for (const key of trace) {
    if (policy.access(key)) hits++
    else policy.admit(key, 1)
  }
  return hits / trace.length
}

const rows: string[] = []
for (const fraction of [0.005, 0.01, 0.05, 0.1]) {
  const size = KEYS * fraction
  const ufo = hitRatio(new TinyUfo<number>(size, size))
  const lru = hitRatio(new WeightedLru<number>(size))
  rows.push(
    `cache ${(fraction * 100).toFixed(1)} %: TinyUfo ${(ufo * 100).toFixed(2)} %, LRU ${(lru * 100).toFixed(2)} % (+${((ufo - lru) * 100).toFixed(2)} pp)`,
  )
}
process.stdout.write(`${rows.join('\n')}\n`)

describe('one pass over a 1M-request Zipf trace, cache 1 % of keys', () => {
  bench(
    'TinyUfo',
    () => {
      hitRatio(new TinyUfo<number>(KEYS * 0.01, KEYS * 0.01))
    },
    { iterations: 3 },
  )
  bench(
    'WeightedLru',
    () => {
      hitRatio(new WeightedLru<number>(KEYS * 0.01))
    },
    { iterations: 3 },
  )
})
