// The floor of Node's TLS: a bare node:https (h1) or node:http2 secure (h2) hello world with
// the test PKI's a.test certificate, the same body and headers as core-server.ts.
// Usage: node node-server.mjs h1|h2 PORT
import { readFileSync } from 'node:fs'
import http2 from 'node:http2'
import https from 'node:https'

const certs = new URL('../../tooling/test-utils/certs/', import.meta.url)
const tlsOptions = {
  cert: readFileSync(new URL('a.test.pem', certs)),
  key: readFileSync(new URL('a.test.key', certs)),
}
const BODY = Buffer.from('Hello, world!')
const [mode, port] = process.argv.slice(2)
if (mode === 'h2') {
  const server = http2.createSecureServer({
    ...tlsOptions,
    ALPNProtocols: ['h2'],
    settings: { maxConcurrentStreams: 100 },
  })
  server.on('stream', (stream) => {
    stream.respond({ ':status': 200, 'content-type': 'text/plain', 'content-length': BODY.length })
    stream.end(BODY)
  })
  server.listen(Number(port), '127.0.0.1')
} else {
  const server = https.createServer({ ...tlsOptions, keepAliveTimeout: 60_000 }, (_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': BODY.length })
    res.end(BODY)
  })
  server.listen(Number(port), '127.0.0.1')
}
