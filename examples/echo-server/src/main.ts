import { parseArgs } from 'node:util'
import { startEchoServer } from './echo-server.ts'

const USAGE = `usage: echo-server [--listen ADDR]
  --listen ADDR   where to listen (default 127.0.0.1:6142; port 0 picks a free one)
`

// `pnpm start -- --flag` passes the `--` through: skip it.
const argv = process.argv.slice(2)
if (argv[0] === '--') argv.shift()
const { values } = parseArgs({
  args: argv,
  options: {
    listen: { type: 'string', default: '127.0.0.1:6142' },
    help: { type: 'boolean', short: 'h', default: false },
  },
})
if (values.help) {
  process.stdout.write(USAGE)
  process.exit(0)
}

const echo = await startEchoServer(values.listen)
const host = values.listen.slice(0, values.listen.lastIndexOf(':'))
process.stdout.write(`echo server listening on ${host}:${echo.port}
try: printf 'hello\\n' | nc -q1 ${host} ${echo.port}
`)
const stop = (): void => {
  void echo.close().then(() => process.exit(0))
}
process.once('SIGINT', stop)
process.once('SIGTERM', stop)
