import { PingoraError } from '@pingora-ts/error'
import { HeaderMap, type RequestHeader, ResponseHeader } from '@pingora-ts/http'
import { checkMs } from '../../option-checks.ts'
import type { Digest } from '../digest.ts'
import type { ClientSession } from '../http/client-session.ts'
import { WRITE_SETTLED } from '../http/common.ts'
import { releaseWrittenChunk } from '../l4/release-chunk.ts'
import type { Stream, StreamReadListener } from '../l4/stream.ts'
import { BodyReader, BodyWriter } from './body.ts'
import { CL_OK, FramingFields, resolveHeadLimits, scanFramingFields } from './common.ts'
import {
  DEFAULT_MAX_HEADERS,
  DEFAULT_MAX_REQUEST_LINE_BYTES,
  DEFAULT_MAX_RESPONSE_HEADER_BYTES,
  findHeadEnd,
  type HeadLimits,
  hasBareLf,
  hasToken,
  lastToken,
  ParsedResponseHead,
  parseContentLength,
  parseResponseHead,
} from './parse.ts'

/** Options for {@link Http1ClientSession}. */
export interface Http1ClientOptions {
  /** Whether the connection came from a pool (errors before any response byte become retryable). */
  reused?: boolean | undefined
  /** Read timeout for the response header and body; `0` or absent for none. */
  readTimeoutMs?: number | undefined
  /** Write timeout while the socket buffer is full; `0` or absent for none. */
  writeTimeoutMs?: number | undefined
  /** Largest response head. @defaultValue 1 MiB */
  maxHeaderBytes?: number | undefined
  /** Most response header fields. @defaultValue 256 */
  maxHeaders?: number | undefined
  /**
   * Treat a response with an invalid `Content-Length` as close-delimited instead of rejecting it
   * (Pingora's `allow_h1_response_invalid_content_length`). @defaultValue `false`
   */
  allowInvalidContentLength?: boolean | undefined
}

const DEFAULT_LIMITS: HeadLimits = {
  maxRequestLineBytes: DEFAULT_MAX_REQUEST_LINE_BYTES,
  maxHeaderBytes: DEFAULT_MAX_RESPONSE_HEADER_BYTES,
  maxHeaders: DEFAULT_MAX_HEADERS,
}

// One parse result for every session: parsing and using it happen synchronously.
const PARSED = new ParsedResponseHead()
// Filled from PARSED by the same synchronous step.
const FRAMING = new FramingFields()

/**
 * The client side of one HTTP/1.x exchange on a {@link Stream}: writes a request with its
 * framing, reads the response (1xx included), and decides whether the connection may go back
 * to a pool. Port of `pingora-core/src/protocols/http/v1/client.rs`.
 *
 * ```ts
 * const session = new Http1ClientSession(stream, { reused: false, readTimeoutMs: 5_000 })
 * await session.writeRequestHeader(request)
 * await session.finishBody()
 * let response = await session.readResponseHeader()
 * while (response.status < 200 && response.status !== 101) response = await session.readResponseHeader()
 * for (let chunk; (chunk = await session.readResponseBody()) !== undefined; ) use(chunk)
 * const reusable = session.reuse() // Stream | undefined
 * ```
 */
export class Http1ClientSession implements ClientSession, StreamReadListener {
  /** Always `'h1'`. */
  readonly protocol: 'h1'
  /** The connection. */
  readonly stream: Stream
  /** Whether the connection came from a pool. */
  readonly reused: boolean
  #readTimeoutMs: number
  #writeTimeoutMs: number
  #limits: HeadLimits
  #allowInvalidContentLength: boolean
  #request: RequestHeader | undefined
  #response: ResponseHeader | undefined
  #writer: BodyWriter
  #reader: BodyReader
  #requestKeepalive: boolean
  #keepalive: boolean
  #finalRead: boolean
  #upgraded: boolean
  #failed: boolean
  #bytesReceived: number
  #done: boolean

