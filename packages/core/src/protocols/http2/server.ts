import http2 from 'node:http2'
import { type ErrorType, PingoraError } from '@pingora-ts/error'
import {
  type H2Headers,
  type HeaderMap,
  RequestHeader,
  type ResponseHeader,
} from '@pingora-ts/http'
import type { Digest, SocketAddress } from '../digest.ts'
import { RetryBuffer, WRITE_SETTLED } from '../http/common.ts'
import { getCachedDate } from '../http/date.ts'
import { generateErrorResponse } from '../http/error-resp.ts'
import type { ReusedHttpStream } from '../http/reused-http-stream.ts'
import type { ServerSession } from '../http/server-session.ts'
import { waitForH2Drain } from './drain.ts'

const { NGHTTP2_CANCEL, NGHTTP2_NO_ERROR } = http2.constants

const RESOLVED_UNDEFINED: Promise<undefined> = Promise.resolve(undefined)

/** `respond` options, shared: no object per response. */
const BODILESS: http2.ServerStreamResponseOptions = { endStream: true }
const WITH_TRAILERS: http2.ServerStreamResponseOptions = { waitForTrailers: true }
const WITHOUT_TRAILERS: http2.ServerStreamResponseOptions = {}
const RESOLVED_TRUE: Promise<boolean> = Promise.resolve(true)

function downstreamError(type: ErrorType, context: string, cause?: unknown): PingoraError {
  return new PingoraError(type, { source: 'downstream', context, cause })
}

function noop(): void {}

/**
 * Resets a stream whose response is not complete with RST_STREAM(INTERNAL_ERROR) and no
 * END_STREAM. `node:http2`'s `close(code)` ends the writable side first (an empty DATA frame
 * with END_STREAM) and resets after, so the client would take a cut response for a whole one;
 * `destroy(error)` resets at once.
 */
function resetStream(stream: http2.ServerHttp2Stream): void {
  stream.destroy(downstreamError('WriteError', 'response not completed'))
}

/** Fields HTTP/2 forbids (RFC 9113 §8.2.2); `te` is not allowed in trailers either. */
function isConnectionSpecific(lowerName: string): boolean {
  switch (lowerName) {
    case 'connection':
    case 'keep-alive':
    case 'proxy-connection':
    case 'transfer-encoding':
    case 'upgrade':
    case 'te':
    case 'host':
      return true
    default:
      return false
  }
}

/**
 * One request on an HTTP/2 connection: a server stream of `node:http2` (nghttp2) behind the
 * protocol-neutral {@link ServerSession} interface, so `ServeHttp`, `HttpServerApp` and the
 * proxy serve it as they serve HTTP/1. Port of `pingora-core/src/protocols/http/v2/server.rs`
 * (`HttpSession`).
 *
 * nghttp2 has already checked the request against RFC 9113 §8 (pseudo-headers,
 * connection-specific fields, `te`, upper-case names, `content-length` against the DATA
 * received) before the stream reaches the session; the session adds what an HTTP/1 origin needs
 * on the way down (`:authority` and `host` must agree, field values HTTP/1 can carry) and
 * answers 400 otherwise. Keep-alive setters are no-ops: the connection belongs to the HTTP/2
 * engine, not to one request.
 */
export class Http2ServerSession implements ServerSession {
  /** Always `'h2'`. */
  readonly protocol: 'h2'
  /**
   * The session itself: the request header is always complete when the stream arrives, so
   * `readRequestNow` and `finishNow` answer without a promise (`ServerSessionFastPaths`).
   */
  readonly fastPaths: this
  /** The connection the stream arrived on (shared by the connection's streams). */
  readonly connection: ReusedHttpStream
  readonly #stream: http2.ServerHttp2Stream
  readonly #headers: http2.IncomingHttpHeaders
  readonly #rawHeaders: readonly string[] | undefined
  #request: RequestHeader | undefined
  #responseWritten: ResponseHeader | undefined
  #finalWritten: boolean
  #ended: boolean
  #bodyDone: boolean
  #bodyBytesRead: number
  #bodyBytesSent: number
  #trailers: H2Headers | undefined
  #retryBuffer: RetryBuffer | undefined
  #readTimeoutMs: number | undefined
  #writeTimeoutMs: number | undefined
  #closeWaiters: Array<() => void> | undefined

