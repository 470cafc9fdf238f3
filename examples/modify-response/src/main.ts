import { parseArgs } from 'node:util'
import { DEFAULT_MAX_BODY_BYTES, startJsonRewrite } from './json-rewrite.ts'
import { startDemoOrigin } from './origin.ts'

const USAGE = `usage: modify-response [--listen ADDR] [--upstream HOST:PORT] [--redact KEY ...] [--max-body-bytes N]
  --listen ADDR         where to listen (default 127.0.0.1:6191)
  --upstream HOST:PORT  the origin (default: an embedded demo origin)
  --redact KEY          a key removed from JSON objects, repeatable (default: password, secret)
  --max-body-bytes N    the largest JSON body rewritten (default ${DEFAULT_MAX_BODY_BYTES})
`

// `pnpm start -- --flag` passes the `--` through: skip it.
const argv = process.argv.slice(2)
if (argv[0] === '--') argv.shift()
const { values } = parseArgs({
  args: argv,
  options: {
    listen: { type: 'string', default: '127.0.0.1:6191' },
    upstream: { type: 'string' },
    redact: { type: 'string', multiple: true },
    'max-body-bytes': { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
})
if (values.help) {
  process.stdout.write(USAGE)
  process.exit(0)
}

const upstream = values.upstream ?? (await startDemoOrigin()).address
const maxBody = values['max-body-bytes']
const proxy = await startJsonRewrite(
  {
    upstream,
    redactKeys: values.redact ?? ['password', 'secret'],
    maxBodyBytes: maxBody === undefined ? undefined : Number(maxBody),
  },
  values.listen,
)
const host = values.listen.slice(0, values.listen.lastIndexOf(':'))
const base = `http://${host}:${proxy.port}`
process.stdout.write(`modify-response proxy listening on ${base} (origin: ${upstream})
try: curl -s http://${upstream}/user   (the origin's JSON, secrets included)
     curl -s ${base}/user   (the same through the proxy, secrets removed)
`)
const stop = (): void => {
  void proxy.close().then(() => process.exit(0))
}
process.once('SIGINT', stop)
process.once('SIGTERM', stop)
