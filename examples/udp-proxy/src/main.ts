import {
  checkHostPort,
  checkWholeNumber,
  exitCannotStart,
  parseCommandLine,
} from '@pingora-ts/core'
import { startUdpProxy } from './udp-proxy.ts'

const { values } = parseCommandLine({
  name: 'udp-proxy',
  version: '0.0.0',
  summary: 'A UDP proxy (DNS by default); prints one line per client session.',
  serverOptions: false,
  options: {
    upstream: {
      type: 'string',
      multiple: true,
      valueName: 'HOST:PORT',
      description: 'a UDP upstream; round robin per client (default: 1.1.1.1:53)',
      check: checkHostPort,
    },
    listen: {
      type: 'string',
      multiple: true,
      valueName: 'ADDR',
      description: 'where to listen; repeat for IPv4 and IPv6 (default: 127.0.0.1:6195)',
      check: checkHostPort,
    },
    'idle-timeout': {
      type: 'string',
      default: '30000',
      valueName: 'MS',
      description: "end a client's session after this much silence",
      check: checkWholeNumber,
    },
  },
})

const listen = values.listen ?? ['127.0.0.1:6195']
const upstreams = values.upstream ?? ['1.1.1.1:53']
const proxy = await startUdpProxy({
  upstreams,
  listen,
  idleTimeoutMs: Number(values['idle-timeout']),
  onLog: (line) => process.stdout.write(`${line}\n`),
}).catch(exitCannotStart)
process.stdout.write(`udp proxy listening on ${listen.join(', ')} -> ${upstreams.join(', ')}
try (can be pasted into a shell):
  dig @127.0.0.1 -p ${proxy.ports[0]} example.com
`)
process.once('SIGINT', () => void proxy.close().then(() => process.exit(0)))
process.once('SIGTERM', () => void proxy.close(true).then(() => process.exit(0)))
