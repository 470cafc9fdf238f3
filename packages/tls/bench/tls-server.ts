// Benchmark server: node:tls with TlsSettings defaults and the test localhost certificate.
// Prints its port, then answers every connection with a tiny HTTP response and closes it.
// Not a test.
import tls from 'node:tls'
import { certs } from '@pingora-ts/test-utils'
import { TlsSettings } from '../src/tls-settings.ts'

const RESPONSE = 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok'
const settings = new TlsSettings({ cert: certs.localhost.cert, key: certs.localhost.key })
// Pingora sets TCP_NODELAY on accepted sockets; core's listener does the same.
const server = tls.createServer({ ...settings.toServerOptions(), noDelay: true }, (socket) => {
  socket.on('error', () => undefined)
  socket.end(RESPONSE)
})
server.on('tlsClientError', () => undefined)
server.listen(0, '127.0.0.1', () => {
  const address = server.address()
  if (address !== null && typeof address === 'object') process.stdout.write(`${address.port}\n`)
})
process.on('SIGTERM', () => process.exit(0))