  /**
   * Creates a session on a connected stream (fresh or reused from a pool).
   * @param stream - the connection; its error source becomes `'upstream'`
   * @param options - reuse flag, timeouts and limits
   * @throws RangeError when an option is out of range
   */
  constructor(stream: Stream, options?: Http1ClientOptions) {
    stream.errorSource = 'upstream'
    this.protocol = 'h1'
    this.stream = stream
    this.reused = options?.reused ?? false
    this.#readTimeoutMs = checkMs('readTimeoutMs', options?.readTimeoutMs, 0)
    this.#writeTimeoutMs = checkMs('writeTimeoutMs', options?.writeTimeoutMs, 0)
    this.#limits = resolveHeadLimits(
      DEFAULT_LIMITS,
      undefined,
      options?.maxHeaderBytes,
      options?.maxHeaders,
    )
    this.#allowInvalidContentLength = options?.allowInvalidContentLength ?? false
    this.#request = undefined
    this.#response = undefined
    this.#writer = new BodyWriter('upstream')
    this.#reader = new BodyReader('upstream')
    this.#requestKeepalive = true
    this.#keepalive = false
    this.#finalRead = false
    this.#upgraded = false
    this.#failed = false
    this.#bytesReceived = 0
    this.#done = false
  }

  /** Connection facts. */
  get digest(): Digest {
    return this.stream.digest
  }

  /** The latest response header read. */
  get responseHeader(): ResponseHeader | undefined {
    return this.#response
  }

  /** The request header written. */
  get requestHeader(): RequestHeader | undefined {
    return this.#request
  }

  /**
   * Sets the read timeout.
   * @param ms - the timeout; `undefined` or `0` for none
   */
  setReadTimeout(ms: number | undefined): void {
    this.#readTimeoutMs = checkMs('readTimeoutMs', ms, 0)
  }

  /**
   * Sets the write timeout.
   * @param ms - the timeout; `undefined` or `0` for none
   */
  setWriteTimeout(ms: number | undefined): void {
    this.#writeTimeoutMs = checkMs('writeTimeoutMs', ms, 0)
  }

  #fail(error: unknown): PingoraError {
    this.#failed = true
    const wrapped = PingoraError.is(error)
      ? error
      : new PingoraError('UnknownError', { source: 'upstream', cause: error })
    if (wrapped.source === 'unset') wrapped.setSource('upstream')
    return wrapped
  }

  /**
   * A response with a malformed Content-Length: refused (`InvalidHTTPHeader`), or, when the
   * peer allows it, read on but the connection is never reused.
   */
  #invalidContentLength(): void {
    if (!this.#allowInvalidContentLength) {
      throw this.#fail(
        new PingoraError('InvalidHTTPHeader', {
          source: 'upstream',
          context: 'invalid Content-Length in response',
        }),
      )
    }
    this.#keepalive = false
  }

  /** Marks an I/O failure before any response byte on a reused connection as retryable. */
  #retryable(error: PingoraError): PingoraError {
    if (
      this.reused &&
      this.#bytesReceived === 0 &&
      (error.type === 'ReadError' ||
        error.type === 'WriteError' ||
        error.type === 'ConnectionClosed')
    ) {
      error.setRetry('reused-only')
    }
    return error
  }

  /**
   * Writes the request header (case and order as given). Its `Content-Length` or
   * `Transfer-Encoding: chunked` decides how {@link Http1ClientSession.writeBody} frames the
   * body; without either the request has no body.
   * A request without a body is written at once; otherwise the head leaves with the first body
   * piece written in the same tick. Returns {@link WRITE_SETTLED} when nothing has to wait.
   * @param request - the request header
   * @throws PingoraError `WriteError`/`WriteTimedout` (source `upstream`; retry `'reused-only'`
   *   on a reused connection)
   */
  writeRequestHeader(request: RequestHeader): Promise<void> {
    try {
      return this.#writeHead(request) ? WRITE_SETTLED : this.#drainHead()
    } catch (error) {
      return Promise.reject(error)
    }
  }

  /** Writes the head; returns `false` when the caller must wait for the socket to drain. */
  #writeHead(request: RequestHeader): boolean {
    this.#request = request
    const stream = this.stream
    if (this.reused && (stream.peerEnded || stream.bufferedLength !== 0 || stream.closed)) {
      // An idle pooled connection that the peer closed or wrote to is unusable; retry elsewhere.
      throw this.#retryable(
        this.#fail(
          new PingoraError('ConnectionClosed', {
            source: 'upstream',
            context: 'reused connection closed or sent unexpected data while idle',
          }),
        ),
      )
    }
    const headers = request.headers
    const te = headers.get('transfer-encoding')
    const writer = this.#writer
    if (te !== undefined && lastToken(te).toLowerCase() === 'chunked') {
      writer.init('chunked')
    } else {
      const cl = headers.get('content-length')
      const length = cl === undefined ? 0 : parseContentLength(cl)
      if (length === -1) {
        throw new PingoraError('InvalidHTTPHeader', {
          source: 'internal',
          context: 'invalid Content-Length in request',
        })
      }
      writer.init(length > 0 ? 'length' : 'none', length)
      if (length === 0) writer.finish()
    }
    const connection = headers.get('connection')
    this.#requestKeepalive =
      request.version === 'HTTP/1.0'
        ? connection !== undefined && hasToken(connection, 'keep-alive')
        : connection === undefined || !hasToken(connection, 'close')
    try {
      if (writer.mode === 'none') {
        // No body follows: the head is the whole request, written now (no deferred flush).
        return stream.write(request.toH1String())
      }
      // Leaves with the first body piece written in this tick, in one buffer.
      stream.writeDeferred(request.toH1String())
      return !stream.socket.writableNeedDrain
    } catch (error) {
      throw this.#retryable(this.#fail(error))
    }
  }

  async #drainHead(): Promise<void> {
    try {
      await this.stream.drain(this.#writeTimeoutMs)
    } catch (error) {
      throw this.#retryable(this.#fail(error))
    }
  }

  /**
   * Writes a piece of the request body with the request's framing (raw after a 101).
   * @param data - the bytes
   * @throws PingoraError `H1Error` (source `internal`) beyond the Content-Length; `WriteError`,
   *   `WriteTimedout` (source `upstream`)
   */
  async writeBody(data: Uint8Array): Promise<void> {
    const writer = this.#writer
    if (data.length === 0) return
    if (writer.mode === 'none') {
      // Dropping the bytes would silently lose the body: the request header must frame it.
      throw new PingoraError('H1Error', {
        source: 'internal',
        context: 'request body without Content-Length or Transfer-Encoding: chunked',
      })
    }
    if (writer.finished && !this.#upgraded) {
      throw new PingoraError('H1Error', {
        source: 'internal',
        context: 'request body already finished',
      })
    }
    try {
      if (!writer.write(this.stream, data, undefined)) await this.stream.drain(this.#writeTimeoutMs)
    } catch (error) {
      if (PingoraError.is(error) && error.source === 'internal') throw error
      throw this.#retryable(this.#fail(error))
    }
  }

  /**
   * Frees a written body piece's memory now (see {@link releaseWrittenChunk}).
   * @param data - bytes written with {@link Http1ClientSession.writeBody} that nothing reads
   *   again
   */
  releaseWrittenBody(data: Uint8Array): void {
    releaseWrittenChunk(data, this.stream)
  }

  /**
   * Finishes the request body: writes the last chunk for chunked requests.
   * @throws PingoraError `WriteError` (source `upstream`)
   */
  async finishBody(): Promise<void> {
    const end = this.#writer.finish()
    if (end === '') return
    try {
      if (!this.stream.write(end)) await this.stream.drain(this.#writeTimeoutMs)
    } catch (error) {
      throw this.#retryable(this.#fail(error))
    }
  }

  /**
   * Reads the next response header: a 1xx (the caller reads again unless it is a 101) or the
   * final response, whose framing is then set for {@link Http1ClientSession.readResponseBody}.
   * @throws PingoraError (source `upstream`) `InvalidHTTPHeader` for a malformed head or an
   *   invalid `Content-Length`; `ConnectionClosed`, `ReadError` (retry `'reused-only'` on a
   *   reused connection before any byte) or `ReadTimedout`
   */
  readResponseHeader(): Promise<ResponseHeader> {
    if (this.#finalRead) {
      return Promise.reject(
        new PingoraError('H1Error', {
          source: 'internal',
          context: 'response header already read',
        }),
      )
    }
    // The usual case, nothing buffered yet (the request was just sent): one promise, settled
    // from the stream's read callback with the head parsed there (no closure per request).
    if (this.stream.bufferedLength === 0) {
      Http1ClientSession.#executorTarget = this
      return new Promise(Http1ClientSession.#headExecutor)
    }
    return this.#readResponseHeader(undefined)
  }

  #headResolve: ((response: ResponseHeader) => void) | undefined = undefined
  #headReject: ((error: unknown) => void) | undefined = undefined

  // The session whose readResponseHeader() is constructing its promise (set just before, read
  // synchronously by the executor): one executor for every session.
  static #executorTarget: Http1ClientSession | undefined = undefined

  static #headExecutor = (
    resolve: (response: ResponseHeader) => void,
    reject: (error: unknown) => void,
  ): void => {
    const session = Http1ClientSession.#executorTarget as Http1ClientSession
    Http1ClientSession.#executorTarget = undefined
    session.#headResolve = resolve
    session.#headReject = reject
    session.stream.readWith(session.#readTimeoutMs, 'reading response header', session)
  }

  /**
   * @internal The stream's answer to the response-header read of
   * {@link Http1ClientSession.readResponseHeader}; not for callers.
   * @param chunk - the first bytes, or `undefined` at end of stream
   */
  onStreamChunk(chunk: Buffer | undefined): void {
    const resolve = this.#headResolve as (response: ResponseHeader) => void
    const reject = this.#headReject as (error: unknown) => void
    this.#headResolve = undefined
    this.#headReject = undefined
    try {
      if (chunk === undefined) {
        reject(
          this.#retryable(
            this.#fail(
              new PingoraError('ConnectionClosed', {
                source: 'upstream',
                context: 'while reading response header, 0 bytes already read',
              }),
            ),
          ),
        )
        return
      }
      this.#bytesReceived += chunk.length
      const end = findHeadEnd(chunk, 0)
      if (end === -1 || end > this.#limits.maxHeaderBytes) {
        // Split over reads, or too large: the general loop takes it from here.
        this.#readResponseHeader(chunk).then(resolve, reject)
        return
      }
      resolve(this.#completeHead(chunk, end))
    } catch (error) {
      reject(error)
    }
  }

  /**
   * @internal The stream's failure of the response-header read; not for callers.
   * @param error - the read error
   */
  onStreamError(error: PingoraError): void {
    const reject = this.#headReject as (error: unknown) => void
    this.#headResolve = undefined
    this.#headReject = undefined
    reject(this.#retryable(this.#fail(error)))
  }

  /** The general loop: gathers a head split over reads (`first`, if given, is already counted). */
  async #readResponseHeader(first: Buffer | undefined): Promise<ResponseHeader> {
    const stream = this.stream
    const limits = this.#limits
    let head: Buffer | undefined
    let searched = 0
    let end = -1
    let pending = first
    for (;;) {
      let next: Buffer | undefined = pending
      if (next !== undefined) {
        pending = undefined
      } else {
        try {
          next =
            stream.tryRead() ?? (await stream.read(this.#readTimeoutMs, 'reading response header'))
        } catch (error) {
          throw this.#retryable(this.#fail(error))
        }
        if (next === undefined) {
          throw this.#retryable(
            this.#fail(
              new PingoraError('ConnectionClosed', {
                source: 'upstream',
                context: `while reading response header, ${head?.length ?? 0} bytes already read`,
              }),
            ),
          )
        }
        this.#bytesReceived += next.length
      }
      head = head === undefined ? next : Buffer.concat([head, next])
      end = findHeadEnd(head, searched)
      if (end !== -1) break
      if (hasBareLf(head, searched)) {
        // A LF-only head never ends with CRLF CRLF: fail now instead of waiting for the limit.
        throw this.#fail(
          new PingoraError('InvalidHTTPHeader', {
            source: 'upstream',
            context: 'bare LF in response header',
          }),
        )
      }
      searched = head.length
      if (head.length > limits.maxHeaderBytes) {
        throw this.#fail(
          new PingoraError('InvalidHTTPHeader', {
            source: 'upstream',
            context: 'response header too large',
          }),
        )
      }
    }
    return this.#completeHead(head, end)
  }

  /** Parses a complete head (`head[0, end)`), keeps the bytes after it, sets the framing. */
  #completeHead(head: Buffer, end: number): ResponseHeader {
    const limits = this.#limits
    if (end > limits.maxHeaderBytes) {
      throw this.#fail(
        new PingoraError('InvalidHTTPHeader', {
          source: 'upstream',
          context: 'response header too large',
        }),
      )
    }
    if (end < head.length) this.stream.unread(head.subarray(end))
    const parsed = PARSED
    if (parseResponseHead(head, 0, end, limits, parsed) !== 0) {
      throw this.#fail(
        new PingoraError('InvalidHTTPHeader', {
          source: 'upstream',
          context: `invalid response header: ${parsed.error}`,
        }),
      )
    }
    const response = ResponseHeader.fromRaw(
      parsed.status,
      parsed.reason,
      parsed.version,
      HeaderMap.fromRaw(parsed.names, parsed.values),
    )
    this.#response = response
    this.#applyFraming(response, parsed)
    return response
  }

  #applyFraming(response: ResponseHeader, parsed: ParsedResponseHead): void {
    const status = response.status
    const reader = this.#reader
    if (status >= 100 && status < 200 && status !== 101) {
      // Informational: not the final response; another header follows.
      return
    }
    this.#finalRead = true
    const fields = FRAMING
    scanFramingFields(parsed.names, parsed.values, fields)
    const te = fields.transferEncoding
    const clCount = fields.contentLengthCount
    const version = parsed.version
    this.#keepalive =
      this.#requestKeepalive &&
      !fields.connectionClose &&
      (version === 'HTTP/1.1' || fields.connectionKeepalive)
    if (status === 101) {
      if (this.#request?.headers.has('upgrade')) {
        this.#upgraded = true
        this.#keepalive = false
        reader.initClose()
        this.#writer.init('close')
        return
      }
      throw this.#fail(
        new PingoraError('InvalidHTTPHeader', {
          source: 'upstream',
          context: '101 response to a request without Upgrade',
        }),
      )
    }
    const method = this.#request?.method
    if (method === 'HEAD' || status === 204 || status === 304) {
      // No content follows, but a malformed Content-Length is refused all the same (RFC 9110
      // §8.6), as for any other response; llhttp and nginx do too.
      if (te === undefined && clCount > 0 && fields.contentLengthError !== CL_OK) {
        this.#invalidContentLength()
      }
      reader.initNone()
      return
    }
    if (te !== undefined) {
      // RFC 9112 §6.3: TE overrides CL (which is dropped); TE on HTTP/1.0 is faulty framing.
      if (clCount > 0) response.removeHeader('content-length')
      if (version === 'HTTP/1.0') this.#keepalive = false
      if (lastToken(te).toLowerCase() === 'chunked') {
        reader.initChunked()
      } else {
        this.#keepalive = false
        reader.initClose()
      }
      return
    }
    if (clCount > 0) {
      if (fields.contentLengthError !== CL_OK) {
        this.#invalidContentLength()
        reader.initClose()
        return
      }
      reader.initLength(fields.contentLength)
      return
    }
    this.#keepalive = false
    reader.initClose()
  }

  /**
   * Reads the next piece of the response body (raw bytes after a 101); `undefined` at its end.
   * @throws PingoraError (source `upstream`) `ConnectionClosed` when the body is cut short,
   *   `H1Error` for invalid chunked encoding, `ReadError`, `ReadTimedout`
   */
  async readResponseBody(): Promise<Buffer | undefined> {
    if (!this.#finalRead) {
      throw new PingoraError('H1Error', { source: 'internal', context: 'response header not read' })
    }
    const reader = this.#reader
    if (reader.done) return undefined
    try {
      return await reader.read(this.stream, this.#readTimeoutMs)
    } catch (error) {
      throw this.#fail(error)
    }
  }

  /**
   * Takes the next piece of the response body without waiting: decodes bytes already received.
   * Returns `undefined` when none are queued (or they held only framing) and when the body is
   * done: {@link Http1ClientSession.isBodyDone} tells which; then
   * {@link Http1ClientSession.readResponseBody} waits for more. Lets a caller skip a promise per
   * piece when the body arrived with the head.
   * @throws PingoraError as {@link Http1ClientSession.readResponseBody} for invalid framing
   */
  tryReadResponseBody(): Buffer | undefined {
    if (!this.#finalRead) {
      throw new PingoraError('H1Error', { source: 'internal', context: 'response header not read' })
    }
    const reader = this.#reader
    if (reader.done) return undefined
    const stream = this.stream
    const chunk = stream.tryRead()
    if (chunk === undefined) return undefined
    try {
      return reader.feed(stream, chunk)
    } catch (error) {
      throw this.#fail(error)
    }
  }

  /** Always `undefined`: chunked trailers are read and dropped on HTTP/1. */
  get responseTrailers(): undefined {
    return undefined
  }

  /** Whether the response is a 101 and the connection is now a raw byte stream. */
  isUpgraded(): boolean {
    return this.#upgraded
  }

  /** Whether the final response body has been read to its end. */
  isBodyDone(): boolean {
    return this.#finalRead && this.#reader.done
  }

  /** Whether the connection may be reused once the response body is read. */
  get keepalive(): boolean {
    return this.#keepalive
  }

  /**
   * Hands the connection back for reuse when the exchange ended cleanly: final response read
   * to its end through its framing, request body fully sent, keep-alive agreed by both sides,
   * no upgrade, and no unexpected bytes after the response. Otherwise closes the connection.
   * @returns the stream, or `undefined` when it was closed
   */
  reuse(): Stream | undefined {
    const stream = this.stream
    if (this.#done) return undefined
    this.#done = true
    if (
      this.#failed ||
      !this.#finalRead ||
      !this.#keepalive ||
      this.#upgraded ||
      !this.#reader.done ||
      !this.#reader.complete ||
      !this.#writer.complete ||
      stream.bufferedLength !== 0 ||
      stream.peerEnded ||
      stream.closed
    ) {
      stream.close()
      return undefined
    }
    return stream
  }

  /** Closes the connection now. */
  shutdown(): void {
    this.#done = true
    this.stream.destroy()
  }

  /**
   * Half-closes the connection (sends FIN; reading goes on): after a `101`, tells the origin
   * the client's bytes ended. The connection is not reused afterwards.
   */
  shutdownWrite(): void {
    this.#requestKeepalive = false
    this.#keepalive = false
    this.stream.shutdownWrite()
  }

  /** Always `false`. */
  isHttp2(): boolean {
    return false
  }
}
