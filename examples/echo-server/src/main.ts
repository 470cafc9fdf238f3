import { checkHostPort, exitCannotStart, parseCommandLine } from '@pingora-ts/core'
import { startEchoServer } from './echo-server.ts'

const { values } = parseCommandLine({
  name: 'echo-server',
  version: '0.0.0',
  summary: 'A raw TCP echo server (Pingora ServerApp without HTTP).',
  serverOptions: false,
  options: {
    listen: {
      type: 'string',
      default: '127.0.0.1:6142',
      valueName: 'ADDR',
      description: 'where to listen (port 0 picks a free one)',
      check: checkHostPort,
    },
  },
})

const echo = await startEchoServer(values.listen).catch(exitCannotStart)
const host = values.listen.slice(0, values.listen.lastIndexOf(':'))
process.stdout.write(`echo server listening on ${host}:${echo.port}
try (can be pasted into a shell):
  printf 'hello\\n' | nc -q1 ${host} ${echo.port}
`)
process.once('SIGINT', () => void echo.close().then(() => process.exit(0)))
process.once('SIGTERM', () => void echo.close(true).then(() => process.exit(0)))
