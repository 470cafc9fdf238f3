import { describe, expect, it } from 'vitest'
import { Inflight } from './inflight.ts'

describe('Inflight', () => {
  it('returns a guard with the count and takes it back off on release', () => {
    const inflight = new Inflight({ seed: 1 })
    const first = inflight.incr('upstream-a')
    const second = inflight.incr('upstream-a')
    expect(first.count).toBe(1)
    expect(second.count).toBe(2)
    first.release()
    expect(inflight.get('upstream-a')).toBe(1)
    second.release()
    expect(inflight.get('upstream-a')).toBe(0)
  })

  it('decrements once even when released twice', () => {
    const inflight = new Inflight({ seed: 2 })
    const held = inflight.incr('a')
    const guard = inflight.incr('a', 3)
    expect(guard.count).toBe(4)
    guard.release()
    guard.release()
    guard[Symbol.dispose]()
    expect(guard.isHeld).toBe(false)
    expect(inflight.get('a')).toBe(1)
    expect(held.isHeld).toBe(true)
  })

  it('releases at the end of a `using` block, also when the block throws', () => {
    const inflight = new Inflight({ seed: 3 })
    {
      using guard = inflight.incr('a')
      expect(guard.count).toBe(1)
      expect(inflight.get('a')).toBe(1)
    }
    expect(inflight.get('a')).toBe(0)
    expect(() => {
      using guard = inflight.incr('a')
      expect(guard.count).toBe(1)
      throw new Error('boom')
    }).toThrow('boom')
    expect(inflight.get('a')).toBe(0)
  })

  it('releases explicitly in finally without `using`', async () => {
    const inflight = new Inflight({ seed: 4 })
    const work = async () => {
      const guard = inflight.incr('a')
      try {
        await Promise.resolve()
        return inflight.get('a')
      } finally {
        guard.release()
      }
    }
    // Both hold while the first reads; the first has released when the second reads.
    expect(await Promise.all([work(), work()])).toEqual([2, 1])
    expect(inflight.get('a')).toBe(0)
  })
})
