import http2 from 'node:http2'
import { addAbortSignal, Readable } from 'node:stream'
import { type ErrorType, PingoraError } from '@pingora-ts/error'
import { HeaderMap, type RequestHeader, ResponseHeader } from '@pingora-ts/http'
import type { Digest } from '../digest.ts'
import type { ClientSession } from '../http/client-session.ts'
import { WRITE_SETTLED } from '../http/common.ts'
import { waitForH2Drain } from './drain.ts'

const { NGHTTP2_CANCEL, NGHTTP2_FLAG_END_STREAM, NGHTTP2_NO_ERROR, NGHTTP2_REFUSED_STREAM } =
  http2.constants

/**
 * Node's internal `AbortError` class: `node:http2` resets a stream destroyed with one of these
 * with RST_STREAM(CANCEL) and without ending its request side first (what a `signal` given to
 * `request()` does), where any other error resets with INTERNAL_ERROR. It is not exported; a
 * stream aborted by an already-aborted signal holds one. Taken once, at load.
 */
const AbortErrorClass: new (message?: string) => Error = (() => {
  const probe = new Readable({ read() {} })
  probe.on('error', () => {})
  addAbortSignal(AbortSignal.abort(), probe)
  const found = probe.errored?.constructor as (new (message?: string) => Error) | undefined
  return found !== undefined && found.name === 'AbortError' ? found : Error
})()

/**
 * What an {@link Http2ClientSession} needs from the connection it runs on: the `node:http2`
 * session, the connection facts, and a way to give its stream slot back. Implemented by the
 * HTTP/2 connector's pooled connection.
 * @internal
 */
export interface Http2StreamHost {
  /** The `node:http2` client session. */
  readonly session: http2.ClientHttp2Session
  /** Connection facts (addresses, TLS), shared by the connection's streams. */
  readonly digest: Digest
  /** `'https'` over TLS, `'http'` for h2c. */
  readonly scheme: 'http' | 'https'
  /** Whether the connection was already used by an earlier stream. */
  readonly reusedConnection: boolean
  /** Called once when the session's stream slot is free again (stream closed or never opened). */
  releaseStream(): void
  /** Called when a stream was refused (REFUSED_STREAM, GOAWAY): stop handing out this connection. */
  markDraining(): void
}

/** Options of {@link Http2ClientSession}. */
export interface Http2ClientOptions {
  /** Read timeout for the response header and each body read; `0` or absent for none. */
  readTimeoutMs?: number | undefined
  /** How long a body write may wait for the flow-control window; `0` or absent for none. */
  writeTimeoutMs?: number | undefined
}

function upstreamError(type: ErrorType, context: string, cause?: unknown): PingoraError {
  return new PingoraError(type, { source: 'upstream', context, cause })
}

const RESOLVED_UNDEFINED: Promise<undefined> = Promise.resolve(undefined)

/**
 * One request on a multiplexed HTTP/2 upstream connection: a `node:http2` client stream behind
 * the protocol-neutral {@link ClientSession} interface (`protocol: 'h2'`). Port of
 * `pingora-core/src/protocols/http/v2/client.rs` (`Http2Session`). Get one from
 * `HttpConnector` (a peer whose ALPN offers `h2`) and give it back with
 * `HttpConnector.releaseHttpSession`; the connection belongs to the connector's pool and carries
 * other streams at the same time.
 *
 * - The request header goes out as a HEADERS frame (`Host` becomes `:authority`,
 *   connection-specific fields are dropped, `te: trailers` is kept for gRPC).
 * - A stream the server refused before processing it (RST_STREAM REFUSED_STREAM, or above the
 *   last stream id of a GOAWAY) fails with `retry: true`: nothing reached the origin, so the
 *   request may go again on another connection.
 * - {@link Http2ClientSession.shutdown} resets the stream, never ends it cleanly: once the
 *   request body was fully sent with RST_STREAM(CANCEL); while it is still being sent with
 *   RST_STREAM(CANCEL) too, without END_STREAM (`node:http2`'s `close(code)` would first send
 *   END_STREAM and make a cut request body look complete to the origin; the stream is destroyed
 *   with an abort instead).
 * - A read timeout resets the stream (RST_STREAM CANCEL) and fails with `ReadTimedout` (504 in
 *   the proxy).
 * - Response trailers are kept in {@link Http2ClientSession.responseTrailers}.
 */
