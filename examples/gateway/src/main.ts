import { parseArgs } from 'node:util'
import { startGateway } from './gateway.ts'
import { startEchoOrigin } from './origins.ts'

const USAGE = `usage: gateway [--listen ADDR] [--api HOST:PORT] [--web HOST:PORT] [--token TOKEN] [--max-inflight N]
  --listen ADDR     where to listen (default 127.0.0.1:6191)
  --api HOST:PORT   the origin for /api/* (default: an embedded echo origin)
  --web HOST:PORT   the origin for every other path (default: an embedded echo origin)
  --token TOKEN     the bearer token clients must send (default: secret)
  --max-inflight N  requests in flight per origin before answering 503 (default 1000)
`

// `pnpm start -- --flag` passes the `--` through: skip it.
const argv = process.argv.slice(2)
if (argv[0] === '--') argv.shift()
const { values } = parseArgs({
  args: argv,
  options: {
    listen: { type: 'string', default: '127.0.0.1:6191' },
    api: { type: 'string' },
    web: { type: 'string' },
    token: { type: 'string', default: 'secret' },
    'max-inflight': { type: 'string', default: '1000' },
    help: { type: 'boolean', short: 'h', default: false },
  },
})
if (values.help) {
  process.stdout.write(USAGE)
  process.exit(0)
}

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
)
const host = values.listen.slice(0, values.listen.lastIndexOf(':'))
const base = `http://${host}:${gateway.port}`
process.stdout.write(`gateway listening on ${base} (api: ${api}, web: ${web})
try: curl -i ${base}/api/users                                   (403: no token)
     curl -s ${base}/api/users -H 'Authorization: Bearer ${values.token}'  (api origin)
     curl -s ${base}/index.html -H 'Authorization: Bearer ${values.token}' (web origin)
`)
const stop = (): void => {
  void gateway.close().then(() => process.exit(0))
}
process.once('SIGINT', stop)
process.once('SIGTERM', stop)
