/**
 * What the batching mode of RedisRateLimiter gives up: three limiters (three proxies) on one
 * real redis-server offer six times the limit for one key for a few seconds; the script counts
 * what they allowed in total and how many round trips they made, per-request mode against
 * batching with several sync intervals. Needs `redis-server` on the PATH.
 *
 * Run: `cd packages/limits && flock /tmp/bench.lock node --import tsx bench/batch-accuracy.ts`
 */
import { startRedis } from '@pingora-ts/test-utils'
import { Redis } from 'ioredis'
import { RedisRateLimiter } from '../src/redis-rate-limiter.ts'

const PROXIES = 3
const LIMIT = 100
const WINDOW_MS = 1000
const RUN_MS = 3000
const TICK_MS = 5 // each proxy asks once per tick: 200 requests/s each, 600/s in total

const print = (line: string): void => {
  process.stdout.write(`${line}\n`)
}

const redis = await startRedis()
const clients = Array.from({ length: PROXIES }, () => new Redis(redis.port, '127.0.0.1'))

async function run(label: string, syncIntervalMs: number | undefined): Promise<void> {
  const key = `bench-${label}`
  const limiters = clients.map(
    (client) =>
      new RedisRateLimiter({
        client,
        limit: LIMIT,
        windowMs: WINDOW_MS,
        timeoutMs: 1000,
        batch: syncIntervalMs === undefined ? undefined : { syncIntervalMs },
      }),
  )
  const statsBefore = String(await redis.command('INFO', 'commandstats'))
  const calls = (stats: string) => Number(/cmdstat_evalsha:calls=(\d+)/.exec(stats)?.[1] ?? 0)
  let allowed = 0
  let asked = 0
  const pending: Promise<void>[] = []
  const started = performance.now()
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      if (performance.now() - started >= RUN_MS) {
        clearInterval(timer)
        resolve()
        return
      }
      for (const limiter of limiters) {
        asked++
        pending.push(
          limiter.check(key).then((decision) => {
            if (decision.allowed) allowed++
          }),
        )
      }
    }, TICK_MS)
  })
  await Promise.all(pending)
  const elapsed = performance.now() - started
  await Promise.all(limiters.map((limiter) => limiter.close()))
  const roundTrips = calls(String(await redis.command('INFO', 'commandstats'))) - calls(statsBefore)
  // A sliding window lets at most LIMIT x (1 + T / window) through in a span of T.
  const bound = LIMIT * (1 + elapsed / WINDOW_MS)
  print(
    `  ${label.padEnd(18)} asked ${String(asked).padStart(5)}  allowed ${String(allowed).padStart(4)}` +
      `  (${((allowed / bound - 1) * 100).toFixed(0).padStart(4)} % vs the exact bound ${bound.toFixed(0)})` +
      `  round trips ${String(roundTrips).padStart(5)}`,
  )
}

print(
  `${PROXIES} proxies, limit ${LIMIT} per ${WINDOW_MS} ms, ${(PROXIES * 1000) / TICK_MS} requests/s offered for ${RUN_MS} ms:`,
)
await run('per request', undefined)
for (const syncIntervalMs of [10, 50, 200]) await run(`batch ${syncIntervalMs} ms`, syncIntervalMs)
for (const client of clients) client.disconnect()
await redis.stop()
