// Hello world over h2c on @pingora-ts/core: ServeHttp + HttpServer with `h2c: true`.
// Usage: node --conditions=@pingora-ts/source --import tsx core-h2c-server.ts PORT
import {
  HttpServer,
  ListeningService,
  type ServeHttp,
  Server,
} from '../../packages/core/src/index.ts'

const BODY = Buffer.from('Hello, world!')
const hello: ServeHttp = {
  response: () => ({ status: 200, headers: { 'Content-Type': 'text/plain' }, body: BODY }),
}
const app = new HttpServer(hello, { h2c: true })
const server = new Server({ configuration: { gracePeriodSeconds: 1 } })
server.bootstrap()
const service = new ListeningService('hello-h2c', app)
service.addTcp(`127.0.0.1:${process.argv[2] ?? '18190'}`)
server.addService(service)
server.runForever()
