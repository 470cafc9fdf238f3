import { parseArgs } from 'node:util'
import { LocalRateLimiter, RedisRateLimiter } from '@pingora-ts/limits'
import { Redis } from 'ioredis'
import { startEchoOrigin } from './origins.ts'
import { type ClientLimiter, startRateLimiter } from './rate-limiter.ts'

const USAGE = `usage: rate-limiter [--listen ADDR] [--upstream HOST:PORT] [--limit N] [--window-ms MS]
                    [--redis URL [--fallback-limit N] [--fail-closed] [--timeout-ms MS] [--batch-ms MS]]
  --listen ADDR          where to listen (default 127.0.0.1:6194; port 0 picks a free one)
  --upstream HOST:PORT   the origin (default: an embedded echo origin)
  --limit N              requests per client per window (default 1)
  --window-ms MS         the sliding window (default 1000)
  --redis URL            share the limit through Redis (default: a limit per process)
  --fallback-limit N     per-process limit while Redis is down (default: the limit)
  --fail-closed          answer 429 while Redis is down instead of the fallback limit
  --timeout-ms MS        longest wait for Redis per request (default 50)
  --batch-ms MS          batching mode: decide locally, sync with Redis every MS
`

// `pnpm start -- --flag` passes the `--` through: skip it.
const argv = process.argv.slice(2)
if (argv[0] === '--') argv.shift()
const { values } = parseArgs({
  args: argv,
  options: {
    listen: { type: 'string', default: '127.0.0.1:6194' },
    upstream: { type: 'string' },
    limit: { type: 'string', default: '1' },
    'window-ms': { type: 'string', default: '1000' },
    redis: { type: 'string' },
    'fallback-limit': { type: 'string' },
    'fail-closed': { type: 'boolean', default: false },
    'timeout-ms': { type: 'string', default: '50' },
    'batch-ms': { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
})
if (values.help) {
  process.stdout.write(USAGE)
  process.exit(0)
}

const limit = Number(values.limit)
const windowMs = Number(values['window-ms'])
let redis: Redis | undefined
let limiter: ClientLimiter
if (values.redis === undefined) {
  limiter = new LocalRateLimiter({ limit, windowMs })
} else {
  // Fail fast while disconnected (no offline queue): the limiter's failure policy takes over.
  redis = new Redis(values.redis, { enableOfflineQueue: false, maxRetriesPerRequest: 0 })
  redis.on('error', () => {}) // reconnects by itself; the limiter publishes its own diagnostics
  limiter = new RedisRateLimiter({
    client: redis,
    limit,
    windowMs,
    fallbackLimit:
      values['fallback-limit'] === undefined ? limit : Number(values['fallback-limit']),
    failurePolicy: values['fail-closed'] ? 'closed' : 'open',
    timeoutMs: Number(values['timeout-ms']),
    batch:
      values['batch-ms'] === undefined ? undefined : { syncIntervalMs: Number(values['batch-ms']) },
  })
  await new Promise((resolve) => redis?.once('ready', resolve))
}

const upstream = values.upstream ?? (await startEchoOrigin('origin')).address
const proxy = await startRateLimiter({ upstream, limiter }, values.listen)
const host = values.listen.slice(0, values.listen.lastIndexOf(':'))
const base = `http://${host}:${proxy.port}`
const shared = values.redis === undefined ? 'per process' : `shared through ${values.redis}`
process.stdout.write(`rate limiter listening on ${base} (upstream ${upstream}, ${limit} per ${windowMs} ms per client, ${shared})
try: curl -i ${base}/ -H 'appid: 1'   (twice within a second: 429 with X-Rate-Limit-* headers)
`)
const stop = (): void => {
  void proxy.close().then(() => {
    redis?.disconnect()
    process.exit(0)
  })
}
process.once('SIGINT', stop)
process.once('SIGTERM', stop)
