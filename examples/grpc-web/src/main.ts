import { parseArgs } from 'node:util'
import { startGrpcWebProxy } from './grpc-web-proxy.ts'

const USAGE = `usage: grpc-web --upstream HOST:PORT [--listen ADDR]
  --upstream HOST:PORT  the gRPC origin, spoken to in cleartext HTTP/2 (h2c)
  --listen ADDR         where to listen for gRPC-web clients (default 127.0.0.1:6191)
`

// `pnpm start -- --flag` passes the `--` through: skip it.
const argv = process.argv.slice(2)
if (argv[0] === '--') argv.shift()
const { values } = parseArgs({
  args: argv,
  options: {
    listen: { type: 'string', default: '127.0.0.1:6191' },
    upstream: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
})
if (values.help || values.upstream === undefined) {
  process.stdout.write(USAGE)
  process.exit(values.help ? 0 : 2)
}
const proxy = await startGrpcWebProxy(values.upstream, values.listen)
process.stdout.write(`gRPC-web proxy on port ${proxy.port} -> gRPC ${values.upstream}\n`)
const stop = (): void => {
  void proxy.close().then(() => process.exit(0))
}
process.once('SIGINT', stop)
process.once('SIGTERM', stop)
