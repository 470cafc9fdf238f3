// The floor of the node:http2 choice: a bare node:http2 h2c hello world.
// Usage: node node-h2c-server.mjs PORT
import http2 from 'node:http2'

const BODY = Buffer.from('Hello, world!')
const server = http2.createServer({ settings: { maxConcurrentStreams: 100 } })
server.on('stream', (stream) => {
  stream.respond({ ':status': 200, 'content-type': 'text/plain', 'content-length': BODY.length })
  stream.end(BODY)
})
server.listen(Number(process.argv[2] ?? 18191), '127.0.0.1')
