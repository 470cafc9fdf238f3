import { describe, expect, it } from 'vitest'
import { Estimator } from './estimator.ts'

/** Deterministic xorshift32 in [0, 1). */
function random(seed: number): () => number {
  let state = seed
  return () => {
    state ^= state << 13
    state ^= state >>> 17
    state ^= state << 5
    return (state >>> 0) / 2 ** 32
  }
}

describe('Estimator', () => {
  it('counts a few keys exactly when they do not collide', () => {
    const estimator = new Estimator(4, 1024, { seed: 1 })
    expect(estimator.incr('a')).toBe(1)
    expect(estimator.incr('a', 2)).toBe(3)
    expect(estimator.incr('b', 5)).toBe(5)
    expect(estimator.get('a')).toBe(3)
    expect(estimator.get('b')).toBe(5)
    expect(estimator.get('never-seen')).toBe(0)
  })

  it('decrements and resets', () => {
    const estimator = new Estimator(4, 64, { seed: 2 })
    estimator.incr('a', 10)
    estimator.decr('a', 4)
    expect(estimator.get('a')).toBe(6)
    estimator.decr('a')
    expect(estimator.get('a')).toBe(5)
    estimator.reset()
    expect(estimator.get('a')).toBe(0)
  })

  it('hashes bytes by content, the same as an ASCII string', () => {
    const estimator = new Estimator(4, 1024, { seed: 3 })
    estimator.incr(new TextEncoder().encode('10.0.0.1'), 7)
    expect(estimator.get(Buffer.from('10.0.0.1'))).toBe(7)
    expect(estimator.get('10.0.0.1')).toBe(7)
    expect(estimator.get(new Uint8Array([1, 2, 3]))).toBe(0)
  })

  it('keeps its memory fixed whatever the number of keys', () => {
    const estimator = new Estimator(4, 1024, { seed: 4 })
    for (let i = 0; i < 100_000; i++) estimator.incr(`key-${i}`)
    // 100k keys in 4 x 1024 counters: each row's counters still sum to the total.
    let sum = 0
    for (let i = 0; i < 100_000; i += 997) sum += estimator.get(`key-${i}`)
    expect(sum).toBeGreaterThan(0)
    expect(estimator.hashes * estimator.slots).toBe(4096)
  })

  it('never underestimates and stays within e/slots of the total with probability 1 - e^-hashes', () => {
    const hashes = 4
    const slots = 1024
    const keys = 10_000
    const estimator = new Estimator(hashes, slots, { seed: 5 })
    const exact = new Map<string, number>()
    const next = random(42)
    let total = 0
    // Zipf-like counts: a few heavy keys and a long tail.
    for (let i = 0; i < 200_000; i++) {
      const rank = Math.floor(keys ** next())
      const key = `client-${rank}`
      exact.set(key, (exact.get(key) ?? 0) + 1)
      estimator.incr(key)
      total++
    }
    const epsilon = Math.E / slots
    const delta = Math.exp(-hashes)
    let over = 0
    let under = 0
    let sumError = 0
    for (const [key, count] of exact) {
      const estimate = estimator.get(key)
      if (estimate < count) under++
      sumError += estimate - count
      if (estimate - count > epsilon * total) over++
    }
    expect(under).toBe(0)
    expect(exact.size).toBeGreaterThan(5000)
    expect(over / exact.size).toBeLessThanOrEqual(delta)
    // The average error is far below the worst-case bound.
    expect(sumError / exact.size).toBeLessThan((epsilon * total) / 4)
  })

  it('is exact for heavy keys among many light ones', () => {
    const estimator = new Estimator(4, 1024, { seed: 6 })
    for (let i = 0; i < 5000; i++) estimator.incr(`light-${i}`)
    estimator.incr('heavy', 100_000)
    const heavy = estimator.get('heavy')
    // The error is bounded by the light keys' total (5000), small against the heavy count.
    expect(heavy).toBeGreaterThanOrEqual(100_000)
    expect(heavy).toBeLessThanOrEqual(100_000 + (Math.E / 1024) * 105_000)
  })

  it('draws different seeds per estimator unless one is given', () => {
    // With one row of 8 slots, which of 100 keys share 'x''s counter depends only on the seed.
    const collisions = (estimator: Estimator) => {
      estimator.incr('x')
      const shared: number[] = []
      for (let i = 0; i < 100; i++) if (estimator.get(`k${i}`) > 0) shared.push(i)
      return shared.join(',')
    }
    expect(collisions(new Estimator(1, 8, { seed: 9 }))).toBe(
      collisions(new Estimator(1, 8, { seed: 9 })),
    )
    expect(collisions(new Estimator(1, 8))).not.toBe(collisions(new Estimator(1, 8)))
  })

  it('rejects sizes that are not positive integers with exact messages', () => {
    expect(() => new Estimator(0, 10)).toThrow(
      new RangeError('hashes must be an integer from 1 to 64, got 0'),
    )
    expect(() => new Estimator(4, 1.5)).toThrow(
      new RangeError('slots must be an integer from 1 to 16777216, got 1.5'),
    )
  })
})
