/**
 * A minimal HTTP server for `http1-cpu.sh`: `node --conditions=@pingora-ts/source
 * bench/http1-server-peer.ts session|node PORT` serves `hello, world!` on 127.0.0.1:PORT through
 * Http1ServerSession (`session`) or node:http (`node`). Needs a Node that strips types (>= 22.6).
 */
import http from 'node:http'
import net from 'node:net'
import { ResponseHeader } from '@pingora-ts/http'
import { Http1ServerSession } from '../src/protocols/http1/server.ts'
import { Stream } from '../src/protocols/l4/stream.ts'

const BODY = Buffer.from('hello, world!')
const port = Number(process.argv[3])

async function serve(socket: net.Socket): Promise<void> {
  let stream: Stream | undefined = new Stream(socket)
  try {
    while (stream !== undefined) {
      const session: Http1ServerSession = new Http1ServerSession(stream)
      if (!(await session.readRequest())) return
      await session.drainRequestBody()
      const response = ResponseHeader.build(200)
      response.insertHeader('Content-Type', 'text/plain')
      response.insertHeader('Content-Length', BODY.length)
      await session.writeResponseHeader(response)
      await session.writeResponseBody(BODY, true)
      stream = await session.finish()
    }
  } catch {
    stream?.destroy()
  }
}

if (process.argv[2] === 'node') {
  http
    .createServer((_request, response) => {
      response.setHeader('Content-Type', 'text/plain')
      response.setHeader('Content-Length', BODY.length)
      response.end(BODY)
    })
    .listen(port, '127.0.0.1')
} else {
  net.createServer(serve).listen(port, '127.0.0.1')
}
// Exit cleanly on SIGINT so that --cpu-prof writes its profile.
process.on('SIGINT', () => process.exit(0))