export class Http2ClientSession implements ClientSession {
  /** Always `'h2'`. */
  readonly protocol: 'h2'
  /** Whether the connection carried earlier streams. */
  readonly reused: boolean
  /** Connection facts, shared by the connection's streams. */
  readonly digest: Digest
  readonly #host: Http2StreamHost
  #stream: http2.ClientHttp2Stream | undefined
  #request: RequestHeader | undefined
  #heads: ResponseHeader[]
  #response: ResponseHeader | undefined
  #finalRead: boolean
  #finalReceived: boolean
  #bodyEnded: boolean
  #trailers: HeaderMap | undefined
  #failure: PingoraError | undefined
  #wake: (() => void) | undefined
  #readTimeoutMs: number
  #writeTimeoutMs: number
  #released: boolean
  #bodyBytesReceived: number
  #requestEnded: boolean

  /**
   * Creates a session on a connection; the stream opens with
   * {@link Http2ClientSession.writeRequestHeader}.
   * @param host - the connection
   * @param options - timeouts
   */
  constructor(host: Http2StreamHost, options: Http2ClientOptions = {}) {
    this.protocol = 'h2'
    this.reused = host.reusedConnection
    this.digest = host.digest
    this.#host = host
    this.#stream = undefined
    this.#request = undefined
    this.#heads = []
    this.#response = undefined
    this.#finalRead = false
    this.#finalReceived = false
    this.#bodyEnded = false
    this.#trailers = undefined
    this.#failure = undefined
    this.#wake = undefined
    this.#readTimeoutMs = options.readTimeoutMs ?? 0
    this.#writeTimeoutMs = options.writeTimeoutMs ?? 0
    this.#released = false
    this.#bodyBytesReceived = 0
    this.#requestEnded = false
  }

  /** The underlying `node:http2` stream, once the request header was written. */
  get h2Stream(): http2.ClientHttp2Stream | undefined {
    return this.#stream
  }

