// The floor of the node:http2 choice: a bare node:http2 h2c hello world.
// Usage: node node-h2c-server.mjs PORT, or --listen HOST:PORT (as bench/perf/instr.sh runs it)
import http2 from 'node:http2'

const BODY = Buffer.from('Hello, world!')
const server = http2.createServer({ settings: { maxConcurrentStreams: 100 } })
server.on('stream', (stream) => {
  stream.respond({ ':status': 200, 'content-type': 'text/plain', 'content-length': BODY.length })
  stream.end(BODY)
})
const listen = process.argv.indexOf('--listen')
const port = listen === -1 ? process.argv[2] : process.argv[listen + 1]?.split(':')[1]
server.listen(Number(port ?? 18191), '127.0.0.1')
