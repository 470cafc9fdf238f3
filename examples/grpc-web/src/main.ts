import { checkHostPort, exitCannotStart, parseCommandLine } from '@pingora-ts/core'
import { ProxyLogs } from '@pingora-ts/observability'
import { startGrpcWebProxy } from './grpc-web-proxy.ts'

const { values } = parseCommandLine({
  name: 'grpc-web',
  version: '0.0.0',
  summary: 'Bridges gRPC-web clients (HTTP/1.1 or h2c) to a gRPC origin over HTTP/2.',
  serverOptions: false,
  options: {
    listen: {
      type: 'string',
      default: '127.0.0.1:6197',
      valueName: 'ADDR',
      description: 'where to listen for gRPC-web clients (port 0 picks a free one)',
      check: checkHostPort,
    },
    upstream: {
      type: 'string',
      valueName: 'HOST:PORT',
      description: 'the gRPC origin, spoken to in cleartext HTTP/2 (h2c); required',
      check: checkHostPort,
    },
  },
})

const upstream = values.upstream
if (upstream === undefined) {
  process.stderr.write('grpc-web: --upstream HOST:PORT is required (the gRPC origin)\n')
  process.exit(2)
}
const proxy = await startGrpcWebProxy(upstream, values.listen).catch(exitCannotStart)
// From here on, the error log of @pingora-ts/observability on stderr: one line per failed
// request (status, error type, peer), backend health flips, server and connection errors (a
// failure to start is the one line of exitCannotStart above).
new ProxyLogs().enable()
const host = values.listen.slice(0, values.listen.lastIndexOf(':'))
process.stdout.write(`grpc-web proxy listening on http://${host}:${proxy.port} (gRPC origin: ${upstream})
`)
process.once('SIGINT', () => void proxy.close().then(() => process.exit(0)))
process.once('SIGTERM', () => void proxy.close(true).then(() => process.exit(0)))
