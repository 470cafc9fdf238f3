import { describe, expect, it } from 'vitest'
import { MemoryCache, RTCache } from './memory-cache.ts'

describe('MemoryCache', () => {
  it('expires entries by their TTL on the injected clock and returns stale values on request', () => {
    const clock = { now: 0 }
    const cache = new MemoryCache<string, number>({ capacity: 10, now: () => clock.now })
    cache.put('a', 1, 100)
    expect(cache.get('a')).toEqual({ value: 1, status: 'Hit' })
    clock.now = 150
    expect(cache.get('a')).toEqual({ value: undefined, status: 'Expired' })
    expect(cache.getStale('a')).toEqual({ value: 1, status: 'Stale', staleMs: 50 })
    expect(cache.get('b').status).toBe('Miss')
  })

  it('stays within its capacity', () => {
    const cache = new MemoryCache<number, number>({ capacity: 50 })
    for (let i = 0; i < 500; i++) cache.put(i, i, 1000)
    expect(cache.size).toBeLessThanOrEqual(50)
  })
})

describe('RTCache', () => {
  it('loads a cold key once for concurrent callers', async () => {
    let calls = 0
    let resolve: (value: { value: string }) => void = () => undefined
    const cache = new RTCache<string, string>({
      capacity: 100,
      lookup: () => {
        calls++
        return new Promise((r) => {
          resolve = r
        })
      },
    })
    const all = Promise.all(Array.from({ length: 50 }, () => cache.get('k')))
    resolve({ value: 'loaded' })
    const results = await all
    expect(calls).toBe(1)
    expect(results[0]).toEqual({ value: 'loaded', status: 'Miss' })
    expect(results.slice(1).every((r) => r.status === 'LockHit' && r.value === 'loaded')).toBe(true)
    expect(await cache.get('k')).toEqual({ value: 'loaded', status: 'Hit' })
  })

  it('shares a failure with every waiter and caches nothing', async () => {
    let calls = 0
    const cache = new RTCache<string, string>({
      capacity: 10,
      lookup: async () => {
        calls++
        throw new Error('backend down')
      },
    })
    const results = await Promise.allSettled([cache.get('k'), cache.get('k')])
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected'])
    expect(calls).toBe(1)
    await expect(cache.get('k')).rejects.toMatchObject({ type: 'InternalError' })
    expect(calls).toBe(2)
  })

  it('returns a stale value at once and refreshes it in the background', async () => {
    const clock = { now: 0 }
    let version = 0
    const cache = new RTCache<string, number>({
      capacity: 10,
      now: () => clock.now,
      defaultTtlMs: 100,
      lookup: async () => ({ value: ++version }),
    })
    expect((await cache.get('k')).value).toBe(1)
    clock.now = 200
    expect(await cache.getStaleWhileUpdate('k')).toEqual({ value: 1, status: 'Stale' })
    await expect.poll(() => cache.get('k').then((r) => r.status)).toBe('Hit')
    expect((await cache.get('k')).value).toBe(2)
  })
})
