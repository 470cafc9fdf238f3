import {
  checkHostPort,
  checkWholeNumber,
  exitCannotStart,
  parseCommandLine,
} from '@pingora-ts/core'
import { ProxyLogs } from '@pingora-ts/observability'
import { DEFAULT_MAX_BODY_BYTES, startJsonRewrite } from './json-rewrite.ts'
import { startDemoOrigin } from './origin.ts'

const { values } = parseCommandLine({
  name: 'modify-response',
  version: '0.0.0',
  summary: 'Rewrites JSON responses: removes the redacted keys at any depth.',
  serverOptions: false,
  options: {
    listen: {
      type: 'string',
      default: '127.0.0.1:6192',
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
    redact: {
      type: 'string',
      multiple: true,
      valueName: 'KEY',
      description: 'a key removed from JSON objects (default: password, secret)',
    },
    'max-body-bytes': {
      type: 'string',
      valueName: 'N',
      description: `the largest JSON body rewritten (default: ${DEFAULT_MAX_BODY_BYTES})`,
      check: (value) => {
        checkWholeNumber(value)
        if (Number(value) < 1) throw new TypeError('must be at least 1')
      },
    },
  },
})

const upstream = values.upstream ?? (await startDemoOrigin()).address
const maxBody = values['max-body-bytes']
const proxy = await startJsonRewrite(
  {
    upstream,
    redactKeys: values.redact ?? ['password', 'secret'],
    maxBodyBytes: maxBody === undefined ? undefined : Number(maxBody),
  },
  values.listen,
).catch(exitCannotStart)
// From here on, the error log of @pingora-ts/observability on stderr: one line per failed
// request (status, error type, peer), backend health flips, server and connection errors (a
// failure to start is the one line of exitCannotStart above).
new ProxyLogs().enable()
const host = values.listen.slice(0, values.listen.lastIndexOf(':'))
const base = `http://${host}:${proxy.port}`
process.stdout.write(`modify-response proxy listening on ${base} (origin: ${upstream})
try (each line can be pasted into a shell):
  curl -s http://${upstream}/user   # the origin's JSON, secrets included
  curl -s ${base}/user   # the same through the proxy, secrets removed
`)
process.once('SIGINT', () => void proxy.close().then(() => process.exit(0)))
process.once('SIGTERM', () => void proxy.close(true).then(() => process.exit(0)))
