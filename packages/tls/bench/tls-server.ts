// Benchmark server: node:tls with TlsSettings defaults and the test localhost certificate.
// Prints its port, then answers each connection's request with a tiny HTTP response and closes it.
// It reads the request first, as nginx and core's listener do: answering before the request has
// arrived makes the kernel reset the connection when the request lands on the closed socket, and
// the client then discards the TLS 1.3 session (so `s_time -reuse` never resumed). Not a test.
import tls from 'node:tls'
import { certs } from '@pingora-ts/test-utils'
import { TlsSettings } from '../src/tls-settings.ts'

const RESPONSE = 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok'
const settings = new TlsSettings({ cert: certs.localhost.cert, key: certs.localhost.key })
// Pingora sets TCP_NODELAY on accepted sockets; core's listener does the same.
const server = tls.createServer({ ...settings.toServerOptions(), noDelay: true }, (socket) => {
  socket.on('error', () => undefined)
  let head = ''
  let answered = false
  const answer = () => {
    if (answered) return
    answered = true
    socket.end(RESPONSE)
  }
  socket.setEncoding('latin1')
  socket.on('data', (chunk: string) => {
    head += chunk
    if (head.includes('\r\n\r\n') || head.length > 8192) answer()
  })
  socket.on('end', answer)
})
server.on('tlsClientError', () => undefined)
server.listen(0, '127.0.0.1', () => {
  const address = server.address()
  if (address !== null && typeof address === 'object') process.stdout.write(`${address.port}\n`)
})
process.on('SIGTERM', () => process.exit(0))
