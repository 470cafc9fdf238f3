/**
 * The two minimal hello-world servers the HTTP/1 benchmarks compare: one on
 * `Http1ServerSession` over `node:net`, one on `node:http`, both answering the same 13-byte body.
 */
import http from 'node:http'
import net from 'node:net'
import { ResponseHeader } from '@pingora-ts/http'
import type { ReusedHttpStream } from '../src/protocols/http/reused-http-stream.ts'
import { Http1ServerSession } from '../src/protocols/http1/server.ts'
import { Stream } from '../src/protocols/l4/stream.ts'

/** The response body. */
export const BODY = Buffer.from('hello, world!')

/** Serves `hello, world!` on one connection through Http1ServerSession until it closes. */
export async function serveSession(socket: net.Socket): Promise<void> {
  const stream = new Stream(socket)
  let connection: Stream | ReusedHttpStream | undefined = stream
  try {
    while (connection !== undefined) {
      const session: Http1ServerSession = new Http1ServerSession(connection)
      if (!(await session.readRequest())) return
      await session.drainRequestBody()
      const response = ResponseHeader.build(200)
      response.insertHeader('Content-Type', 'text/plain')
      response.insertHeader('Content-Length', BODY.length)
      await session.writeResponseHeader(response)
      await session.writeResponseBody(BODY, true)
      connection = await session.finish()
    }
  } catch {
    stream.destroy()
  }
}

/** A server on Http1ServerSession (not listening yet). */
export function sessionServer(): net.Server {
  return net.createServer(serveSession)
}

/** The same server on node:http (not listening yet). */
export function nodeServer(): http.Server {
  return http.createServer((_req, res) => {
    res.setHeader('Content-Type', 'text/plain')
    res.setHeader('Content-Length', BODY.length)
    res.end(BODY)
  })
}
