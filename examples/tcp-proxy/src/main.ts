import {
  checkHostPort,
  checkWholeNumber,
  exitCannotStart,
  parseCommandLine,
} from '@pingora-ts/core'
import { startTcpProxy } from './tcp-proxy.ts'

const { values } = parseCommandLine({
  name: 'tcp-proxy',
  version: '0.0.0',
  summary: 'A TCP proxy; prints one line per connection (peer, bytes, error).',
  serverOptions: false,
  options: {
    upstream: {
      type: 'string',
      multiple: true,
      valueName: 'HOST:PORT',
      description: 'a TCP upstream; several are used in round robin (default: 127.0.0.1:6379)',
      check: checkHostPort,
    },
    listen: {
      type: 'string',
      default: '127.0.0.1:6196',
      valueName: 'ADDR',
      description: 'where to listen (port 0 picks a free one)',
      check: checkHostPort,
    },
    'idle-timeout': {
      type: 'string',
      default: '600000',
      valueName: 'MS',
      description: 'close connections idle this long',
      check: checkWholeNumber,
    },
  },
})

const upstreams = values.upstream ?? ['127.0.0.1:6379']
const proxy = await startTcpProxy({
  upstreams,
  listen: values.listen,
  idleTimeoutMs: Number(values['idle-timeout']),
  onLog: (line) => process.stdout.write(`${line}\n`),
}).catch(exitCannotStart)
const host = values.listen.slice(0, values.listen.lastIndexOf(':'))
process.stdout.write(`tcp proxy listening on ${host}:${proxy.port} -> ${upstreams.join(', ')}
try (with redis-server on 6379; can be pasted into a shell):
  redis-cli -p ${proxy.port} ping
`)
process.once('SIGINT', () => void proxy.close().then(() => process.exit(0)))
process.once('SIGTERM', () => void proxy.close(true).then(() => process.exit(0)))