  /**
   * Opens the stream with the request header (a HEADERS frame). Returns `WRITE_SETTLED`.
   * @param request - the request; `Host` (or an absolute URI) gives `:authority`
   * @param endOfStream - `true` when no body follows (END_STREAM on the HEADERS frame)
   * @throws PingoraError `H2Error` (retry `true`) when the connection no longer takes streams
   */
  writeRequestHeader(request: RequestHeader, endOfStream = false): Promise<void> {
    if (this.#stream !== undefined) {
      return Promise.reject(
        new PingoraError('H2Error', { source: 'internal', context: 'request header already sent' }),
      )
    }
    this.#request = request
    const headers = request.toH2Headers({ scheme: this.#host.scheme })
    let stream: http2.ClientHttp2Stream
    try {
      stream = this.#host.session.request(headers, { endStream: endOfStream })
    } catch (error) {
      // The session is closing (GOAWAY) or gone: nothing was sent, another connection may take it.
      this.#host.markDraining()
      this.#release()
      const failure = upstreamError('H2Error', 'opening a stream on the connection', error)
      failure.setRetry(true)
      return Promise.reject(failure)
    }
    this.#stream = stream
    this.#requestEnded = endOfStream
    stream.on('response', this.#onResponse)
    stream.on('headers', this.#onInformational)
    stream.on('trailers', this.#onTrailers)
    stream.on('readable', this.#notify)
    stream.on('end', this.#onEnd)
    stream.on('error', this.#onError)
    stream.on('close', this.#onClose)
    return WRITE_SETTLED
  }

  readonly #onResponse = (
    headers: http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader,
    flags: number,
    rawHeaders?: string[],
  ): void => {
    try {
      const response = ResponseHeader.fromH2Headers(headers, rawHeaders)
      this.#heads.push(response)
      this.#finalReceived = true
      // HEADERS with END_STREAM (a gRPC trailers-only answer): the body is known to be empty
      // now, so the response goes on downstream as one HEADERS frame with END_STREAM too.
      if ((flags & NGHTTP2_FLAG_END_STREAM) !== 0) this.#bodyEnded = true
    } catch (error) {
      this.#fail(
        PingoraError.is(error)
          ? error
          : upstreamError('InvalidHTTPHeader', 'invalid response header', error),
      )
      this.#reset()
    }
    this.#notify()
  }

  readonly #onInformational = (
    headers: http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader,
    _flags: number,
    rawHeaders?: string[],
  ): void => {
    const status = Number(headers[':status'])
    if (!(status >= 100 && status < 200)) return
    try {
      this.#heads.push(ResponseHeader.fromH2Headers(headers, rawHeaders))
    } catch {
      // A malformed informational response is dropped; the final one decides.
    }
    this.#notify()
  }

  readonly #onTrailers = (
    headers: http2.IncomingHttpHeaders,
    _flags: number,
    rawHeaders?: string[],
  ): void => {
    const names: string[] = []
    const values: string[] = []
    if (rawHeaders !== undefined) {
      for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
        const name = rawHeaders[i] as string
        if (name.charCodeAt(0) === 0x3a) continue
        names.push(name)
        values.push(rawHeaders[i + 1] as string)
      }
    } else {
      for (const name of Object.keys(headers)) {
        if (name.charCodeAt(0) === 0x3a) continue
        const value = headers[name]
        if (value === undefined) continue
        if (Array.isArray(value)) {
          for (const v of value) {
            names.push(name)
            values.push(v)
          }
        } else {
          names.push(name)
          values.push(String(value))
        }
      }
    }
    this.#trailers = HeaderMap.fromRaw(names, values)
  }

  readonly #onEnd = (): void => {
    this.#bodyEnded = true
    this.#notify()
  }

  readonly #onError = (error: NodeJS.ErrnoException): void => {
    this.#fail(this.#streamError(error))
    this.#notify()
  }

  readonly #onClose = (): void => {
    const stream = this.#stream as http2.ClientHttp2Stream
    if (!this.#bodyEnded && this.#failure === undefined) {
      const code = stream.rstCode
      if (code === NGHTTP2_NO_ERROR && this.#finalReceived && stream.readableLength > 0) {
        // Closed cleanly with bytes still buffered: they are read, then the body ends.
      } else if (code === NGHTTP2_NO_ERROR && this.#finalReceived) {
        this.#bodyEnded = stream.readableEnded || stream.readableLength === 0
        if (!this.#bodyEnded) this.#fail(this.#closedError())
      } else {
        this.#fail(this.#closedError())
      }
    }
    this.#release()
    this.#notify()
  }

  #closedError(): PingoraError {
    const stream = this.#stream as http2.ClientHttp2Stream
    const code = stream.rstCode
    if (code === NGHTTP2_REFUSED_STREAM && !this.#finalReceived) {
      // RFC 9113 §8.7: a refused stream was not processed; it is safe to send it again.
      this.#host.markDraining()
      const error = upstreamError('H2Error', 'stream refused by the server (REFUSED_STREAM)')
      error.setRetry(true)
      return error
    }
    const error = upstreamError(
      this.#finalReceived ? 'H2Error' : 'ConnectionClosed',
      `stream closed (error code ${code ?? 'none'}) ${
        this.#finalReceived ? 'before the response body ended' : 'before the response header'
      }`,
    )
    if (!this.#finalReceived && this.reused && this.#bodyBytesReceived === 0) {
      error.setRetry('reused-only')
    }
    return error
  }

  #streamError(error: NodeJS.ErrnoException): PingoraError {
    if (PingoraError.is(error)) return error
    const stream = this.#stream
    if (stream !== undefined && stream.rstCode === NGHTTP2_REFUSED_STREAM && !this.#finalReceived) {
      return this.#closedError()
    }
    if (error.code === 'ERR_HTTP2_GOAWAY_SESSION' && !this.#finalReceived) {
      this.#host.markDraining()
      const refused = upstreamError('H2Error', 'connection going away before the stream', error)
      refused.setRetry(true)
      return refused
    }
    return upstreamError('H2Error', `HTTP/2 stream error (${error.code ?? error.message})`, error)
  }

