import {
  checkHostPort,
  checkWholeNumber,
  exitCannotStart,
  parseCommandLine,
} from '@pingora-ts/core'
import { ProxyLogs } from '@pingora-ts/observability'
import {
  DEFAULT_MAX_BYTES,
  DEFAULT_MAX_OBJECT_BYTES,
  type StorageChoice,
  startCachingProxy,
} from './caching-proxy.ts'
import { startDemoOrigin } from './origin.ts'

const positive = (value: string): void => {
  checkWholeNumber(value)
  if (Number(value) < 1) throw new TypeError('must be at least 1')
}

const { values } = parseCommandLine({
  name: 'cache',
  version: '0.0.0',
  summary: 'A caching reverse proxy (memory, disk or Redis storage) with X-Cache-Status.',
  serverOptions: false,
  options: {
    listen: {
      type: 'string',
      default: '127.0.0.1:6200',
      valueName: 'ADDR',
      description: 'where to listen (port 0 picks a free one)',
      check: checkHostPort,
    },
    upstream: {
      type: 'string',
      valueName: 'HOST:PORT',
      description: 'the origin (default: an embedded demo origin)',
      check: checkHostPort,
    },
    disk: {
      type: 'string',
      valueName: 'DIR',
      description: 'store responses in this directory (survives restarts)',
    },
    redis: {
      type: 'string',
      valueName: 'URL',
      description: 'store responses in Redis (redis://host:port), shared by several proxies',
    },
    'max-bytes': {
      type: 'string',
      valueName: 'N',
      description: `memory or disk bound in bytes (default: ${DEFAULT_MAX_BYTES})`,
      check: positive,
    },
    'max-object-bytes': {
      type: 'string',
      valueName: 'N',
      description: `the largest response stored (default: ${DEFAULT_MAX_OBJECT_BYTES})`,
      check: positive,
    },
    'default-ttl': {
      type: 'string',
      valueName: 'SEC',
      description: 'freshness of 200/301/404 responses that set none (like proxy_cache_valid)',
      check: positive,
    },
    'stale-while-revalidate': {
      type: 'boolean',
      description: 'serve stale responses while refreshing them, when they allow it',
    },
    purge: {
      type: 'boolean',
      description: 'let loopback clients remove an entry with the PURGE method',
    },
  },
})

if (values.disk !== undefined && values.redis !== undefined) {
  exitCannotStart(new TypeError('--disk and --redis are exclusive: choose one storage'))
}
const maxBytes = values['max-bytes'] === undefined ? undefined : Number(values['max-bytes'])
const choice: StorageChoice =
  values.redis !== undefined
    ? { kind: 'redis', url: values.redis }
    : values.disk !== undefined
      ? { kind: 'disk', directory: values.disk, maxBytes }
      : { kind: 'memory', maxBytes }
const upstream = values.upstream ?? (await startDemoOrigin()).address
const maxObject = values['max-object-bytes']
const proxy = await startCachingProxy(
  {
    upstream,
    maxObjectBytes: maxObject === undefined ? undefined : Number(maxObject),
    staleWhileRevalidate: values['stale-while-revalidate'] === true,
    purge: values.purge === true,
    defaultTtlSec: values['default-ttl'] === undefined ? undefined : Number(values['default-ttl']),
  },
  choice,
  values.listen,
).catch(exitCannotStart)
// From here on, the error log of @pingora-ts/observability on stderr: one line per failed
// request (status, error type, peer), server and connection errors (a failure to start is the
// one line above).
new ProxyLogs().enable()
const host = values.listen.slice(0, values.listen.lastIndexOf(':'))
const base = `http://${host}:${proxy.port}`
process.stdout.write(`cache proxy listening on ${base} (origin: ${upstream}, storage: ${choice.kind})
try (each line can be pasted into a shell):
  curl -si ${base}/time | grep -i x-cache-status   # MISS, then HIT for 10 seconds
`)
process.once('SIGINT', () => void proxy.close().then(() => process.exit(0)))
process.once('SIGTERM', () => void proxy.close(true).then(() => process.exit(0)))
