// The floor of any HTTP/1.1-over-TLS proxy built on Node: a bare node:https server forwarding
// each request to an HTTP/1.1 origin through undici's Pool with its lowest-level `dispatch`
// handler API (keep-alive), relaying the response, with nothing else (no routing, no phases,
// no checks, no logging). undici is resolved from packages/core (a dependency of core).
// Same flags as the load balancer bundle, so bench/h2/tls.sh can run it:
//   node node-https-proxy.mjs --listen 127.0.0.1:PORT --upstream 127.0.0.1:ORIGIN_PORT \
//     --tls-cert FILE --tls-key FILE
import { readFileSync } from 'node:fs'
import https from 'node:https'
import { createRequire } from 'node:module'

const args = process.argv.slice(2)
const flag = (name, fallback) => {
  const i = args.indexOf(name)
  return i === -1 ? fallback : args[i + 1]
}
const [listenHost, listenPort] = flag('--listen', '127.0.0.1:18081').split(':')
const upstream = flag('--upstream', '127.0.0.1:18080').replace(/^http:\/\//, '')
const HOP = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'upgrade',
  'proxy-connection',
])

const require = createRequire(new URL('../../packages/core/package.json', import.meta.url))
const { Pool } = require('undici')
const pool = new Pool(`http://${upstream}`, { connections: 128, pipelining: 1 })

const server = https.createServer(
  {
    cert: readFileSync(flag('--tls-cert')),
    key: readFileSync(flag('--tls-key')),
    keepAliveTimeout: 60_000,
  },
  (req, res) => {
    pool.dispatch(
      { method: req.method, path: req.url, headers: { host: req.headers.host ?? upstream } },
      {
        onConnect() {},
        onError() {
          if (!res.headersSent) res.writeHead(502).end()
          else res.destroy()
        },
        onHeaders(status, raw) {
          if (res.destroyed) return true
          const out = {}
          for (let i = 0; i < raw.length; i += 2) {
            const name = raw[i].toString('latin1').toLowerCase()
            if (!HOP.has(name)) out[name] = raw[i + 1].toString('latin1')
          }
          res.writeHead(status, out)
          return true
        },
        onData(chunk) {
          return res.destroyed || res.write(chunk)
        },
        onComplete() {
          if (!res.destroyed) res.end()
        },
      },
    )
  },
)
server.listen(Number(listenPort), listenHost)
