import { once } from 'node:events'
import { hasRedisServer, type StartedRedis, startRedis } from '@pingora-ts/test-utils'
import { Cluster, Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest'
import { RedisRateLimiter } from '../src/redis-rate-limiter.ts'

/** An ioredis client that fails fast while disconnected and reconnects every 20 ms. */
async function connect(redis: StartedRedis): Promise<Redis> {
  const client = new Redis(redis.port, '127.0.0.1', {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => 20,
  })
  client.on('error', () => {}) // connection errors while Redis is down are expected here
  onTestFinished(() => {
    client.disconnect()
  })
  await once(client, 'ready')
  return client
}

async function evalshaCalls(redis: StartedRedis): Promise<number> {
  const stats = String(await redis.command('INFO', 'commandstats'))
  return Number(/cmdstat_evalsha:calls=(\d+)/.exec(stats)?.[1] ?? 0)
}

/** A decision timeout no loaded CI machine reaches, for tests that are not about the timeout. */
const SLOW = 5000

function manualClock() {
  const state = { now: 0 }
  return { state, now: () => state.now }
}

describe.skipIf(!hasRedisServer)('RedisRateLimiter on a real redis-server', () => {
  let redis: StartedRedis
  let keyId = 0
  const freshKey = () => `client-${++keyId}`

  beforeAll(async () => {
    redis = await startRedis()
  })
  afterAll(async () => {
    await redis?.stop()
  })

  it('shares one limit between limiters on different connections, one EVALSHA per decision', async () => {
    const a = new RedisRateLimiter({
      client: await connect(redis),
      limit: 10,
      windowMs: 60_000,
      timeoutMs: SLOW,
    })
    const b = new RedisRateLimiter({
      client: await connect(redis),
      limit: 10,
      windowMs: 60_000,
      timeoutMs: SLOW,
    })
    const key = freshKey()
    await a.check(key) // loads the script (EVALSHA, NOSCRIPT, EVAL) on a fresh server
    const before = await evalshaCalls(redis)
    const decisions = await Promise.all(
      Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? a : b).check(key)),
    )
    expect(await evalshaCalls(redis)).toBe(before + 20)
    expect(decisions.filter((d) => d.allowed)).toHaveLength(9)
    expect(decisions.every((d) => d.source === 'redis')).toBe(true)
    const denied = decisions.find((d) => !d.allowed)
    expect(denied).toMatchObject({ limit: 10, remaining: 0 })
    expect(denied?.retryAfterMs).toBeGreaterThan(0)
    expect(denied?.resetMs).toBeGreaterThan(0)
    expect(denied?.resetMs).toBeLessThanOrEqual(60_000)
  })

  it('stores a key under a hash tag, escaping braces so the tag cannot be broken', async () => {
    const limiter = new RedisRateLimiter({
      client: await connect(redis),
      limit: 5,
      prefix: 't1:',
      timeoutMs: SLOW,
    })
    await limiter.check('a{b}c%')
    expect(await redis.command('KEYS', 't1:*')).toEqual(['t1:{a%7Bb%7Dc%25}'])
    expect(await redis.command('PTTL', 't1:{a%7Bb%7Dc%25}')).toBeGreaterThan(1000)
  })

  it('reloads the script with EVAL after Redis forgets it (NOSCRIPT)', async () => {
    const limiter = new RedisRateLimiter({
      client: await connect(redis),
      limit: 5,
      timeoutMs: SLOW,
    })
    const key = freshKey()
    expect((await limiter.check(key)).source).toBe('redis')
    await redis.command('SCRIPT', 'FLUSH')
    const decision = await limiter.check(key)
    expect(decision).toMatchObject({ source: 'redis', allowed: true, remaining: 3 })
  })

  it('fails open on the local fallback bound while Redis is down, and returns to Redis when it is back', async () => {
    const own = await startRedis()
    onTestFinished(own.stop)
    const client = await connect(own)
    const { state, now } = manualClock()
    const limiter = new RedisRateLimiter({
      client,
      limit: 100,
      fallbackLimit: 3,
      timeoutMs: SLOW,
      windowMs: 60_000,
      retryIntervalMs: 1000,
      now,
    })
    expect((await limiter.check('k')).source).toBe('redis')
    await own.kill()
    const down = []
    for (let i = 0; i < 5; i++) down.push(await limiter.check('k'))
    expect(down.map((d) => d.source)).toEqual(Array(5).fill('fallback'))
    expect(down.map((d) => d.allowed)).toEqual([true, true, true, false, false])
    // Not events.once: it would reject on the connection errors ioredis emits while reconnecting.
    const ready = new Promise((resolve) => client.once('ready', resolve))
    await own.restart()
    await ready
    // Within the retry interval the limiter does not ask Redis yet.
    expect((await limiter.check('k')).source).toBe('fallback')
    state.now += 1000
    const back = await limiter.check('k')
    expect(back).toMatchObject({ source: 'redis', allowed: true, remaining: 99 })
  })

  it('fails closed while Redis is down when told to', async () => {
    const own = await startRedis()
    onTestFinished(own.stop)
    const client = await connect(own)
    const { state, now } = manualClock()
    const limiter = new RedisRateLimiter({
      client,
      limit: 100,
      failurePolicy: 'closed',
      timeoutMs: SLOW,
      retryIntervalMs: 500,
      now,
    })
    await own.kill()
    const denied = await limiter.check('k')
    expect(denied).toMatchObject({ allowed: false, source: 'fail-closed', retryAfterMs: 500 })
    // Not events.once: it would reject on the connection errors ioredis emits while reconnecting.
    const ready = new Promise((resolve) => client.once('ready', resolve))
    await own.restart()
    await ready
    state.now += 500
    expect(await limiter.check('k')).toMatchObject({ allowed: true, source: 'redis' })
  })

  it('never waits longer than the decision timeout when Redis stalls', async () => {
    const own = await startRedis()
    onTestFinished(own.stop)
    const client = await connect(own)
    // Load the script with a patient limiter first, so a busy machine cannot fail the warm-up.
    await new RedisRateLimiter({ client, limit: 100, timeoutMs: SLOW }).check('warm-up')
    const limiter = new RedisRateLimiter({ client, limit: 100, timeoutMs: 200 })
    own.pause()
    onTestFinished(own.resume)
    const started = performance.now()
    const decision = await limiter.check('k')
    const elapsed = performance.now() - started
    expect(decision.source).toBe('fallback')
    expect(elapsed).toBeGreaterThanOrEqual(195)
    expect(elapsed).toBeLessThan(200 + 500) // the timer, plus scheduling slack on a busy machine
    // Marked down: the next decision does not wait at all.
    const next = performance.now()
    expect((await limiter.check('k')).source).toBe('fallback')
    expect(performance.now() - next).toBeLessThan(150)
    own.resume()
  })

  it('keeps the total of three limiters within the limit under concurrency', async () => {
    const limiters = await Promise.all(
      [0, 1, 2].map(
        async () =>
          new RedisRateLimiter({
            client: await connect(redis),
            limit: 20,
            windowMs: 60_000,
            timeoutMs: SLOW,
          }),
      ),
    )
    const key = freshKey()
    const decisions = await Promise.all(
      Array.from({ length: 90 }, (_, i) => limiters[i % 3]?.check(key)),
    )
    const allowed = decisions.filter((d) => d?.allowed).length
    // Atomic in Redis: exactly the limit, one more if the 60 s window turned during the test.
    expect(allowed).toBeGreaterThanOrEqual(20)
    expect(allowed).toBeLessThanOrEqual(21)
  })

  describe('batching mode', () => {
    it('decides locally between syncs and gives up at most (P - 1) x (admitted per proxy per sync)', async () => {
      const proxies = 3
      const perRound = 4
      const limit = 30
      const limiters = await Promise.all(
        Array.from({ length: proxies }, async () => {
          const limiter = new RedisRateLimiter({
            client: await connect(redis),
            limit,
            windowMs: 60_000,
            timeoutMs: SLOW,
            batch: { syncIntervalMs: 60_000 }, // synced by hand below, round by round
          })
          onTestFinished(() => limiter.close())
          return limiter
        }),
      )
      const key = freshKey()
      const before = await evalshaCalls(redis)
      let allowed = 0
      let decisions = 0
      for (let round = 0; round < 20; round++) {
        for (const limiter of limiters) {
          for (let i = 0; i < perRound; i++) {
            const decision = await limiter.check(key)
            expect(decision.source).toBe('batch')
            decisions++
            if (decision.allowed) allowed++
          }
        }
        await Promise.all(limiters.map((limiter) => limiter.sync()))
      }
      const roundTrips = (await evalshaCalls(redis)) - before
      expect(decisions).toBe(240)
      // One EVALSHA per proxy per sync instead of one per decision.
      expect(roundTrips).toBeLessThanOrEqual(proxies * 20)
      expect(allowed).toBeGreaterThanOrEqual(limit)
      expect(allowed).toBeLessThanOrEqual(limit + (proxies - 1) * perRound)
      // Redis holds every admitted request once all syncs are done.
      const stored = Number(await redis.command('HGET', `pingora:rl:{${key}}`, 'c'))
      expect(stored).toBe(allowed)
    })

    it('syncs on its timer', async () => {
      const key = freshKey()
      const redisKey = `pingora:rl:{${key}}`
      // Wait on Redis itself: a keyspace notification arrives when the timer's sync writes the key.
      await redis.command('CONFIG', 'SET', 'notify-keyspace-events', 'Kh')
      const subscriber = await connect(redis)
      await subscriber.subscribe(`__keyspace@0__:${redisKey}`)
      const written = once(subscriber, 'message')
      const limiter = new RedisRateLimiter({
        client: await connect(redis),
        limit: 10,
        windowMs: 60_000,
        timeoutMs: SLOW,
        batch: { syncIntervalMs: 20 },
      })
      onTestFinished(() => limiter.close())
      // Decided locally; only the timer (nobody calls sync here) can write the key.
      expect((await limiter.check(key, 4)).source).toBe('batch')
      const [, event] = await written
      expect(event).toBe('hset')
      expect(Number(await redis.command('HGET', redisKey, 'c'))).toBe(4)
    })
  })

  it('works on Redis Cluster through ioredis Cluster (one key, one slot)', async () => {
    const node = await startRedis({ cluster: true })
    onTestFinished(node.stop)
    const cluster = new Cluster([{ host: '127.0.0.1', port: node.port }], {
      enableOfflineQueue: true,
      redisOptions: { maxRetriesPerRequest: 1 },
    })
    cluster.on('error', () => {})
    onTestFinished(() => {
      cluster.disconnect()
    })
    await once(cluster, 'ready')
    const limiter = new RedisRateLimiter({ client: cluster, limit: 2, timeoutMs: SLOW })
    const decisions = []
    for (let i = 0; i < 3; i++) decisions.push(await limiter.check('a{b'))
    expect(decisions.map((d) => [d.source, d.allowed])).toEqual([
      ['redis', true],
      ['redis', true],
      ['redis', false],
    ])
  })
})
