// The HTTP/1 engine alone: a keep-alive loop on Http1ServerSession over node:net, without the
// server framework (no Server, ListeningService, HttpServer). Shows what the framework costs.
// Usage: node --conditions=@pingora-ts/source --import tsx session-server.ts 18092
import net from 'node:net'
import { Http1ServerSession, Stream } from '../../packages/core/src/index.ts'
import { ResponseHeader } from '../../packages/http/src/index.ts'

const BODY = Buffer.from('Hello, world!')

async function serve(socket: net.Socket): Promise<void> {
  let stream: Stream | undefined = new Stream(socket)
  while (stream !== undefined) {
    const session = new Http1ServerSession(stream)
    if (!(await session.readRequest())) return
    session.setKeepalive(60)
    const header = ResponseHeader.build(200)
    header.insertHeader('Content-Type', 'text/plain')
    header.setContentLength(BODY.length)
    await session.writeResponseHeader(header, false)
    await session.writeResponseBody(BODY, true)
    stream = await session.finish()
  }
}

net
  .createServer({ noDelay: true }, (socket) => {
    serve(socket).catch(() => socket.destroy())
  })
  .listen(Number(process.argv[2] ?? '18092'), '127.0.0.1')
