// The server bench/h2/h2spec.sh points h2spec at: core's HttpServer answering every request with
// a small body (after reading the request body), h2c with prior knowledge on PORT and TLS
// (ALPN h2, the test PKI's localhost certificate) on PORT + 1.
// Usage: node --conditions=@pingora-ts/source --import tsx h2spec-server.ts [--engine native] PORT
import {
  HttpServer,
  ListeningService,
  type ServeHttp,
  Server,
} from '../../packages/core/src/index.ts'
import { TlsSettings } from '../../packages/tls/src/index.ts'

const args = process.argv.slice(2)
const at = args.indexOf('--engine')
const engine = at !== -1 && args[at + 1] === 'native' ? 'native' : 'node'
const port = Number(args.find((arg) => /^\d+$/.test(arg)) ?? '18300')
const certs = new URL('../../tooling/test-utils/certs/', import.meta.url).pathname
const BODY = Buffer.from('Hello, h2spec!')
const hello: ServeHttp = {
  // Reads the whole request body first, so body errors (content-length against DATA) surface
  // while the stream is still open, as in a real application.
  async response(session) {
    while ((await session.readRequestBody()) !== undefined) {}
    return { status: 200, headers: { 'Content-Type': 'text/plain' }, body: BODY }
  },
}
const app = new HttpServer(hello, { h2c: true, h2: { engine } })
const server = new Server({ configuration: { gracePeriodSeconds: 1 } })
server.bootstrap()
const service = new ListeningService('h2spec', app)
service.addTcp(`127.0.0.1:${port}`)
const tls = TlsSettings.intermediate(`${certs}localhost.pem`, `${certs}localhost.key`)
tls.enableH2()
service.addTlsWithSettings(`127.0.0.1:${port + 1}`, undefined, tls)
server.addService(service)
server.runForever()
