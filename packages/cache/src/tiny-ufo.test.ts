import { describe, expect, it } from 'vitest'
import { CountMinSketch, hashKey, TinyUfo } from './tiny-ufo.ts'
import { WeightedLru } from './weighted-lru.ts'
import { zipfTrace } from './zipf.ts'

interface Policy {
  access(key: number): boolean
  admit(key: number, weight: number): number[]
}

function hitRatio(policy: Policy, trace: readonly number[]): number {
  let hits = 0
  for (const key of trace) {
    if (policy.access(key)) hits++
    else policy.admit(key, 1)
  }
  return hits / trace.length
}

describe('TinyUfo', () => {
  it('never keeps more weight than its capacity', () => {
    const ufo = new TinyUfo<string>(1000)
    for (let i = 0; i < 5000; i++) {
      const key = `k${i % 300}`
      if (!ufo.access(key)) ufo.admit(key, 1 + (i % 37))
      expect(ufo.weight).toBeLessThanOrEqual(1000)
    }
    expect(ufo.size).toBeGreaterThan(0)
  })

  it('rejects an item heavier than the capacity', () => {
    const ufo = new TinyUfo<string>(10)
    expect(ufo.admit('big', 11)).toEqual(['big'])
    expect(ufo.has('big')).toBe(false)
  })

  it('keeps a reused item over a scan of one-hit wonders', () => {
    const ufo = new TinyUfo<string>(100)
    ufo.admit('hot', 10)
    for (let round = 0; round < 5; round++) {
      ufo.access('hot')
      for (let i = 0; i < 50; i++) ufo.admit(`scan${round}-${i}`, 10)
    }
    expect(ufo.has('hot')).toBe(true)
  })

  it('updates the weight of a kept key and removes on request', () => {
    const ufo = new TinyUfo<string>(100)
    ufo.admit('a', 10)
    ufo.admit('a', 30)
    expect(ufo.weight).toBe(30)
    expect(ufo.remove('a')).toBe(true)
    expect(ufo.weight).toBe(0)
    expect(ufo.remove('a')).toBe(false)
  })

  it('beats plain LRU on a Zipf trace at small and large cache sizes', () => {
    const trace = zipfTrace({ keys: 10_000, length: 200_000, exponent: 1, seed: 42 })
    for (const size of [50, 1000]) {
      const ufo = hitRatio(new TinyUfo<number>(size, size), trace)
      const lru = hitRatio(new WeightedLru<number>(size), trace)
      expect(ufo, `cache size ${size}`).toBeGreaterThan(lru)
    }
  })
})

describe('CountMinSketch', () => {
  it('never underestimates and ages counts by halving', () => {
    const sketch = new CountMinSketch(64)
    const hash = hashKey('x')
    for (let i = 0; i < 10; i++) sketch.increment(hash)
    expect(sketch.get(hash)).toBeGreaterThanOrEqual(10)
    // 64 * 10 increments trigger one halving.
    for (let i = 0; i < 640; i++) sketch.increment(hashKey(`other${i % 7}`))
    expect(sketch.get(hash)).toBeLessThan(10)
  })
})

describe('WeightedLru', () => {
  it('evicts least recently used first', () => {
    const lru = new WeightedLru<string>(3)
    lru.admit('a', 1)
    lru.admit('b', 1)
    lru.admit('c', 1)
    lru.access('a')
    expect(lru.admit('d', 1)).toEqual(['b'])
    expect(lru.weight).toBe(3)
  })
})
