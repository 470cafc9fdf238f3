// node:https hello world with the TLS options of core-server.ts (TlsSettings.intermediate +
// enableH2, through toServerOptions()): tells the cost of core's listener code apart from the
// cost of the TLS parameters (groups, ciphers, tickets) in the handshake-per-request targets.
// Usage: node --conditions=@pingora-ts/source --import tsx node-settings-server.ts PORT
import https from 'node:https'
import { fileURLToPath } from 'node:url'
import { TlsSettings } from '../../packages/tls/src/index.ts'

const certs = fileURLToPath(new URL('../../tooling/test-utils/certs/', import.meta.url))
const settings = TlsSettings.intermediate(`${certs}a.test.pem`, `${certs}a.test.key`)
settings.setAlpn(['http/1.1'])
const BODY = Buffer.from('Hello, world!')
const server = https.createServer(
  { ...settings.toServerOptions(), keepAliveTimeout: 60_000 },
  (_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': BODY.length })
    res.end(BODY)
  },
)
settings.attach(server)
server.listen(Number(process.argv[2] ?? '18290'), '127.0.0.1')
