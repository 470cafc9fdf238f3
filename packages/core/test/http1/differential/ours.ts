// Our HTTP/1 request parsing, driven the way the keep-alive loop drives it: one
// `Http1ServerSession` per message on one `Stream`, the body read to its end, then the next
// session on the same stream. The bytes are handed to the stream exactly as a socket read
// would (`Stream.receive`, the entry point of `SocketReadSink`), one read per piece, so that a
// split at any byte boundary is reproduced exactly; the socket itself is never connected (a
// parser harness: nothing is written anywhere, and a case costs microseconds, not a connection).
import net from 'node:net'
import { PingoraError } from '@pingora-ts/error'
import { BodyReader, type UnreadSink } from '../../../src/protocols/http1/body.ts'
import { Http1ServerSession } from '../../../src/protocols/http1/server.ts'
import { Stream } from '../../../src/protocols/l4/stream.ts'

/** One message we accepted, with its whole body. */
export interface OurMessage {
  method: string
  target: string
  version: string
  headers: [string, string][]
  body: Buffer
  keepAlive: boolean
}

/** What we made of some input. */
export interface OurOutcome {
  messages: OurMessage[]
  /** `undefined` when the input was valid so far; else the status or error type. */
  error: string | undefined
  reason: string
}

const STALLED = Symbol('stalled')

/** Resolves the promise's value, or STALLED when it is still pending once I/O callbacks ran. */
function settleOrStall<T>(promise: Promise<T>): Promise<T | typeof STALLED> {
  return Promise.race([promise, new Promise<typeof STALLED>((r) => setImmediate(r, STALLED))])
}

function describe(error: unknown): { error: string; reason: string } {
  if (PingoraError.is(error)) {
    const status = (error as PingoraError & { status?: number }).status
    return {
      error: status !== undefined ? String(status) : String(error.type),
      reason: error.context ?? '',
    }
  }
  return { error: 'thrown', reason: String(error) }
}

/**
 * Parses `pieces` as pipelined requests with our server session.
 * @param pieces - the input, one socket read each
 */
export async function ourRequests(pieces: readonly Buffer[]): Promise<OurOutcome> {
  const socket = new net.Socket()
  socket.on('error', () => {})
  const stream = new Stream(socket)
  for (const piece of pieces) if (piece.length > 0) stream.receive(Buffer.from(piece))
  const messages: OurMessage[] = []
  try {
    for (;;) {
      const session = new Http1ServerSession(stream, {
        readTimeoutMs: 0,
        headerTimeoutMs: 0,
        keepaliveTimeoutMs: 0,
      })
      let read: boolean | typeof STALLED
      try {
        read = await settleOrStall(session.readRequest())
      } catch (error) {
        return { messages, ...describe(error) }
      }
      if (read === STALLED || read === false) return { messages, error: undefined, reason: '' }
      const request = session.requestHeader
      const body: Buffer[] = []
      for (;;) {
        let piece: Buffer | undefined | typeof STALLED
        try {
          piece = await settleOrStall(session.readRequestBody())
        } catch (error) {
          return { messages, ...describe(error) }
        }
        if (piece === STALLED) return { messages, error: undefined, reason: '' }
        if (piece === undefined) break
        body.push(Buffer.from(piece))
      }
      const headers = request.headers
      const list: [string, string][] = []
      for (let i = 0; i < headers.size; i++) list.push([headers.nameAt(i), headers.valueAt(i)])
      const raw = session.rawRequestHead as Buffer
      const line = raw.toString('latin1', 0, raw.indexOf('\r\n'))
      messages.push({
        method: request.method,
        target: line.slice(line.indexOf(' ') + 1, line.lastIndexOf(' ')),
        version: request.version,
        headers: list,
        body: Buffer.concat(body),
        keepAlive: session.getKeepalive() !== undefined,
      })
      if (session.getKeepalive() === undefined) return { messages, error: undefined, reason: '' }
    }
  } finally {
    socket.destroy()
  }
}

class Sink implements UnreadSink {
  rest: Buffer | undefined
  unread(chunk: Buffer): void {
    this.rest = chunk
  }
}

/** What our chunked decoder made of a body. */
export interface ChunkedOutcome {
  body: Buffer
  done: boolean
  error: string | undefined
  /** Bytes left after the body's end. */
  rest: number
}

/**
 * Decodes a chunked body fed in `pieces` with our `BodyReader`.
 * @param pieces - the body bytes, split as they would arrive
 */
export function ourChunked(pieces: readonly Buffer[]): ChunkedOutcome {
  const reader = new BodyReader('downstream')
  reader.initChunked()
  const sink = new Sink()
  const body: Buffer[] = []
  let rest = 0
  try {
    for (let i = 0; i < pieces.length; i++) {
      let piece: Buffer | undefined = pieces[i] as Buffer
      while (piece !== undefined && piece.length > 0) {
        if (reader.done) {
          rest += piece.length
          break
        }
        sink.rest = undefined
        const data = reader.feed(sink, piece)
        if (data !== undefined) body.push(Buffer.from(data))
        piece = sink.rest
      }
    }
  } catch (error) {
    return { body: Buffer.concat(body), done: false, error: describe(error).reason, rest }
  }
  return { body: Buffer.concat(body), done: reader.done, error: undefined, rest }
}