  /**
   * Wraps a server stream as `node:http2`'s `stream` event gives it.
   * @param connection - the connection, shared by its streams
   * @param stream - the HTTP/2 stream
   * @param headers - its request header block
   * @param rawHeaders - the flat `[name, value, ...]` list (wire order), when known
   */
  constructor(
    connection: ReusedHttpStream,
    stream: http2.ServerHttp2Stream,
    headers: http2.IncomingHttpHeaders,
    rawHeaders?: readonly string[],
  ) {
    this.protocol = 'h2'
    this.fastPaths = this
    this.connection = connection
    this.#stream = stream
    this.#headers = headers
    this.#rawHeaders = rawHeaders
    this.#request = undefined
    this.#responseWritten = undefined
    this.#finalWritten = false
    this.#ended = false
    this.#bodyDone =
      stream.readableEnded || (stream as { endAfterHeaders?: boolean }).endAfterHeaders === true
    this.#bodyBytesRead = 0
    this.#bodyBytesSent = 0
    this.#trailers = undefined
    this.#retryBuffer = undefined
    this.#readTimeoutMs = undefined
    this.#writeTimeoutMs = undefined
    this.#closeWaiters = undefined
    // Errors surface through the session's promises; an unhandled 'error' would kill the process.
    // The other listeners are added only when needed: 'wantTrailers' with a response that may
    // have trailers, 'close' when readBodyOrIdle waits (a listener costs per stream).
    stream.on('error', noop)
  }

  /** The underlying `node:http2` stream. */
  get h2Stream(): http2.ServerHttp2Stream {
    return this.#stream
  }

  /**
   * Turns the received header block into a {@link RequestHeader}. Resolves `true`; a request
   * HTTP/1 could not carry safely is answered with 400 and rejected with `InvalidHTTPHeader`.
   */
  readRequest(): Promise<boolean> {
    const result = this.readRequestNow()
    return result === true ? RESOLVED_TRUE : (result as Promise<boolean>)
  }

  /**
   * Like {@link Http2ServerSession.readRequest}, but returns `true` directly (no promise) when
   * the request is valid; a rejected promise otherwise.
   */
  readRequestNow(): boolean | Promise<boolean> {
    if (this.#request !== undefined) return true
    let request: RequestHeader
    try {
      request = RequestHeader.fromH2Headers(this.#headers, this.#rawHeaders)
    } catch (error) {
      return this.#reject(400, error)
    }
    // RFC 9113 §8.3.1: `:authority` and `host` must not disagree; an HTTP/1 origin would see
    // only one of them, so a disagreement is a smuggling vector on the downgrade.
    const authority = this.#headers[':authority']
    const host = this.#headers.host
    if (
      typeof authority === 'string' &&
      host !== undefined &&
      (typeof host !== 'string' || host.toLowerCase() !== authority.toLowerCase())
    ) {
      return this.#reject(400, ':authority and host disagree')
    }
    this.#request = request
    return true
  }

  #reject(status: number, cause: unknown): Promise<boolean> {
    const context =
      typeof cause === 'string' ? cause : PingoraError.is(cause) ? cause.context : String(cause)
    try {
      if (!this.#stream.headersSent && !this.#stream.destroyed) {
        this.#stream.respond(
          { ':status': status, 'content-length': '0', date: getCachedDate() },
          { endStream: true },
        )
      }
    } catch {
      // The stream is gone; the error below still reports the bad request.
    }
    this.#ended = true
    return Promise.reject(
      new PingoraError(
        { type: 'InvalidHTTPHeader', status },
        { source: 'downstream', context: `invalid request: ${context ?? ''}`, cause },
      ),
    )
  }

