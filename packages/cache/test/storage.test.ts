import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { hasRedisServer, startRedis } from '@pingora-ts/test-utils'
import { Redis } from 'ioredis'
import { afterAll, beforeAll } from 'vitest'
import { DiskStorage } from '../src/disk-storage.ts'
import { MemoryStorage } from '../src/memory-storage.ts'
import { RedisStorage } from '../src/redis-storage.ts'
import { describeStorageConformance } from './storage-conformance.ts'

describeStorageConformance(
  'MemoryStorage',
  async () => new MemoryStorage({ maxBytes: 64 * 1024 * 1024 }),
)

const dirs: string[] = []
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})
describeStorageConformance('DiskStorage', async () => {
  const directory = mkdtempSync(join(tmpdir(), 'pingora-disk-cache-'))
  dirs.push(directory)
  return DiskStorage.open({ directory, maxBytes: 64 * 1024 * 1024 })
})

let redis: Awaited<ReturnType<typeof startRedis>> | undefined
let client: Redis | undefined
beforeAll(async () => {
  if (!hasRedisServer) throw new Error('redis-server is required (apt-get install -y redis-server)')
  redis = await startRedis()
  client = new Redis({
    host: redis.host,
    port: redis.port,
    lazyConnect: true,
    enableOfflineQueue: false,
  })
  await client.connect()
})
afterAll(async () => {
  client?.disconnect()
  await redis?.stop()
})
let prefix = 0
describeStorageConformance('RedisStorage', async () => {
  if (client === undefined) throw new Error('redis client not started')
  prefix++
  return new RedisStorage({ client, prefix: `conformance${prefix}:`, chunkBytes: 64 * 1024 })
})
