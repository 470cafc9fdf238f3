import diagnosticsChannel from 'node:diagnostics_channel'
import { startRedis } from '@pingora-ts/test-utils'
import { Redis } from 'ioredis'
import { describe, expect, it, onTestFinished } from 'vitest'
import { CHANNEL_NAMES } from '../src/diagnostics.ts'
import { CacheKey } from '../src/key.ts'
import { RedisStorage } from '../src/redis-storage.ts'
import { makeMeta, readAll, store } from './storage-conformance.ts'

async function setup(chunkBytes = 1000) {
  const redis = await startRedis()
  onTestFinished(redis.stop)
  const client = new Redis({
    host: redis.host,
    port: redis.port,
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => 50,
  })
  client.on('error', () => undefined)
  await client.connect()
  onTestFinished(() => client.disconnect())
  const storage = new RedisStorage({ client, chunkBytes, commandTimeoutMs: 300 })
  return { redis, client, storage }
}

describe('RedisStorage', () => {
  it('splits a body into chunk keys of at most chunkBytes', async () => {
    const { redis, storage } = await setup(1000)
    const key = new CacheKey('', 'chunked')
    await store(storage, key, makeMeta(), Buffer.alloc(4500, 3), 2)
    const keys = (await redis.command('KEYS', 'pingora-cache:*')) as string[]
    // One meta key and five chunks (4 x 1000 + 500).
    expect(keys.length).toBe(6)
    for (const name of keys.filter((k) => k.split(':').length === 4)) {
      expect(Number(await redis.command('STRLEN', name))).toBeLessThanOrEqual(1000)
    }
    const found = await storage.lookup(key)
    expect(found && (await readAll(found.hit)).equals(Buffer.alloc(4500, 3))).toBe(true)
  })

  it('sets an expiry on every key it writes', async () => {
    const { redis, storage } = await setup(1000)
    await store(storage, new CacheKey('', 'ttl'), makeMeta({}, 10), Buffer.alloc(2500))
    const keys = (await redis.command('KEYS', 'pingora-cache:*')) as string[]
    for (const name of keys) expect(Number(await redis.command('PTTL', name))).toBeGreaterThan(0)
  })

  it('misses, drops writes and never throws while Redis is down, then recovers', async () => {
    const { redis, storage } = await setup(1000)
    const key = new CacheKey('', 'outage')
    await store(storage, key, makeMeta(), Buffer.from('before'))
    const errors: unknown[] = []
    const listener = (message: unknown) => errors.push(message)
    diagnosticsChannel.subscribe(CHANNEL_NAMES.storageError, listener)
    onTestFinished(() => {
      diagnosticsChannel.unsubscribe(CHANNEL_NAMES.storageError, listener)
    })

    await redis.kill()
    expect(await storage.lookup(key)).toBeUndefined()
    const miss = await storage.getMissHandler(new CacheKey('', 'during'), makeMeta())
    await miss.writeBody(Buffer.alloc(3000))
    expect(await miss.finish()).toBe(0)
    expect(await storage.purge(key, 'invalidation')).toBe(false)
    expect(await storage.updateMeta(key, makeMeta())).toBe(false)
    expect(errors.length).toBeGreaterThan(0)

    await redis.restart()
    // The restarted server is empty (no persistence): a write and a lookup work again.
    await expect
      .poll(async () => {
        await store(storage, key, makeMeta(), Buffer.from('after'))
        const found = await storage.lookup(key)
        return found && (await readAll(found.hit)).toString()
      })
      .toBe('after')
  })

  it('fails a read whose chunk vanished and drops the entry', async () => {
    const { redis, storage } = await setup(1000)
    const key = new CacheKey('', 'lost')
    await store(storage, key, makeMeta(), Buffer.alloc(3000, 1))
    const chunkKeys = (await redis.command('KEYS', 'pingora-cache:*:*:1')) as string[]
    expect(chunkKeys.length).toBe(1)
    await redis.command('DEL', chunkKeys[0] as string)
    const found = await storage.lookup(key)
    if (found === undefined) throw new Error('the meta is intact, the lookup should succeed')
    await expect(readAll(found.hit)).rejects.toMatchObject({ type: 'ReadError' })
    expect(await storage.lookup(key)).toBeUndefined()
  })
})
