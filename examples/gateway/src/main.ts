import {
  checkHostPort,
  checkWholeNumber,
  exitCannotStart,
  parseCommandLine,
} from '@pingora-ts/core'
import { startEchoOrigin } from '@pingora-ts/example-origins'
import { ProxyLogs } from '@pingora-ts/observability'
import { startGateway } from './gateway.ts'

const { values } = parseCommandLine({
  name: 'gateway',
  version: '0.0.0',
  summary: 'An API gateway: bearer-token check, routing by path, in-flight limits per origin.',
  serverOptions: false,
  options: {
    listen: {
      type: 'string',
      default: '127.0.0.1:6191',
      valueName: 'ADDR',
      description: 'where to listen (port 0 picks a free one)',
      check: checkHostPort,
    },
    api: {
      type: 'string',
      valueName: 'HOST:PORT',
      description: 'the origin for /api/* (default: an embedded echo origin)',
      check: checkHostPort,
    },
    web: {
      type: 'string',
      valueName: 'HOST:PORT',
      description: 'the origin for every other path (default: an embedded echo origin)',
      check: checkHostPort,
    },
    token: {
      type: 'string',
      default: 'secret',
      valueName: 'TOKEN',
      description: 'the bearer token clients must send',
      check: (value) => {
        if (value === '') throw new TypeError('must not be empty')
      },
    },
    'max-inflight': {
      type: 'string',
      default: '1000',
      valueName: 'N',
      description: 'requests in flight per origin before answering 503',
      check: checkWholeNumber,
    },
  },
})

const api = values.api ?? (await startEchoOrigin('api')).address
const web = values.web ?? (await startEchoOrigin('web')).address
const gateway = await startGateway(
  {
    apiUpstream: api,
    webUpstream: web,
    token: values.token,
    maxInflightPerUpstream: Number(values['max-inflight']),
  },
  values.listen,
).catch(exitCannotStart)
// From here on, the error log of @pingora-ts/observability on stderr: one line per failed
// request (status, error type, peer), backend health flips, server and connection errors (a
// failure to start is the one line of exitCannotStart above).
new ProxyLogs().enable()
const host = values.listen.slice(0, values.listen.lastIndexOf(':'))
const base = `http://${host}:${gateway.port}`
process.stdout.write(`gateway listening on ${base} (api: ${api}, web: ${web})
try (each line can be pasted into a shell):
  curl -i ${base}/api/users                                        # 403: no token
  curl -s ${base}/api/users -H 'Authorization: Bearer ${values.token}'   # the api origin
  curl -s ${base}/index.html -H 'Authorization: Bearer ${values.token}'  # the web origin
`)
process.once('SIGINT', () => void gateway.close().then(() => process.exit(0)))
process.once('SIGTERM', () => void gateway.close(true).then(() => process.exit(0)))
