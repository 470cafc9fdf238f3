// The floor of any proxy built on node:http2: a bare node:http2 h2c server that forwards each
// stream to an HTTP/1.1 origin over keep-alive and relays the response, with nothing else (no
// routing, no phases, no checks, no logging). Two upstream clients:
//   node:http with a keep-alive Agent (default), or undici's Pool through its lowest-level
//   `dispatch` handler API (--client undici; undici is resolved from packages/core).
// Same flags as the load balancer bundle, so bench/perf/instr.sh and the harness can run it:
//   node node-h2-proxy.mjs --listen 127.0.0.1:PORT --upstream 127.0.0.1:ORIGIN_PORT [--h2c]
// With --tls-cert FILE --tls-key FILE it serves h2 over TLS (ALPN h2) instead of h2c.
import { readFileSync } from 'node:fs'
import http from 'node:http'
import http2 from 'node:http2'
import { createRequire } from 'node:module'

const args = process.argv.slice(2)
const flag = (name, fallback) => {
  const i = args.indexOf(name)
  return i === -1 ? fallback : args[i + 1]
}
const [listenHost, listenPort] = flag('--listen', '127.0.0.1:18081').split(':')
const upstream = flag('--upstream', '127.0.0.1:18080').replace(/^http:\/\//, '')
const [originHost, originPort] = upstream.split(':')
const client = flag('--client', 'http')

const HOP = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'upgrade',
  'proxy-connection',
])

function responseHeaders(status, headers) {
  const out = { ':status': status }
  for (const name in headers) if (!HOP.has(name)) out[name] = headers[name]
  return out
}

let forward
if (client === 'undici') {
  // undici is a dependency of @pingora-ts/core: resolve it from there (or from NODE_PATH).
  const require = createRequire(new URL('../../packages/core/package.json', import.meta.url))
  const { Pool } = require('undici')
  const pool = new Pool(`http://${upstream}`, { connections: 128, pipelining: 1 })
  forward = (stream, headers) => {
    pool.dispatch(
      {
        method: headers[':method'],
        path: headers[':path'],
        headers: { host: headers[':authority'] ?? upstream },
      },
      {
        onConnect() {},
        onError() {
          if (!stream.headersSent) stream.respond({ ':status': 502 }, { endStream: true })
          else stream.destroy()
        },
        onHeaders(status, raw) {
          if (stream.destroyed) return true
          const out = { ':status': status }
          for (let i = 0; i < raw.length; i += 2) {
            const name = raw[i].toString('latin1').toLowerCase()
            if (!HOP.has(name)) out[name] = raw[i + 1].toString('latin1')
          }
          stream.respond(out)
          return true
        },
        onData(chunk) {
          return stream.destroyed || stream.write(chunk)
        },
        onComplete() {
          if (!stream.destroyed) stream.end()
        },
      },
    )
  }
} else {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 128 })
  forward = (stream, headers) => {
    const req = http.request(
      {
        agent,
        host: originHost,
        port: Number(originPort),
        method: headers[':method'],
        path: headers[':path'],
        headers: { host: headers[':authority'] ?? upstream },
      },
      (res) => {
        if (stream.destroyed) {
          // The client reset the stream (or left) while the origin answered.
          res.resume()
          return
        }
        stream.respond(responseHeaders(res.statusCode, res.headers))
        res.pipe(stream)
      },
    )
    req.on('error', () => {
      if (!stream.headersSent) stream.respond({ ':status': 502 }, { endStream: true })
      else stream.destroy()
    })
    req.end()
  }
}

const cert = flag('--tls-cert', undefined)
const key = flag('--tls-key', undefined)
const settings = { maxConcurrentStreams: 100 }
const server =
  cert !== undefined && key !== undefined
    ? http2.createSecureServer({ cert: readFileSync(cert), key: readFileSync(key), settings })
    : http2.createServer({ settings })
server.on('stream', (stream, headers) => {
  stream.on('error', () => {})
  forward(stream, headers)
})
server.listen(Number(listenPort), listenHost)
