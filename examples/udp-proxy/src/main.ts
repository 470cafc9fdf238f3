import { parseArgs } from 'node:util'
import { startUdpProxy } from './udp-proxy.ts'

const USAGE = `usage: udp-proxy [--upstream HOST:PORT ...] [--listen ADDR ...]
  --upstream HOST:PORT  a UDP upstream; several are used in round robin per client (default 1.1.1.1:53)
  --listen ADDR         where to listen; repeat for IPv4 and IPv6 (default 127.0.0.1:6195)
  --idle-timeout MS     end a client's session after this much silence (default 30000)
`

// `pnpm start -- --flag` passes the `--` through: skip it.
const argv = process.argv.slice(2)
if (argv[0] === '--') argv.shift()
const { values } = parseArgs({
  args: argv,
  options: {
    listen: { type: 'string', multiple: true },
    upstream: { type: 'string', multiple: true },
    'idle-timeout': { type: 'string', default: '30000' },
    help: { type: 'boolean', short: 'h', default: false },
  },
})
if (values.help) {
  process.stdout.write(USAGE)
  process.exit(0)
}

const listen = values.listen ?? ['127.0.0.1:6195']
const upstreams = values.upstream ?? ['1.1.1.1:53']
const proxy = await startUdpProxy({
  upstreams,
  listen,
  idleTimeoutMs: Number(values['idle-timeout']),
  onLog: (line) => process.stdout.write(`${line}\n`),
})
process.stdout.write(`udp proxy listening on ${listen.join(', ')} -> ${upstreams.join(', ')}
try: dig @127.0.0.1 -p ${proxy.ports[0]} example.com
`)
const stop = (): void => {
  void proxy.close().then(() => process.exit(0))
}
process.once('SIGINT', stop)
process.once('SIGTERM', stop)
