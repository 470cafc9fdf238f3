import { parseArgs } from 'node:util'
import { startTcpProxy } from './tcp-proxy.ts'

const USAGE = `usage: tcp-proxy --upstream HOST:PORT [--upstream HOST:PORT ...] [--listen ADDR]
  --upstream HOST:PORT  a TCP upstream; several are used in round robin (default 127.0.0.1:6379)
  --listen ADDR         where to listen (default 127.0.0.1:6196; port 0 picks a free one)
  --idle-timeout MS     close connections idle this long (default 600000)
`

// `pnpm start -- --flag` passes the `--` through: skip it.
const argv = process.argv.slice(2)
if (argv[0] === '--') argv.shift()
const { values } = parseArgs({
  args: argv,
  options: {
    listen: { type: 'string', default: '127.0.0.1:6196' },
    upstream: { type: 'string', multiple: true },
    'idle-timeout': { type: 'string', default: '600000' },
    help: { type: 'boolean', short: 'h', default: false },
  },
})
if (values.help) {
  process.stdout.write(USAGE)
  process.exit(0)
}

const upstreams = values.upstream ?? ['127.0.0.1:6379']
const proxy = await startTcpProxy({
  upstreams,
  listen: values.listen,
  idleTimeoutMs: Number(values['idle-timeout']),
  onLog: (line) => process.stdout.write(`${line}\n`),
})
const host = values.listen.slice(0, values.listen.lastIndexOf(':'))
process.stdout.write(`tcp proxy listening on ${host}:${proxy.port} -> ${upstreams.join(', ')}
try (with redis-server on 6379): redis-cli -p ${proxy.port} ping
`)
const stop = (): void => {
  void proxy.close().then(() => process.exit(0))
}
process.once('SIGINT', stop)
process.once('SIGTERM', stop)
