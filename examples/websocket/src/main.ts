import { parseArgs } from 'node:util'
import { startEchoOrigin } from './echo-origin.ts'
import { startWebSocketProxy } from './websocket-proxy.ts'

const USAGE = `usage: websocket [--listen ADDR] [--upstream HOST:PORT] [--path PATH]
  --listen ADDR         where to listen (default 127.0.0.1:6193)
  --upstream HOST:PORT  the WebSocket origin (default: an embedded echo origin)
  --path PATH           the only path that may be upgraded (default /ws)
`

// `pnpm start -- --flag` passes the `--` through: skip it.
const argv = process.argv.slice(2)
if (argv[0] === '--') argv.shift()
const { values } = parseArgs({
  args: argv,
  options: {
    listen: { type: 'string', default: '127.0.0.1:6193' },
    upstream: { type: 'string' },
    path: { type: 'string', default: '/ws' },
    help: { type: 'boolean', short: 'h', default: false },
  },
})
if (values.help) {
  process.stdout.write(USAGE)
  process.exit(0)
}

const upstream = values.upstream ?? (await startEchoOrigin()).address
const proxy = await startWebSocketProxy({ upstream, path: values.path }, values.listen)
const host = values.listen.slice(0, values.listen.lastIndexOf(':'))
process.stdout.write(`websocket proxy listening on ws://${host}:${proxy.port}${values.path} (origin: ${upstream})
try (Node >= 22): node -e "const ws = new WebSocket('ws://${host}:${proxy.port}${values.path}'); ws.onopen = () => ws.send('hello'); ws.onmessage = (m) => { console.log(m.data); ws.close() }"
`)
const stop = (): void => {
  void proxy.close().then(() => process.exit(0))
}
process.once('SIGINT', stop)
process.once('SIGTERM', stop)
