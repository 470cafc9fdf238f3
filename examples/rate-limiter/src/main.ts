import {
  checkHostPort,
  checkWholeNumber,
  exitCannotStart,
  parseCommandLine,
} from '@pingora-ts/core'
import { startEchoOrigin } from '@pingora-ts/example-origins'
import { LocalRateLimiter, RedisRateLimiter } from '@pingora-ts/limits'
import { ProxyLogs } from '@pingora-ts/observability'
import { Redis } from 'ioredis'
import { type ClientLimiter, startRateLimiter } from './rate-limiter.ts'

const { values } = parseCommandLine({
  name: 'rate-limiter',
  version: '0.0.0',
  summary:
    'Per-client rate limits (429 with X-Rate-Limit-* headers), local or shared through Redis.',
  serverOptions: false,
  options: {
    listen: {
      type: 'string',
      default: '127.0.0.1:6194',
      valueName: 'ADDR',
      description: 'where to listen (port 0 picks a free one)',
      check: checkHostPort,
    },
    upstream: {
      type: 'string',
      valueName: 'HOST:PORT',
      description: 'the origin (default: an embedded echo origin)',
      check: checkHostPort,
    },
    limit: {
      type: 'string',
      default: '1',
      valueName: 'N',
      description: 'requests per client per window',
      check: checkWholeNumber,
    },
    'window-ms': {
      type: 'string',
      default: '1000',
      valueName: 'MS',
      description: 'the sliding window',
      check: checkWholeNumber,
    },
    redis: {
      type: 'string',
      valueName: 'URL',
      description: 'share the limit through Redis (default: a limit per process)',
      check: (value) => {
        if (!/^rediss?:\/\//.test(value)) throw new TypeError('expected redis://HOST:PORT')
      },
    },
    'fallback-limit': {
      type: 'string',
      valueName: 'N',
      description: 'per-process limit while Redis is down (default: the limit)',
      check: checkWholeNumber,
    },
    'fail-closed': {
      type: 'boolean',
      description: 'answer 429 while Redis is down instead of the fallback limit',
    },
    'timeout-ms': {
      type: 'string',
      default: '50',
      valueName: 'MS',
      description: 'longest wait for Redis per request',
      check: checkWholeNumber,
    },
    'batch-ms': {
      type: 'string',
      valueName: 'MS',
      description: 'batching mode: decide locally, sync with Redis every MS',
      check: checkWholeNumber,
    },
  },
})

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
    failurePolicy: values['fail-closed'] === true ? 'closed' : 'open',
    timeoutMs: Number(values['timeout-ms']),
    batch:
      values['batch-ms'] === undefined ? undefined : { syncIntervalMs: Number(values['batch-ms']) },
  })
  await new Promise((resolve) => redis?.once('ready', resolve))
}

const upstream = values.upstream ?? (await startEchoOrigin('origin')).address
const proxy = await startRateLimiter({ upstream, limiter }, values.listen).catch(exitCannotStart)
// From here on, the error log of @pingora-ts/observability on stderr: one line per failed
// request (status, error type, peer), backend health flips, server and connection errors (a
// failure to start is the one line of exitCannotStart above).
new ProxyLogs().enable()
const host = values.listen.slice(0, values.listen.lastIndexOf(':'))
const base = `http://${host}:${proxy.port}`
const shared = values.redis === undefined ? 'per process' : `shared through ${values.redis}`
process.stdout.write(`rate limiter listening on ${base} (upstream ${upstream}, ${limit} per ${windowMs} ms per client, ${shared})
try (can be pasted into a shell; the second answer within a second is a 429 with X-Rate-Limit-* headers):
  curl -si ${base}/ -H 'appid: 1' ${base}/ -H 'appid: 1'
`)
const stop = (graceful: boolean): void => {
  void proxy.close(graceful).then(() => {
    redis?.disconnect()
    process.exit(0)
  })
}
process.once('SIGINT', () => stop(false))
process.once('SIGTERM', () => stop(true))
