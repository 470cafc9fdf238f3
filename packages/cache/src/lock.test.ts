import { afterEach, describe, expect, it, vi } from 'vitest'
import { CacheKey } from './key.ts'
import { CacheLock } from './lock.ts'

afterEach(() => {
  vi.useRealTimers()
})

describe('CacheLock', () => {
  it('gives the first request the write lock and wakes waiters with its outcome', async () => {
    const lock = new CacheLock()
    const key = new CacheKey('', 'k')
    const writer = lock.lock(key)
    const reader = lock.lock(key)
    expect(writer.kind).toBe('write')
    expect(reader.kind).toBe('read')
    if (writer.kind !== 'write' || reader.kind !== 'read') return
    const waited = reader.lock.wait()
    expect(lock.waiters(key)).toBe(1)
    writer.permit.release('Done')
    expect(await waited).toBe('Done')
    expect(lock.size).toBe(0)
    expect(lock.lock(key).kind).toBe('write')
  })

  it('releases an abandoned lock after the age timeout', async () => {
    vi.useFakeTimers()
    const lock = new CacheLock({ ageTimeoutMs: 1000 })
    const key = new CacheKey('', 'old')
    lock.lock(key)
    const reader = lock.lock(key)
    if (reader.kind !== 'read') throw new Error('expected a read lock')
    const waited = reader.lock.wait()
    vi.advanceTimersByTime(1000)
    expect(await waited).toBe('AgeTimeout')
    expect(lock.lock(key).kind).toBe('write')
  })

  it('lets a waiter give up after the wait timeout while others keep waiting', async () => {
    vi.useFakeTimers()
    const lock = new CacheLock({ ageTimeoutMs: 10_000, waitTimeoutMs: 100 })
    const key = new CacheKey('', 'slow')
    const writer = lock.lock(key)
    const reader = lock.lock(key)
    if (reader.kind !== 'read' || writer.kind !== 'write') throw new Error('unexpected lock kinds')
    const waited = reader.lock.wait()
    vi.advanceTimersByTime(100)
    expect(await waited).toBe('WaitTimeout')
    expect(lock.waiters(key)).toBe(0)
    writer.permit.release('GiveUp')
    expect(writer.permit.released).toBe(true)
  })

  it('stops locking past maxLocks (requests proceed as writers)', () => {
    const lock = new CacheLock({ maxLocks: 1 })
    expect(lock.lock(new CacheKey('', 'a')).kind).toBe('write')
    const second = lock.lock(new CacheKey('', 'b'))
    expect(second.kind).toBe('write')
    expect(lock.lock(new CacheKey('', 'b')).kind).toBe('write')
    expect(lock.size).toBe(1)
  })
})
