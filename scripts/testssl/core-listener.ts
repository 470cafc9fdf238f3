// Core's TLS listener with its defaults (`ListeningService.addTls`), answering every request
// with 200, on 127.0.0.1:PORT; the target of scripts/testssl/run.sh.
//   npx tsx --conditions=@pingora-ts/source scripts/testssl/core-listener.ts PORT CERT KEY
import { HttpServer, ListeningService, Server } from '../../packages/core/src/index.ts'

const [port, cert, key] = process.argv.slice(2)
if (port === undefined || cert === undefined || key === undefined) {
  process.stderr.write('usage: core-listener.ts PORT CERT KEY\n')
  process.exit(2)
}
const app = new HttpServer({ response: () => ({ status: 200, body: 'ok\n' }) })
const service = new ListeningService('testssl target', app)
service.addTls(`127.0.0.1:${port}`, cert, key)
const server = new Server()
server.addService(service)
await server.start()
process.stdout.write(`listening on 127.0.0.1:${port}\n`)
