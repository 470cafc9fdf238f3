// The HTTP/1 engine alone: a keep-alive loop on Http1ServerSession over node:net, without the
// server framework (no Server, ListeningService, HttpServer). Shows what the framework costs.
// It uses the promise-free calls (Stream.waitIdle, readRequestNow, writeResponse, finishNow)
// and falls back to awaiting only when one of them returns a promise.
// Usage: node --conditions=@pingora-ts/source --import tsx session-server.ts 18092
import net from 'node:net'
import { Http1ServerSession, type ReusedHttpStream, Stream } from '../../packages/core/src/index.ts'
import { ResponseHeader } from '../../packages/http/src/index.ts'

const BODY = Buffer.from('Hello, world!')

function respond(
  session: Http1ServerSession,
): Connection | undefined | Promise<Connection | undefined> {
  session.setKeepalive(60)
  const header = ResponseHeader.build(200)
  header.insertHeader('Content-Type', 'text/plain')
  header.setContentLength(BODY.length)
  void session.writeResponse(header, BODY).catch(() => session.shutdown())
  return session.finishNow()
}

/** A new connection, or one handed over by the previous request's `finishNow()`. */
type Connection = Stream | ReusedHttpStream

/** One connection's keep-alive loop, driven by the idle wait's callback. */
class KeepaliveLoop {
  session: Http1ServerSession | undefined = undefined

  readonly onReady = (ready: boolean): void => {
    const session = this.session as Http1ServerSession
    if (ready) this.serve(session)
    else session.stream.close()
  }

  readonly next = (connection: Connection | undefined): void => {
    this.loop(connection)
  }

  loop(connection: Connection | undefined): void {
    while (connection !== undefined) {
      const session = new Http1ServerSession(connection)
      const state = session.waitForRequest(this.onReady)
      if (state === 'waiting') {
        this.session = session
        return
      }
      if (state === 'ended') {
        session.stream.close()
        return
      }
      const result = this.handle(session)
      if (result instanceof Promise) {
        result.then(this.next, () => undefined)
        return
      }
      connection = result
    }
  }

  serve(session: Http1ServerSession): void {
    const result = this.handle(session)
    if (result instanceof Promise) result.then(this.next, () => undefined)
    else this.loop(result)
  }

  handle(session: Http1ServerSession): Connection | undefined | Promise<Connection | undefined> {
    const read = session.readRequestNow()
    if (read === true) return respond(session)
    return (async () => ((await read) ? respond(session) : undefined))()
  }
}

net
  .createServer({ noDelay: true }, (socket) => new KeepaliveLoop().loop(new Stream(socket)))
  .listen(Number(process.argv[2] ?? '18092'), '127.0.0.1')
