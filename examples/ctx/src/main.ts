import { checkHostPort, exitCannotStart, parseCommandLine } from '@pingora-ts/core'
import { startEchoOrigin } from '@pingora-ts/example-origins'
import { ProxyLogs } from '@pingora-ts/observability'
import { startCtxProxy } from './ctx-proxy.ts'

const { values } = parseCommandLine({
  name: 'ctx',
  version: '0.0.0',
  summary: 'Routes beta users to their own origin; prints one JSON access-log line per request.',
  serverOptions: false,
  options: {
    listen: {
      type: 'string',
      default: '127.0.0.1:6190',
      valueName: 'ADDR',
      description: 'where to listen (port 0 picks a free one)',
      check: checkHostPort,
    },
    upstream: {
      type: 'string',
      valueName: 'HOST:PORT',
      description: 'the origin for everyone (default: an embedded echo origin)',
      check: checkHostPort,
    },
    'beta-upstream': {
      type: 'string',
      valueName: 'HOST:PORT',
      description: 'the origin for requests with a beta-flag header (default: embedded)',
      check: checkHostPort,
    },
  },
})

const upstream = values.upstream ?? (await startEchoOrigin('stable')).address
const betaUpstream = values['beta-upstream'] ?? (await startEchoOrigin('beta')).address
const proxy = await startCtxProxy(
  {
    upstream,
    betaUpstream,
    onAccessLog: (entry) => process.stdout.write(`${JSON.stringify(entry)}\n`),
  },
  values.listen,
).catch(exitCannotStart)
// From here on, the error log of @pingora-ts/observability on stderr: one line per failed
// request (status, error type, peer), backend health flips, server and connection errors (a
// failure to start is the one line of exitCannotStart above).
new ProxyLogs().enable()
const host = values.listen.slice(0, values.listen.lastIndexOf(':'))
const base = `http://${host}:${proxy.port}`
process.stdout.write(`ctx proxy listening on ${base} (stable: ${upstream}, beta: ${betaUpstream})
try (each line can be pasted into a shell):
  curl -s ${base}/ ${base}/      # two requests on one connection
  curl -s ${base}/ -H 'beta-flag: 1'
`)
process.once('SIGINT', () => void proxy.close().then(() => process.exit(0)))
process.once('SIGTERM', () => void proxy.close(true).then(() => process.exit(0)))
