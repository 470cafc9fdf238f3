import { describe, expect, it } from 'vitest'
import { LocalRateLimiter } from './local-rate-limiter.ts'

describe('LocalRateLimiter', () => {
  it('allows up to the limit in a window, then denies with header values', () => {
    const state = { now: 0 }
    const limiter = new LocalRateLimiter({
      limit: 3,
      windowMs: 1000,
      now: () => state.now,
      seed: 1,
    })
    state.now = 200
    const decisions = [1, 2, 3, 4].map(() => limiter.check('a'))
    expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, false])
    expect(decisions.map((d) => d.remaining)).toEqual([2, 1, 0, 0])
    expect(decisions[3]).toMatchObject({ limit: 3, resetMs: 800, source: 'local' })
    // 3 in the previous window weigh 3 * (1 - f); one fits again once that is <= 2: f >= 1/3.
    expect(decisions[3]?.retryAfterMs).toBe(800 + 334)
    expect(limiter.check('b').allowed).toBe(true)
  })

  it('lets requests through again as the previous window slides out', () => {
    const state = { now: 0 }
    const limiter = new LocalRateLimiter({
      limit: 10,
      windowMs: 1000,
      now: () => state.now,
      seed: 2,
    })
    for (let i = 0; i < 10; i++) expect(limiter.check('a').allowed).toBe(true)
    expect(limiter.check('a').allowed).toBe(false)
    state.now = 1500 // previous window = 10, weight 0.5: estimate 5, room for 5
    let allowed = 0
    for (let i = 0; i < 10; i++) if (limiter.check('a').allowed) allowed++
    expect(allowed).toBe(5)
  })

  it('never allows more than the limit in any window under a steady overload', () => {
    const state = { now: 0 }
    const limit = 50
    const limiter = new LocalRateLimiter({ limit, windowMs: 1000, now: () => state.now, seed: 3 })
    const allowedAt: number[] = []
    for (let t = 0; t < 5000; t += 2) {
      state.now = t
      if (limiter.check('a').allowed) allowedAt.push(t)
    }
    // Check every sliding window of 1000 ms on a 10 ms grid.
    for (let start = 0; start <= 4000; start += 10) {
      const inWindow = allowedAt.filter((t) => t >= start && t < start + 1000).length
      expect(inWindow, `window at ${start}`).toBeLessThanOrEqual(limit)
    }
    expect(allowedAt.length).toBeGreaterThanOrEqual(limit * 4)
  })

  it('counts costs above one and rejects a bad limit', () => {
    const limiter = new LocalRateLimiter({ limit: 10, now: () => 0, seed: 4 })
    expect(limiter.check('a', 8).allowed).toBe(true)
    const denied = limiter.check('a', 3)
    expect(denied.allowed).toBe(false)
    expect(denied.remaining).toBe(2)
    expect(limiter.check('a', 2).allowed).toBe(true)
    expect(() => new LocalRateLimiter({ limit: 0 })).toThrow(
      new RangeError('limit must be a positive integer, got 0'),
    )
  })
})
