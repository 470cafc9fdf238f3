import { checkHostPort, exitCannotStart, parseCommandLine } from '@pingora-ts/core'
import { ProxyLogs } from '@pingora-ts/observability'
import { startEchoOrigin } from './echo-origin.ts'
import { startWebSocketProxy } from './websocket-proxy.ts'

const { values } = parseCommandLine({
  name: 'websocket',
  version: '0.0.0',
  summary: 'A WebSocket-aware reverse proxy: only one path may be upgraded.',
  serverOptions: false,
  options: {
    listen: {
      type: 'string',
      default: '127.0.0.1:6193',
      valueName: 'ADDR',
      description: 'where to listen (port 0 picks a free one)',
      check: checkHostPort,
    },
    upstream: {
      type: 'string',
      valueName: 'HOST:PORT',
      description: 'the WebSocket origin (default: an embedded echo origin)',
      check: checkHostPort,
    },
    path: {
      type: 'string',
      default: '/ws',
      valueName: 'PATH',
      description: 'the only path that may be upgraded',
      check: (value) => {
        if (!value.startsWith('/')) throw new TypeError('must start with /')
      },
    },
  },
})

const upstream = values.upstream ?? (await startEchoOrigin()).address
const proxy = await startWebSocketProxy({ upstream, path: values.path }, values.listen).catch(
  exitCannotStart,
)
// From here on, the error log of @pingora-ts/observability on stderr: one line per failed
// request (status, error type, peer), backend health flips, server and connection errors (a
// failure to start is the one line above).
new ProxyLogs().enable()
const host = values.listen.slice(0, values.listen.lastIndexOf(':'))
const url = `ws://${host}:${proxy.port}${values.path}`
// Node's global WebSocket is there on every supported Node (>= 22.12); the one-liner closes
// after the echo, so it ends by itself.
process.stdout.write(`websocket proxy listening on ${url} (origin: ${upstream})
try (can be pasted into a shell):
  node -e "const ws = new WebSocket('${url}'); ws.onopen = () => ws.send('hello'); ws.onmessage = (m) => { console.log(m.data); ws.close() }"
`)
process.once('SIGINT', () => void proxy.close().then(() => process.exit(0)))
process.once('SIGTERM', () => void proxy.close(true).then(() => process.exit(0)))
