import { describe, expect, it } from 'vitest'
import { CacheKey } from '../src/key.ts'
import { MemoryStorage } from '../src/memory-storage.ts'
import { makeMeta, readAll, store } from './storage-conformance.ts'

describe('MemoryStorage', () => {
  it('stays within its byte bound by evicting', async () => {
    const storage = new MemoryStorage({ maxBytes: 100_000 })
    for (let i = 0; i < 50; i++)
      await store(storage, new CacheKey('', `k${i}`), makeMeta(), Buffer.alloc(10_000, i))
    expect(storage.bytes).toBeLessThanOrEqual(100_000)
    expect(storage.size).toBeGreaterThan(0)
    expect(storage.size).toBeLessThan(50)
  })

  it('copies written chunks, so a recycled buffer does not corrupt the entry', async () => {
    const storage = new MemoryStorage({ maxBytes: 1_000_000 })
    const key = new CacheKey('', 'copy')
    const buffer = Buffer.from('original')
    const miss = await storage.getMissHandler(key, makeMeta())
    await miss.writeBody(buffer)
    buffer.fill(0x78)
    await miss.finish()
    const found = await storage.lookup(key)
    expect(found && (await readAll(found.hit)).toString()).toBe('original')
  })

  it('fails a streaming reader when the fill is aborted', async () => {
    const storage = new MemoryStorage({ maxBytes: 1_000_000 })
    const key = new CacheKey('', 'aborted')
    const miss = await storage.getMissHandler(key, makeMeta())
    await miss.writeBody(Buffer.from('abc'))
    const found = await storage.lookup(key)
    if (found === undefined) throw new Error('expected a partial entry')
    await found.hit.readBody()
    const waiting = found.hit.readBody()
    await miss.abort()
    await expect(waiting).rejects.toMatchObject({ type: 'InternalError' })
    expect(await storage.lookup(key)).toBeUndefined()
  })
})
