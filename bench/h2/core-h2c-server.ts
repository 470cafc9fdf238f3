// Hello world over h2c on @pingora-ts/core: ServeHttp + HttpServer with `h2c: true`.
// Usage: node --conditions=@pingora-ts/source --import tsx core-h2c-server.ts [--engine native] PORT,
// or --listen HOST:PORT (as bench/perf/instr.sh runs it, with those two flags in NODE_OPTIONS).
// `--engine native` serves it on pingora-ts's own HTTP/2 frame layer (H2Options.engine).
import {
  HttpServer,
  ListeningService,
  type ServeHttp,
  Server,
} from '../../packages/core/src/index.ts'

const args = process.argv.slice(2)
const option = (flag: string): string | undefined => {
  const at = args.indexOf(flag)
  return at === -1 ? undefined : args[at + 1]
}
const BODY = Buffer.from('Hello, world!')
const hello: ServeHttp = {
  response: () => ({ status: 200, headers: { 'Content-Type': 'text/plain' }, body: BODY }),
}
const engine = option('--engine') === 'native' ? 'native' : 'node'
const app = new HttpServer(hello, { h2c: true, h2: { engine } })
const server = new Server({ configuration: { gracePeriodSeconds: 1 } })
server.bootstrap()
const service = new ListeningService('hello-h2c', app)
const port = option('--listen')?.split(':')[1] ?? args.find((arg) => /^\d+$/.test(arg)) ?? '18190'
service.addTcp(`127.0.0.1:${port}`)
server.addService(service)
server.runForever()