  #fail(error: PingoraError): void {
    if (this.#failure === undefined) this.#failure = error
  }

  readonly #notify = (): void => {
    const wake = this.#wake
    if (wake !== undefined) {
      this.#wake = undefined
      wake()
    }
  }

  #release(): void {
    if (this.#released) return
    this.#released = true
    this.#host.releaseStream()
  }

  /** Waits for the next stream event, within the read timeout (which resets the stream). */
  #waitEvent(context: string): Promise<void> {
    const timeoutMs = this.#readTimeoutMs
    return new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined
      this.#wake = () => {
        if (timer !== undefined) clearTimeout(timer)
        resolve()
      }
      if (timeoutMs > 0) {
        timer = setTimeout(() => {
          this.#wake = undefined
          const error = upstreamError('ReadTimedout', `${context}, timeout ${timeoutMs}ms`)
          this.#fail(error)
          // Tell the origin to stop: RST_STREAM(CANCEL) (RFC 9113 §8.7).
          this.#reset()
          reject(error)
        }, timeoutMs)
      }
    })
  }

  /**
   * Writes a piece of the request body as DATA frames; waits when the flow-control window or
   * the buffer is full.
   * @param data - the bytes
   * @throws PingoraError `WriteError`, `WriteTimedout`, `H2Error` (source `upstream`)
   */
  writeBody(data: Uint8Array): Promise<void> {
    const stream = this.#stream
    if (stream === undefined) {
      return Promise.reject(
        new PingoraError('H2Error', { source: 'internal', context: 'request header not sent' }),
      )
    }
    if (this.#failure !== undefined) return Promise.reject(this.#failure)
    if (data.length === 0) return WRITE_SETTLED
    if (this.#requestEnded || stream.destroyed) {
      return Promise.reject(upstreamError('WriteError', 'the request stream is closed'))
    }
    return stream.write(data) ? WRITE_SETTLED : this.#waitDrain()
  }

  #waitDrain(): Promise<void> {
    const timeoutMs = this.#writeTimeoutMs
    return waitForH2Drain(
      this.#stream as http2.ClientHttp2Stream,
      timeoutMs,
      () => this.#failure ?? upstreamError('WriteError', 'stream closed during the request'),
      () => {
        const error = upstreamError('WriteTimedout', `writing the request body, ${timeoutMs}ms`)
        this.#fail(error)
        this.#reset()
        return error
      },
    )
  }

  /** Does nothing: HTTP/2 DATA frames copy the bytes. */
  releaseWrittenBody(_data: Uint8Array): void {}

  /** Ends the request (END_STREAM). */
  finishBody(): Promise<void> {
    const stream = this.#stream
    if (stream === undefined || this.#requestEnded) return RESOLVED_UNDEFINED
    this.#requestEnded = true
    if (!stream.destroyed) stream.end()
    return RESOLVED_UNDEFINED
  }

  /** Ends the request side of the stream (END_STREAM); the response may still come. */
  shutdownWrite(): void {
    void this.finishBody()
  }

  /**
   * Reads the next response header: a 1xx (the caller reads again) or the final one.
   * @throws PingoraError (source `upstream`) `InvalidHTTPHeader`, `ReadTimedout` (the stream is
   *   reset), `ConnectionClosed`, `H2Error` (retry `true` when the stream was refused)
   */
  async readResponseHeader(): Promise<ResponseHeader> {
    if (this.#stream === undefined) {
      throw new PingoraError('H2Error', { source: 'internal', context: 'request header not sent' })
    }
    if (this.#finalRead) {
      throw new PingoraError('H2Error', {
        source: 'internal',
        context: 'response header already read',
      })
    }
    for (;;) {
      const head = this.#heads.shift()
      if (head !== undefined) {
        this.#response = head
        if (head.status >= 200 || head.status < 100) this.#finalRead = true
        return head
      }
      if (this.#failure !== undefined) throw this.#failure
      await this.#waitEvent('reading response header')
    }
  }

  /**
   * Reads the next piece of the response body (one or more DATA frames); `undefined` at its end.
   * @throws PingoraError (source `upstream`) `H2Error` when the stream is reset before the end
   *   (a truncated response is never reported as complete), `ReadTimedout`
   */
  async readResponseBody(): Promise<Buffer | undefined> {
    for (;;) {
      const chunk = this.tryReadResponseBody()
      if (chunk !== undefined) return chunk
      if (this.#bodyEnded) return undefined
      if (this.#failure !== undefined) throw this.#failure
      await this.#waitEvent('reading response body')
    }
  }

  /**
   * Takes the response body bytes already received, or `undefined` when none are there (or the
   * body is done: {@link Http2ClientSession.isBodyDone} tells which).
   */
  tryReadResponseBody(): Buffer | undefined {
    if (!this.#finalRead) {
      throw new PingoraError('H2Error', { source: 'internal', context: 'response header not read' })
    }
    const stream = this.#stream as http2.ClientHttp2Stream
    const chunk = stream.read() as Buffer | null
    if (chunk === null) return undefined
    this.#bodyBytesReceived += chunk.length
    return chunk
  }

  /** The latest response header read. */
  get responseHeader(): ResponseHeader | undefined {
    return this.#response
  }

  /** The response trailers, once the body has ended; `undefined` when the origin sent none. */
  get responseTrailers(): HeaderMap | undefined {
    return this.#trailers
  }

  /** Always `false`: HTTP/2 has no `101` upgrade (RFC 9113 §8.6). */
  isUpgraded(): boolean {
    return false
  }

  /** Whether the response body has ended (END_STREAM received and every byte read). */
  isBodyDone(): boolean {
    return this.#finalRead && this.#bodyEnded
  }

  /** Whether the whole exchange ended cleanly: request sent, response read to its end. */
  isComplete(): boolean {
    return this.#bodyEnded && this.#failure === undefined && this.#requestEnded
  }

  /**
   * Hands the stream slot back once the exchange is complete (both sides ended: the stream is
   * closed for nghttp2 even if `node:http2` reports `close` a tick later), else resets the
   * stream. What `HttpConnector.releaseHttpSession` calls.
   * @internal
   */
  finish(): void {
    if (this.isComplete()) this.#release()
    else this.shutdown()
  }

  /**
   * Sets the read timeout.
   * @param ms - the timeout, `undefined` for none
   */
  setReadTimeout(ms: number | undefined): void {
    this.#readTimeoutMs = ms ?? 0
  }

  /**
   * Sets the write timeout.
   * @param ms - the timeout, `undefined` for none
   */
  setWriteTimeout(ms: number | undefined): void {
    this.#writeTimeoutMs = ms ?? 0
  }

  /**
   * Resets this stream (never a clean end; see the class notes); the connection's other
   * streams go on. A stream never opened just gives its slot back.
   */
  shutdown(): void {
    if (this.#stream === undefined) {
      this.#release()
      return
    }
    this.#reset()
  }

  #reset(): void {
    const stream = this.#stream
    if (stream === undefined || stream.closed || stream.destroyed) return
    if (this.#requestEnded) {
      // The request side is finished: close() sends RST_STREAM(CANCEL) at once.
      stream.close(NGHTTP2_CANCEL)
    } else {
      // close() would end the request side first (END_STREAM): destroy with an abort instead,
      // which node:http2 turns into RST_STREAM(CANCEL) with no END_STREAM before it.
      this.#fail(upstreamError('H2Error', 'request cancelled'))
      stream.destroy(new AbortErrorClass('request cancelled'))
    }
  }

  /** Always `true`. */
  isHttp2(): boolean {
    return true
  }
}
