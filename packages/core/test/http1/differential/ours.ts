// Our HTTP/1 request parsing, driven the way the keep-alive loop drives it: one
// `Http1ServerSession` per message on one `Stream`, the body read to its end, then the next
// session on the same stream. The bytes are handed to the stream exactly as a socket read
// would (`Stream.receive`, the entry point of `SocketReadSink`), one read per piece, so that a
// split at any byte boundary is reproduced exactly; the socket itself is never connected (a
// parser harness: nothing is written anywhere, and a case costs microseconds, not a connection).
import net from 'node:net'
import { PingoraError } from '@pingora-ts/error'
import { RequestHeader } from '@pingora-ts/http'
import { BodyReader, type UnreadSink } from '../../../src/protocols/http1/body.ts'
import { Http1ClientSession } from '../../../src/protocols/http1/client.ts'
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

/** One response we read (1xx included), with its whole body. */
export interface OurResponse {
  status: number
  version: string
  headers: [string, string][]
  body: Buffer
  keepAlive: boolean
}

/** What we made of some responses. */
export interface OurResponseOutcome {
  messages: OurResponse[]
  /** `undefined` when the input was valid so far; else the error type. */
  error: string | undefined
  reason: string
  /** Where the input ran out, when it did: in a response head or a response body. */
  waiting: 'head' | 'body' | undefined
  /** The header fields of the response whose body the input ended in. */
  waitingHeaders: [string, string][]
  /** Whether the bytes where the last response head was read started with CR or LF. */
  emptyLineBeforeHead: boolean
}

/**
 * Reads `pieces` as the responses to requests with `methods`, the way the proxy reads an
 * upstream connection: one `Http1ClientSession` per request on one `Stream`, its response
 * headers (1xx first) and body read to their end, then the next request's session. The socket
 * is left connecting, so the request heads the sessions write stay queued in it and are never
 * sent; `eof` is the origin closing the connection after the last piece.
 * @param methods - the request methods, in order
 * @param pieces - the response bytes, one socket read each
 * @param eof - whether the connection ends after the last piece
 */
export async function ourResponses(
  methods: readonly string[],
  pieces: readonly Buffer[],
  eof: boolean,
): Promise<OurResponseOutcome> {
  const socket = new net.Socket()
  socket.on('error', () => {})
  // A socket that never finishes connecting keeps what is written to it (see above).
  ;(socket as { connecting: boolean }).connecting = true
  const stream = new Stream(socket, 'upstream')
  for (const piece of pieces) if (piece.length > 0) stream.receive(Buffer.from(piece))
  if (eof) socket.emit('end')
  const messages: OurResponse[] = []
  let waitingHeaders: [string, string][] = []
  let emptyLineBeforeHead = false
  const ok = (waiting: 'head' | 'body' | undefined): OurResponseOutcome => ({
    messages,
    error: undefined,
    reason: '',
    waiting,
    waitingHeaders,
    emptyLineBeforeHead,
  })
  const failed = (error: unknown): OurResponseOutcome => ({
    messages,
    ...describe(error),
    waiting: undefined,
    waitingHeaders,
    emptyLineBeforeHead,
  })
  // Looks at the first byte of the next head without taking it.
  const peekEmptyLine = (): boolean => {
    const next = stream.tryRead()
    if (next === undefined) return false
    stream.unread(next)
    return next[0] === 0x0d || next[0] === 0x0a
  }
  const fieldsOf = (session: Http1ClientSession): [string, string][] => {
    const list: [string, string][] = []
    const headers = session.responseHeader?.headers
    if (headers !== undefined)
      for (let i = 0; i < headers.size; i++) list.push([headers.nameAt(i), headers.valueAt(i)])
    return list
  }
  const record = (session: Http1ClientSession, body: Buffer[], keepAlive: boolean) => {
    const response = session.responseHeader
    if (response === undefined) return
    messages.push({
      status: response.status,
      version: response.version,
      headers: fieldsOf(session),
      body: Buffer.concat(body),
      keepAlive,
    })
  }
  try {
    for (const method of methods) {
      // The origin closed between two responses: the input ended cleanly (the request that got
      // no answer is the proxy's business, not the parser's).
      if (eof && stream.bufferedLength === 0) return ok(undefined)
      const session = new Http1ClientSession(stream, { readTimeoutMs: 0 })
      const request = RequestHeader.build(method, '/')
      request.insertHeader('Host', 'example.com')
      // Queued in the connecting socket (see above); resolves at once for a bodiless request.
      await session.writeRequestHeader(request)
      for (;;) {
        let response: Awaited<ReturnType<Http1ClientSession['readResponseHeader']>> | typeof STALLED
        emptyLineBeforeHead = peekEmptyLine()
        try {
          response = await settleOrStall(session.readResponseHeader())
        } catch (error) {
          return failed(error)
        }
        if (response === STALLED) return ok('head')
        if (response.status >= 200) break
        record(session, [], true)
        if (eof && stream.bufferedLength === 0) return ok(undefined)
      }
      const body: Buffer[] = []
      for (;;) {
        let piece: Buffer | undefined | typeof STALLED
        try {
          piece = await settleOrStall(session.readResponseBody())
        } catch (error) {
          return failed(error)
        }
        if (piece === STALLED) {
          waitingHeaders = fieldsOf(session)
          return ok('body')
        }
        if (piece === undefined) break
        body.push(Buffer.from(piece))
      }
      record(session, body, session.keepalive)
      // After a response that ends the connection nothing more is read from it.
      if (!session.keepalive) return ok(undefined)
    }
    return ok(undefined)
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
