import { parseArgs } from 'node:util'
import { startCtxProxy } from './ctx-proxy.ts'
import { startEchoOrigin } from './origins.ts'

const USAGE = `usage: ctx [--listen ADDR] [--upstream HOST:PORT] [--beta-upstream HOST:PORT]
  --listen ADDR               where to listen (default 127.0.0.1:6190)
  --upstream HOST:PORT        the origin for everyone (default: an embedded echo origin)
  --beta-upstream HOST:PORT   the origin for requests with a beta-flag header (default: embedded)
Prints one JSON access-log line per request.
`

// `pnpm start -- --flag` passes the `--` through: skip it.
const argv = process.argv.slice(2)
if (argv[0] === '--') argv.shift()
const { values } = parseArgs({
  args: argv,
  options: {
    listen: { type: 'string', default: '127.0.0.1:6190' },
    upstream: { type: 'string' },
    'beta-upstream': { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
})
if (values.help) {
  process.stdout.write(USAGE)
  process.exit(0)
}

const upstream = values.upstream ?? (await startEchoOrigin('stable')).address
const betaUpstream = values['beta-upstream'] ?? (await startEchoOrigin('beta')).address
const proxy = await startCtxProxy(
  {
    upstream,
    betaUpstream,
    onAccessLog: (entry) => process.stdout.write(`${JSON.stringify(entry)}\n`),
  },
  values.listen,
)
const host = values.listen.slice(0, values.listen.lastIndexOf(':'))
const base = `http://${host}:${proxy.port}`
process.stdout.write(`ctx proxy listening on ${base} (stable: ${upstream}, beta: ${betaUpstream})
try: curl -s ${base}/ ${base}/        (two requests on one connection)
     curl -s ${base}/ -H 'beta-flag: 1'
`)
const stop = (): void => {
  void proxy.close().then(() => process.exit(0))
}
process.once('SIGINT', stop)
process.once('SIGTERM', stop)
