// The same hello world on node:http, for comparison.
// Usage: node --import tsx node-server.ts 18091
import http from 'node:http'

const BODY = Buffer.from('Hello, world!')
const server = http.createServer((_request, response) => {
  response.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': BODY.length })
  response.end(BODY)
})
server.keepAliveTimeout = 60_000
server.listen(Number(process.argv[2] ?? '18091'), '127.0.0.1')
process.on('SIGTERM', () => server.close(() => process.exit(0)))
