// Benchmark server: node:tls with TlsSettings defaults and the test localhost certificate.
// Prints its port, then completes handshakes and closes each connection. Not a test.
import tls from 'node:tls'
import { certs } from '@pingora-ts/test-utils'
import { TlsSettings } from '../src/tls-settings.ts'

const settings = new TlsSettings({ cert: certs.localhost.cert, key: certs.localhost.key })
const server = tls.createServer(settings.toServerOptions(), (socket) => {
  socket.on('error', () => undefined)
  socket.end()
})
server.on('tlsClientError', () => undefined)
server.listen(0, '127.0.0.1', () => {
  const address = server.address()
  if (address !== null && typeof address === 'object') process.stdout.write(`${address.port}\n`)
})
process.on('SIGTERM', () => process.exit(0))