  /**
   * The request header read by {@link Http2ServerSession.readRequest}.
   * @throws PingoraError `InternalError` before a request was read
   */
  get requestHeader(): RequestHeader {
    const request = this.#request
    if (request === undefined) {
      throw new PingoraError('InternalError', {
        source: 'internal',
        context: 'request header is not read yet',
      })
    }
    return request
  }

  /**
   * The first value of a request header, or `undefined`.
   * @param name - the header name (case-insensitive)
   */
  getHeader(name: string): string | undefined {
    return this.#request?.getHeader(name)
  }

  /**
   * Reads the next DATA payload of the request; `undefined` at the end of the stream. Reading
   * is what opens the flow-control window again, so an unread body holds the client back.
   * @throws PingoraError `ConnectionClosed` when the client reset the stream, `ReadTimedout`
   */
  readRequestBody(): Promise<Buffer | undefined> {
    if (this.#bodyDone) return RESOLVED_UNDEFINED
    const chunk = this.#stream.read() as Buffer | null
    if (chunk !== null) return Promise.resolve(this.#took(chunk))
    return this.#readBody()
  }

  async #readBody(): Promise<Buffer | undefined> {
    const stream = this.#stream
    for (;;) {
      const chunk = stream.read() as Buffer | null
      if (chunk !== null) return this.#took(chunk)
      if (stream.readableEnded) {
        this.#bodyDone = true
        return undefined
      }
      if (stream.destroyed || stream.closed) {
        throw downstreamError('ConnectionClosed', 'client reset the stream before the body ended')
      }
      await this.#waitReadable()
    }
  }

  #took(chunk: Buffer): Buffer {
    this.#bodyBytesRead += chunk.length
    if (this.#retryBuffer !== undefined) this.#retryBuffer.push(chunk)
    return chunk
  }

  #waitReadable(): Promise<void> {
    const stream = this.#stream
    const timeoutMs = this.#readTimeoutMs
    return new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined
      const done = (): void => {
        if (timer !== undefined) clearTimeout(timer)
        stream.off('readable', done)
        stream.off('end', done)
        stream.off('close', done)
        resolve()
      }
      stream.on('readable', done)
      stream.on('end', done)
      stream.on('close', done)
      if (timeoutMs !== undefined && timeoutMs > 0) {
        timer = setTimeout(() => {
          stream.off('readable', done)
          stream.off('end', done)
          stream.off('close', done)
          reject(downstreamError('ReadTimedout', 'reading the request body'))
        }, timeoutMs)
      }
    })
  }

  /** Reads and discards the rest of the request body. */
  async drainRequestBody(): Promise<void> {
    while ((await this.readRequestBody()) !== undefined) {
      // discard
    }
  }

  /** Whether the whole request body has been read. */
  isBodyDone(): boolean {
    return this.#bodyDone
  }

  /** Whether the request has no body (the HEADERS frame ended the stream). */
  isBodyEmpty(): boolean {
    return this.#bodyDone && this.#bodyBytesRead === 0
  }

  /**
   * Writes a response header. A 1xx (other than 101, which HTTP/2 does not have) goes out as
   * an informational HEADERS frame; the final header loses its connection-specific fields
   * (RFC 9113 §8.2.2) and gets `Date` when absent.
   * @param response - the header
   * @param endOfStream - `true` when no body follows
   */
  writeResponseHeader(response: ResponseHeader, endOfStream = false): Promise<void> {
    try {
      this.#writeHead(response, endOfStream, true)
      return WRITE_SETTLED
    } catch (error) {
      return Promise.reject(error)
    }
  }

  /**
   * @param mayHaveTrailers - `false` when the caller writes the whole body at once with no
   *   trailers set: the body then ends the stream itself (no `wantTrailers` round, no empty
   *   DATA frame after it)
   */
  #writeHead(response: ResponseHeader, endOfStream: boolean, mayHaveTrailers: boolean): void {
    const stream = this.#stream
    const status = response.status
    if (this.#finalWritten) {
      throw new PingoraError('H2Error', {
        source: 'internal',
        context: 'a final response header was already written',
      })
    }
    if (stream.destroyed) throw downstreamError('WriteError', 'the stream is closed')
    const headers = response.toH2Headers()
    if (status >= 100 && status < 200) {
      if (status === 101) return
      headers[':status'] = String(status)
      stream.additionalHeaders(headers)
      this.#responseWritten = response
      return
    }
    headers[':status'] = String(status)
    if (headers.date === undefined) headers.date = getCachedDate()
    const method = this.#request?.method
    const bodiless = endOfStream || method === 'HEAD' || status === 204 || status === 304
    this.#finalWritten = true
    this.#responseWritten = response
    if (bodiless) {
      stream.respond(headers, BODILESS)
      this.#ended = true
    } else if (mayHaveTrailers) {
      stream.once('wantTrailers', () => this.#sendTrailers())
      stream.respond(headers, WITH_TRAILERS)
    } else {
      stream.respond(headers, WITHOUT_TRAILERS)
    }
  }

  /**
   * Writes a piece of the response body as DATA frames; waits when the stream's flow-control
   * window or buffer is full.
   * @param data - the bytes, or `undefined` for none
   * @param endOfStream - `true` on the last piece
   */
  writeResponseBody(data: Uint8Array | undefined, endOfStream: boolean): Promise<void> {
    if (this.#ended) return WRITE_SETTLED
    const stream = this.#stream
    if (stream.destroyed) {
      return Promise.reject(downstreamError('WriteError', 'the stream is closed'))
    }
    if (!this.#finalWritten) {
      return Promise.reject(
        new PingoraError('H2Error', {
          source: 'internal',
          context: 'response body before the response header',
        }),
      )
    }
    let flushed = true
    if (data !== undefined && data.length > 0) {
      this.#bodyBytesSent += data.length
      flushed = stream.write(data)
    }
    if (endOfStream) {
      this.#ended = true
      stream.end()
    }
    return flushed ? WRITE_SETTLED : this.#waitDrain()
  }

  #waitDrain(): Promise<void> {
    return waitForH2Drain(
      this.#stream,
      this.#writeTimeoutMs,
      () => downstreamError('WriteError', 'the client reset the stream during the response'),
      () => downstreamError('WriteTimedout', 'writing the response body'),
    )
  }

  /**
   * Writes a final header and its whole body.
   * @param response - the header
   * @param body - the body; empty or `undefined` writes a bodiless response
   */
  writeResponse(response: ResponseHeader, body: Uint8Array | undefined): Promise<void> {
    if (body === undefined || body.length === 0) return this.writeResponseHeader(response, true)
    if (this.#trailers !== undefined) {
      const written = this.writeResponseHeader(response, false)
      if (written !== WRITE_SETTLED) return written
      return this.writeResponseBody(body, true)
    }
    // The whole body and no trailers: HEADERS, then DATA with END_STREAM, nothing after.
    try {
      this.#writeHead(response, false, false)
    } catch (error) {
      return Promise.reject(error)
    }
    if (this.#ended) return WRITE_SETTLED // HEAD, 204, 304: no body goes out
    this.#ended = true
    this.#bodyBytesSent += body.length
    const stream = this.#stream
    const flushed = stream.write(body)
    stream.end()
    return flushed ? WRITE_SETTLED : this.#waitDrain()
  }

  /**
   * Sends trailers after the body (a HEADERS frame with END_STREAM). Call it before or right
   * after the last {@link Http2ServerSession.writeResponseBody}; without it the body ends with
   * an empty DATA frame. Connection-specific fields and pseudo-headers are dropped.
   * @param trailers - the trailer fields, or `undefined` for none
   */
  writeResponseTrailers(trailers?: HeaderMap): Promise<void> {
    if (trailers === undefined || trailers.size === 0) return WRITE_SETTLED
    const out: H2Headers = Object.create(null) as H2Headers
    for (let i = 0; i < trailers.size; i++) {
      const name = trailers.lowerNameAt(i)
      if (name.charCodeAt(0) === 0x3a || isConnectionSpecific(name)) continue
      const value = trailers.valueAt(i)
      const previous = out[name]
      if (previous === undefined) out[name] = value
      else if (typeof previous === 'string') out[name] = [previous, value]
      else previous.push(value)
    }
    this.#trailers = out
    return WRITE_SETTLED
  }

  #sendTrailers(): void {
    const trailers = this.#trailers
    try {
      this.#stream.sendTrailers(trailers ?? {})
    } catch {
      // Reset meanwhile.
    }
  }

  #wakeCloseWaiters(): void {
    const waiters = this.#closeWaiters
    this.#closeWaiters = undefined
    if (waiters !== undefined) for (let i = 0; i < waiters.length; i++) (waiters[i] as () => void)()
  }

  /** Finishes the response body. */
  finishBody(): Promise<void> {
    return this.writeResponseBody(undefined, true)
  }

  /**
   * Finishes the exchange. A response that was not completed resets the stream
   * (RST_STREAM CANCEL) so the client never mistakes it for a whole one; a request body the app
   * did not read is refused with RST_STREAM NO_ERROR after the response (RFC 9113 §8.1).
   * Always resolves `undefined`: the connection belongs to the HTTP/2 engine.
   */
  finish(): Promise<undefined> {
    this.#finishStream()
    return RESOLVED_UNDEFINED
  }

  /** Like {@link Http2ServerSession.finish}, without a promise: always `undefined`. */
  finishNow(): undefined {
    this.#finishStream()
    return undefined
  }

  /**
   * Does nothing: `node:http2` keeps a written piece until nghttp2 has framed it, so its memory
   * cannot be freed early.
   * @param _data - the bytes written
   */
  releaseWrittenBody(_data: Uint8Array): void {}

  #finishStream(): void {
    const stream = this.#stream
    if (stream.destroyed || stream.closed) return
    if (!this.#ended) {
      resetStream(stream)
      return
    }
    if (!this.#bodyDone && !stream.readableEnded) {
      // The response is complete; stop the client from sending the rest of its body.
      stream.once('finish', () => {
        if (!stream.closed) stream.close(NGHTTP2_NO_ERROR)
      })
    }
  }

  /** Sends `100 Continue` unless a response was already written. */
  writeContinueResponse(): Promise<void> {
    if (this.#responseWritten !== undefined || this.#stream.destroyed) return WRITE_SETTLED
    this.#stream.additionalHeaders({ ':status': 100 })
    return WRITE_SETTLED
  }

  /**
   * Sends a complete bodiless error response.
   * @param status - the status code
   */
  respondError(status: number): Promise<void> {
    return this.writeErrorResponse(generateErrorResponse(status), undefined)
  }

  /**
   * Sends a complete response with a small body; sets `Content-Length`.
   * @param response - the header
   * @param body - the body, or `undefined`
   */
  writeErrorResponse(response: ResponseHeader, body: Uint8Array | undefined): Promise<void> {
    response.insertHeader('Content-Length', String(body?.length ?? 0))
    return this.writeResponse(response, body)
  }

  /** No effect: HTTP/2 connections are kept by the engine. */
  setKeepalive(_seconds: number | undefined): void {}

  /** Does nothing: an HTTP/2 connection's lifetime is not one request's to decide. */
  setKeepaliveMs(_ms: number | undefined): void {}

  /** Always `undefined`: keep-alive is the HTTP/2 engine's. */
  getKeepalive(): number | undefined {
    return undefined
  }

  /** No effect on HTTP/2. */
  setKeepaliveReusesRemaining(_remaining: number | undefined): void {}

  /**
   * Sets the timeout for one body read.
   * @param ms - the timeout, `undefined` for none
   */
  setReadTimeout(ms: number | undefined): void {
    this.#readTimeoutMs = ms
  }

  /**
   * Sets how long a body write may wait for the flow-control window.
   * @param ms - the timeout, `undefined` for none
   */
  setWriteTimeout(ms: number | undefined): void {
    this.#writeTimeoutMs = ms
  }

  /** No effect on HTTP/2 (an unread body is refused with RST_STREAM, not drained). */
  setTotalDrainTimeout(_ms: number | undefined): void {}

  /** No effect on HTTP/2: a response before the end of the request never costs the connection. */
  setCloseOnResponseBeforeDownstreamFinish(_close: boolean): void {}

  /** No effect on HTTP/2 yet: informational responses are always forwarded. */
  setIgnoreInfoResp(_ignore: boolean): void {}

  /** No effect on HTTP/2: a reset stream always ends the exchange. */
  setAbortOnClose(_abort: boolean): void {}

  /** No effect on HTTP/2 yet. */
  setMinSendRate(_bytesPerSecond: number | undefined): void {}

  /** Always `false`: HTTP/2 has no `Upgrade` (RFC 9113 §8.6). */
  isUpgradeRequest(): boolean {
    return false
  }

  /** Always `false`. */
  wasUpgraded(): boolean {
    return false
  }

  /** Response body bytes sent. */
  get bodyBytesSent(): number {
    return this.#bodyBytesSent
  }

  /** Request body bytes read. */
  get bodyBytesRead(): number {
    return this.#bodyBytesRead
  }

  /** The client's address. */
  get clientAddr(): SocketAddress | undefined {
    return this.connection.stream.digest.peerAddr
  }

  /** The local address the client connected to. */
  get serverAddr(): SocketAddress | undefined {
    return this.connection.stream.digest.localAddr
  }

  /** Connection facts, shared by the connection's streams. */
  get digest(): Digest {
    return this.connection.stream.digest
  }

  /** `GET /path, Host: example.com`. */
  requestSummary(): string {
    const request = this.#request
    if (request === undefined) return ''
    return `${request.method} ${request.uri}, Host: ${request.getHeader('host') ?? ''}`
  }

  /** The latest response header written. */
  get responseWritten(): ResponseHeader | undefined {
    return this.#responseWritten
  }

  /**
   * Resets this stream (RST_STREAM); the connection's other streams go on. A response not yet
   * complete is never ended cleanly: the client sees a reset, not a short body.
   */
  shutdown(): void {
    const stream = this.#stream
    if (stream.destroyed || stream.closed) return
    if (this.#ended) stream.close(NGHTTP2_CANCEL)
    else resetStream(stream)
  }

  /** Always `true`. */
  isHttp2(): boolean {
    return true
  }

  /** Keeps the first 64 KiB of the request body read from now on for a retry. */
  enableRetryBuffering(): void {
    if (this.#retryBuffer === undefined) this.#retryBuffer = new RetryBuffer()
  }

  /** The buffered request body start, or `undefined` when not buffering or truncated. */
  getRetryBuffer(): Buffer | undefined {
    return this.#retryBuffer?.get()
  }

  /** Whether the request body outgrew the retry buffer. */
  retryBufferTruncated(): boolean {
    return this.#retryBuffer?.truncated === true
  }

  /**
   * Reads the request body; once it is done, waits until the client resets the stream or the
   * connection goes, then rejects with `ConnectionClosed`. Resolves `undefined` when the
   * stream closes after a complete response.
   * @param noBodyExpected - treat the body as done
   */
  async readBodyOrIdle(noBodyExpected: boolean): Promise<Buffer | undefined> {
    if (!noBodyExpected && !this.#bodyDone) return this.readRequestBody()
    const stream = this.#stream
    if (!stream.closed && !stream.destroyed) {
      await new Promise<void>((resolve) => {
        if (this.#closeWaiters === undefined) {
          this.#closeWaiters = []
          stream.once('close', () => this.#wakeCloseWaiters())
        }
        this.#closeWaiters.push(resolve)
      })
    }
    if (this.#ended && stream.rstCode === NGHTTP2_NO_ERROR) return undefined
    throw downstreamError('ConnectionClosed', 'client reset the stream')
  }
}
