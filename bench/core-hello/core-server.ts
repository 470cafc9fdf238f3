// Hello world on @pingora-ts/core: ServeHttp + HttpServer on one ListeningService.
// Usage: node --conditions=@pingora-ts/source --import tsx core-server.ts 18090
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

const server = new Server({ configuration: { gracePeriodSeconds: 1 } })
server.bootstrap()
const service = new ListeningService('hello', new HttpServer(hello))
service.addTcp(`127.0.0.1:${process.argv[2] ?? '18090'}`)
server.addService(service)
server.runForever()
