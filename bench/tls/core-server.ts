// Hello world on @pingora-ts/core over TLS: ServeHttp + HttpServer behind core's TLS listener
// (ALPN h2 and http/1.1), the test PKI's a.test certificate.
// Usage: node --conditions=@pingora-ts/source --import tsx core-server.ts PORT
import { fileURLToPath } from 'node:url'
import {
  HttpServer,
  ListeningService,
  type ServeHttp,
  Server,
  TlsSettings,
} from '../../packages/core/src/index.ts'

const certs = fileURLToPath(new URL('../../tooling/test-utils/certs/', import.meta.url))
const BODY = Buffer.from('Hello, world!')
const hello: ServeHttp = {
  response: () => ({ status: 200, headers: { 'Content-Type': 'text/plain' }, body: BODY }),
}
const server = new Server({ configuration: { gracePeriodSeconds: 1 } })
server.bootstrap()
const service = new ListeningService('hello-tls', new HttpServer(hello))
const settings = TlsSettings.intermediate(`${certs}a.test.pem`, `${certs}a.test.key`)
settings.enableH2()
service.addTlsWithSettings(`127.0.0.1:${process.argv[2] ?? '18290'}`, undefined, settings)
server.addService(service)
server.runForever()
