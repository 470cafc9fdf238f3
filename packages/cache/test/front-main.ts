// Runs the test caching front in its own process over a shared Redis storage, for the
// two-process test. Prints `listening <url>` once ready.
// Usage: tsx --conditions=@pingora-ts/source test/front-main.ts <origin url> <redis port>
import { Redis } from 'ioredis'
import { CacheLock } from '../src/lock.ts'
import { RedisStorage } from '../src/redis-storage.ts'
import { startCacheFront } from './cache-front.ts'

const [origin, redisPort] = process.argv.slice(2)
if (origin === undefined || redisPort === undefined)
  throw new Error('usage: front-main.ts <origin> <redis port>')
const client = new Redis({
  host: '127.0.0.1',
  port: Number(redisPort),
  enableOfflineQueue: false,
  maxRetriesPerRequest: 0,
})
client.on('error', () => undefined)
await new Promise<void>((resolve) => client.once('ready', () => resolve()))
const front = await startCacheFront({
  origin,
  // This test is about sharing, not about timeouts: on a loaded machine a command can take more
  // than the default 500 ms, and a write that times out is a no-op (the second front misses).
  storage: new RedisStorage({ client, commandTimeoutMs: 10_000 }),
  lock: new CacheLock(),
})
process.stdout.write(`listening ${front.url}\n`)
process.on('SIGTERM', () => {
  void front.close().finally(() => {
    client.disconnect()
    process.exit(0)
  })
})
