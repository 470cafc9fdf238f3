// The floor: node:net answering every read with one canned response (no HTTP parsing at all).
// Usage: node --import tsx raw-server.ts 18093
import net from 'node:net'

const RESPONSE = Buffer.from(
  'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\nConnection: keep-alive\r\n\r\nHello, world!',
)

net
  .createServer({ noDelay: true }, (socket) => {
    socket.on('data', () => socket.write(RESPONSE))
    socket.on('error', () => socket.destroy())
  })
  .listen(Number(process.argv[2] ?? '18093'), '127.0.0.1')
