import { type ErrorType, PingoraError } from '@pingora-ts/error'
import { HeaderMap, RequestHeader, ResponseHeader } from '@pingora-ts/http'
import { checkBytes, checkCount, checkMs } from '../../option-checks.ts'
import type { Digest, SocketAddress } from '../digest.ts'
import { RetryBuffer, WRITE_SETTLED } from '../http/common.ts'
import { getCachedDate } from '../http/date.ts'
import { generateErrorResponse } from '../http/error-resp.ts'
import { ReusedHttpStream } from '../http/reused-http-stream.ts'
import type { ServerSession, ServerSessionFastPaths } from '../http/server-session.ts'
import { releaseWrittenChunk } from '../l4/release-chunk.ts'
import type { Stream } from '../l4/stream.ts'
import { BodyReader, BodyWriter, checkChunkedPrefix } from './body.ts'
import {
  CL_CONFLICT,
  CL_INVALID,
  FramingFields,
  resolveHeadLimits,
  scanFramingFields,
} from './common.ts'
import {
  DEFAULT_MAX_HEADER_BYTES,
  DEFAULT_MAX_HEADERS,
  DEFAULT_MAX_REQUEST_LINE_BYTES,
  findHeadEnd,
  type HeadLimits,
  hasBareCr,
  hasBareLf,
  hasToken,
  lastToken,
  nameIs,
  ParsedRequestHead,
  parseContentLength,
  parseRequestHead,
  skipLeadingCrlf,
} from './parse.ts'

/** Default read timeout for request header and body reads. */
export const DEFAULT_READ_TIMEOUT_MS = 60_000
/** Default time allowed for a whole request header once its first byte arrived. */
export const DEFAULT_HEADER_TIMEOUT_MS = 60_000
/** Default idle time allowed between requests on a keep-alive connection. */
export const DEFAULT_KEEPALIVE_TIMEOUT_MS = 60_000
/** Default time {@link Http1ServerSession.finish} may spend draining an unread request body. */
export const DEFAULT_TOTAL_DRAIN_TIMEOUT_MS = 10_000
/** Default number of unread request body bytes drained before a connection is reused. */
export const DEFAULT_MAX_DRAIN_BYTES = 1024 * 1024

/** Options for {@link Http1ServerSession}. */
export interface Http1ServerOptions {
  /**
   * When it aborts while the session waits for the first byte of a request,
   * {@link Http1ServerSession.readRequest} resolves `false` and the connection is closed.
   */
  shutdownSignal?: AbortSignal | undefined
  /** Longest request line; longer answers 414. @defaultValue 8 KiB ({@link DEFAULT_MAX_REQUEST_LINE_BYTES}) */
  maxRequestLineBytes?: number | undefined
  /**
   * Largest request head (request line and header section); larger answers 431.
   * @defaultValue 32 KiB ({@link DEFAULT_MAX_HEADER_BYTES})
   */
  maxHeaderBytes?: number | undefined
  /** Most header fields; more answers 431. @defaultValue 256 */
  maxHeaders?: number | undefined
  /** Read timeout for header and body reads; `0` disables. @defaultValue 60 000 */
  readTimeoutMs?: number | undefined
  /**
   * Time allowed for the whole request header once its first byte arrived (nginx's
   * `client_header_timeout`): a client trickling bytes just inside the read timeout is cut off
   * anyway. `0` disables. @defaultValue 60 000
   */
  headerTimeoutMs?: number | undefined
  /** Write timeout while the socket buffer is full; `0` disables. @defaultValue none */
  writeTimeoutMs?: number | undefined
  /**
   * Idle time allowed between requests on a keep-alive connection (`0` = unlimited); the
   * response's keep-alive timeout unless {@link Http1ServerSession.setKeepalive} changes it.
   * @defaultValue 60 000
   */
  keepaliveTimeoutMs?: number | undefined
  /** Most requests served on one connection. @defaultValue unlimited */
  keepaliveRequestLimit?: number | undefined
  /** Time allowed to drain an unread request body before reuse. @defaultValue 10 000 */
  totalDrainTimeoutMs?: number | undefined
  /** Unread request body bytes drained before reuse; more closes instead. @defaultValue 1 MiB */
  maxDrainBytes?: number | undefined
  /**
   * Whether to close (rather than drain and reuse) when the response is written before the
   * request body was read to its end. @defaultValue `true`
   */
  closeOnResponseBeforeDownstreamFinish?: boolean | undefined
}

const CONTINUE_RESPONSE = 'HTTP/1.1 100 Continue\r\n\r\n'

const DEFAULT_LIMITS: HeadLimits = {
  maxRequestLineBytes: DEFAULT_MAX_REQUEST_LINE_BYTES,
  maxHeaderBytes: DEFAULT_MAX_HEADER_BYTES,
  maxHeaders: DEFAULT_MAX_HEADERS,
}

// One parse result for every session: parsing and using the result happen synchronously, and
// the arrays it holds are replaced by each parse (they end up owned by the request header).
const PARSED = new ParsedRequestHead()
// Filled from PARSED by the same synchronous step.
const FRAMING = new FramingFields()

// Shared settled promises for the common paths that need no waiting (no allocation per call).
const RESOLVED: Promise<void> = WRITE_SETTLED
const RESOLVED_UNDEFINED: Promise<undefined> = Promise.resolve(undefined)
/** Fields never sent as trailers: framing, routing and authentication (RFC 9110 §6.5.1). */
const TRAILER_FORBIDDEN = [
  'content-length',
  'transfer-encoding',
  'host',
  'content-type',
  'content-encoding',
  'trailer',
  'te',
  'connection',
  'keep-alive',
  'upgrade',
  'authorization',
  'set-cookie',
] as const
const RESOLVED_TRUE: Promise<boolean> = Promise.resolve(true)
const RESOLVED_FALSE: Promise<boolean> = Promise.resolve(false)

function downstreamError(type: ErrorType, context: string, cause?: unknown): PingoraError {
  return new PingoraError(type, { source: 'downstream', context, cause })
}

function internalError(context: string): PingoraError {
  return new PingoraError('H1Error', { source: 'internal', context })
}

/** Whether a status is informational (1xx). */
function isInformational(status: number): boolean {
  return status >= 100 && status < 200
}

/**
 * The server side of one HTTP/1.x exchange on a {@link Stream}: reads and validates one request
 * (strict RFC 9112 parsing and framing), exposes its body, writes the response with the right
 * framing and decides whether the connection may serve another request. Port of
 * `pingora-core/src/protocols/http/v1/server.rs`.
 *
 * A keep-alive loop looks like:
 * ```ts
 * let connection: Stream | ReusedHttpStream | undefined = new Stream(socket)
 * while (connection) {
 *   const session = new Http1ServerSession(connection, options)
 *   if (!(await session.readRequest())) break
 *   await session.writeResponseHeader(response)
 *   await session.writeResponseBody(body, true)
 *   connection = await session.finish()
 * }
 * ```
 */
export class Http1ServerSession implements ServerSession, ServerSessionFastPaths {
  /** Always `'h1'`. */
  readonly protocol: 'h1'
  /** This session itself: HTTP/1 has every fast path of {@link ServerSessionFastPaths}. */
  readonly fastPaths: this
  /** The connection. */
  readonly stream: Stream
  /** The connection with the state that persists between its requests. */
  readonly connection: ReusedHttpStream
  #limits: HeadLimits
  #shutdownSignal: AbortSignal | undefined
  #readTimeoutMs: number
  #headerTimeoutMs: number
  #writeTimeoutMs: number
  #defaultKeepaliveMs: number
  #totalDrainTimeoutMs: number
  #maxDrainBytes: number
  #closeOnEarlyResponse: boolean
  #ignoreInfoResponses: boolean
  #abortOnClose: boolean
  #minSendRate: number
  #request: RequestHeader | undefined
  #rawHead: Buffer | undefined
  #keepaliveMs: number | undefined
  #keepalivePreset: boolean
  #clientKeepalive: boolean
  #reusesRemaining: number | undefined
  #reader: BodyReader
  #writer: BodyWriter
  #responseWritten: ResponseHeader | undefined
  #finalWritten: boolean
  #upgradeRequest: boolean
  #upgraded: boolean
  #bodyBytesRead: number
  #bodyFailed: boolean
  #retryBuffer: RetryBuffer | undefined
  #finished: boolean

  /**
   * Creates a session on a connection: a fresh {@link Stream}, or the {@link ReusedHttpStream}
   * a previous session's {@link Http1ServerSession.finish} handed over (its keep-alive timeout
   * and request budget then apply).
   * @param connection - the connection
   * @param options - limits and timeouts
   * @throws RangeError when an option is out of range
   */
  constructor(connection: Stream | ReusedHttpStream, options?: Http1ServerOptions) {
    const reused = connection instanceof ReusedHttpStream ? connection : undefined
    const stream = reused === undefined ? (connection as Stream) : reused.stream
    this.protocol = 'h1'
    this.fastPaths = this
    this.stream = stream
    this.connection = reused ?? new ReusedHttpStream(stream)
    this.#limits = resolveHeadLimits(
      DEFAULT_LIMITS,
      options?.maxRequestLineBytes,
      options?.maxHeaderBytes,
      options?.maxHeaders,
    )
    this.#shutdownSignal = options?.shutdownSignal
    this.#readTimeoutMs = checkMs('readTimeoutMs', options?.readTimeoutMs, DEFAULT_READ_TIMEOUT_MS)
    this.#headerTimeoutMs = checkMs(
      'headerTimeoutMs',
      options?.headerTimeoutMs,
      DEFAULT_HEADER_TIMEOUT_MS,
    )
    this.#writeTimeoutMs = checkMs('writeTimeoutMs', options?.writeTimeoutMs, 0)
    this.#defaultKeepaliveMs = checkMs(
      'keepaliveTimeoutMs',
      options?.keepaliveTimeoutMs,
      DEFAULT_KEEPALIVE_TIMEOUT_MS,
    )
    this.#totalDrainTimeoutMs = checkMs(
      'totalDrainTimeoutMs',
      options?.totalDrainTimeoutMs,
      DEFAULT_TOTAL_DRAIN_TIMEOUT_MS,
    )
    this.#maxDrainBytes = checkBytes(
      'maxDrainBytes',
      options?.maxDrainBytes,
      DEFAULT_MAX_DRAIN_BYTES,
    )
    this.#closeOnEarlyResponse = options?.closeOnResponseBeforeDownstreamFinish ?? true
    this.#ignoreInfoResponses = false
    this.#abortOnClose = true
    this.#minSendRate = 0
    const persistent = this.connection
    if (persistent.reuseCount === 0 && options?.keepaliveRequestLimit !== undefined) {
      const limit = checkCount('keepaliveRequestLimit', options.keepaliveRequestLimit, 1)
      persistent.keepaliveReusesRemaining = limit - 1
    }
    this.#request = undefined
    this.#rawHead = undefined
    this.#keepaliveMs = undefined
    this.#keepalivePreset = false
    this.#clientKeepalive = false
    this.#reusesRemaining = persistent.keepaliveReusesRemaining
    this.#reader = new BodyReader('downstream')
    this.#writer = new BodyWriter('downstream')
    this.#responseWritten = undefined
    this.#finalWritten = false
    this.#upgradeRequest = false
    this.#upgraded = false
    this.#bodyBytesRead = 0
    this.#bodyFailed = false
    this.#retryBuffer = undefined
    this.#finished = false
  }

  /**
   * Reads and validates the request header. Resolves `true` when a request was read; `false`
   * when the client closed, the idle timeout elapsed or the shutdown signal aborted before any
   * byte arrived (the connection is then closed). A malformed request is answered (400, 414,
   * 431 or 505 with `Connection: close`), the connection closed and the promise rejected with
   * an `InvalidHTTPHeader` error carrying that status.
   * @throws PingoraError `InvalidHTTPHeader`, `ReadTimedout`, `ReadError` or `ConnectionClosed`
   *   (source `downstream`)
   */
  readRequest(): Promise<boolean> {
    const read = this.readRequestNow()
    return typeof read === 'boolean' ? (read ? RESOLVED_TRUE : RESOLVED_FALSE) : read
  }

  /**
   * Like {@link Http1ServerSession.readRequest}, but returns `true` directly (no promise, no
   * microtask) when the whole request head is already buffered; otherwise returns the promise
   * `readRequest()` would. The keep-alive hot path of {@link HttpServer} and `HttpProxy`.
   * @throws PingoraError as {@link Http1ServerSession.readRequest} (through the promise)
   */
  readRequestNow(): boolean | Promise<boolean> {
    try {
      return this.#readRequestNow()
    } catch (error) {
      return Promise.reject(error)
    }
  }

  #readRequestNow(): boolean | Promise<boolean> {
    const stream = this.stream
    const head = stream.tryRead()
    if (head === undefined) return this.#readRequest(undefined)
    // The usual case: one read holds the whole head, with no empty lines before it.
    const limits = this.#limits
    const end = head[0] === 0x0d || head[0] === 0x0a ? -1 : findHeadEnd(head, 0)
    if (end === -1 || end > limits.maxHeaderBytes) return this.#readRequest(head)
    if (end < head.length) stream.unread(head.subarray(end))
    this.#rawHead = head.subarray(0, end)
    const parsed = PARSED
    const status = parseRequestHead(head, 0, end, limits, parsed)
    if (status !== 0) return this.#reject(status, parsed.error)
    return this.#applyFraming(parsed)
  }

  /**
   * Waits, without a promise, for the first byte of the request on this session's connection
   * (the keep-alive loop's idle wait: the keep-alive timeout on a reused connection, the read
   * timeout on a new one, cancelled by the shutdown signal). See {@link Stream.waitIdle}.
   * @param onReady - called once when the wait ends, `true` when bytes arrived
   */
  waitForRequest(onReady: (ready: boolean) => void): 'ready' | 'ended' | 'waiting' {
    return this.stream.waitIdle(this.#idleMs(), this.#shutdownSignal, onReady)
  }

  /** How long to wait for a request's first byte: keep-alive timeout once reused, else read. */
  #idleMs(): number {
    const persistent = this.connection
    return persistent.reuseCount > 0
      ? (persistent.keepaliveTimeoutMs ?? this.#defaultKeepaliveMs)
      : this.#readTimeoutMs
  }

  async #readRequest(first: Buffer | undefined): Promise<boolean> {
    const stream = this.stream
    let head = first ?? stream.tryRead()
    if (head === undefined) {
      const signal = this.#shutdownSignal
      try {
        head = await stream.readIdle(this.#idleMs(), signal)
      } catch {
        // Nothing was read yet: a timeout or a reset here is an ordinary end of the connection.
        head = undefined
      }
      // A request that arrived during a graceful shutdown is served (with `Connection: close`).
      if (head === undefined) {
        stream.close()
        return false
      }
    }
    const limits = this.#limits
    let searched = 0
    let start = 0
    let end = -1
    let deadline = 0
    // A head split over several reads is gathered in a buffer that doubles, so a client that
    // sends it in tiny pieces costs linear, not quadratic, copying.
    let backing: Buffer | undefined
    for (;;) {
      if (searched <= start + 1) {
        // RFC 9112 §2.2: empty lines before the request line are ignored (a bounded number).
        start = skipLeadingCrlf(head)
        if (start > limits.maxRequestLineBytes) return this.#reject(400, 'too many empty lines')
        if (start === head.length || (start === head.length - 1 && head[start] === 0x0d)) {
          // Only (part of) empty lines so far: wait for the request line.
          searched = start
          if (head.length > 2 * limits.maxRequestLineBytes) {
            return this.#reject(400, 'too many empty lines')
          }
        }
      }
      end = findHeadEnd(head, Math.max(searched, start))
      if (end !== -1) break
      const status = this.#checkPartialHead(head, start, searched)
      if (status !== 0) return this.#reject(status, PARSED.error)
      searched = head.length
      let next = stream.tryRead()
      if (next === undefined) {
        // Only a head split over several reads gets here: the clock is read then, not per request.
        if (deadline === 0 && this.#headerTimeoutMs > 0)
          deadline = Date.now() + this.#headerTimeoutMs
        let timeoutMs = this.#readTimeoutMs
        if (deadline !== 0) {
          const left = deadline - Date.now()
          if (left <= 0) {
            stream.close()
            throw downstreamError(
              'ReadTimedout',
              `request header not complete within ${this.#headerTimeoutMs}ms`,
            )
          }
          if (timeoutMs === 0 || left < timeoutMs) timeoutMs = left
        }
        try {
          next = await stream.read(timeoutMs, 'reading request header')
        } catch (error) {
          stream.close()
          throw error
        }
      }
      if (next === undefined) {
        stream.close()
        throw downstreamError(
          'ConnectionClosed',
          `while reading request header, ${head.length} bytes already read`,
        )
      }
      const used = head.length
      if (backing === undefined || used + next.length > backing.length) {
        const grown = Buffer.allocUnsafe(Math.max(used + next.length, used * 2, 4096))
        head.copy(grown, 0, 0, used)
        backing = grown
      }
      next.copy(backing, used)
      head = backing.subarray(0, used + next.length)
    }
    if (end - start > limits.maxHeaderBytes) {
      return this.#reject(431, 'request header too large')
    }
    if (end < head.length) stream.unread(head.subarray(end))
    this.#rawHead = head.subarray(start, end)
    const parsed = PARSED
    const status = parseRequestHead(head, start, end, limits, parsed)
    if (status !== 0) return this.#reject(status, parsed.error)
    return this.#applyFraming(parsed)
  }

  /** Checks an incomplete head against the limits; returns a status to reject with, or 0. */
  #checkPartialHead(head: Buffer, start: number, searched: number): number {
    const limits = this.#limits
    const parsed = PARSED
    const from = Math.max(searched, start)
    if (hasBareLf(head, from)) {
      parsed.error = 'bare LF in request header'
      return 400
    }
    // From one byte back: a CR that ended the previous read is checked with its successor.
    if (hasBareCr(head, from > start ? from - 1 : from)) {
      parsed.error = 'bare CR in request header'
      return 400
    }
    const lineEnd = head.indexOf(0x0a, start)
    // The request line (without its CRLF) may not exceed the limit, complete or not.
    const lineLength = lineEnd === -1 ? head.length - start : lineEnd - 1 - start
    if (lineLength > limits.maxRequestLineBytes) {
      parsed.error = 'request line too long'
      return 414
    }
    if (head.length - start > limits.maxHeaderBytes) {
      parsed.error = 'request header too large'
      return 431
    }
    return 0
  }

  /** Validates framing headers (RFC 9112 §6) and builds the request header. */
  #applyFraming(parsed: ParsedRequestHead): boolean | Promise<boolean> {
    const names = parsed.names
    const values = parsed.values
    const version = parsed.version
    const fields = FRAMING
    scanFramingFields(names, values, fields)
    if (fields.contentLengthError === CL_INVALID) return this.#reject(400, 'invalid Content-Length')
    if (fields.contentLengthError === CL_CONFLICT) {
      return this.#reject(400, 'conflicting Content-Length values')
    }
    const contentLength = fields.contentLength
    const contentLengthIndex = fields.contentLengthIndex
    const contentLengthCount = fields.contentLengthCount
    const transferEncoding = fields.transferEncoding
    const hostIndex = fields.hostIndex
    const hostCount = fields.hostCount
    let connectionClose = fields.connectionClose
    if (version === 'HTTP/1.1' && hostCount !== 1) {
      return this.#reject(400, hostCount === 0 ? 'missing Host' : 'duplicate Host')
    }
    if (hostCount > 1) return this.#reject(400, 'duplicate Host')
    if (hostIndex !== -1 && !isValidHost(values[hostIndex] as string)) {
      return this.#reject(400, 'invalid Host')
    }
    const target = parsed.target
    const method = parsed.method
    const formStatus = checkTargetForm(method, target)
    if (formStatus !== 0) return this.#reject(400, 'invalid request target form')
    let chunked = false
    if (transferEncoding !== undefined) {
      // RFC 9112 §6.1: TE on HTTP/1.0 means faulty framing; a final coding other than chunked
      // cannot be framed in a request.
      if (version === 'HTTP/1.0') return this.#reject(400, 'Transfer-Encoding on HTTP/1.0')
      if (lastToken(transferEncoding).toLowerCase() !== 'chunked') {
        return this.#reject(400, 'final Transfer-Encoding is not chunked')
      }
      if (countChunked(transferEncoding) !== 1) {
        return this.#reject(400, 'chunked applied more than once')
      }
      chunked = true
    }
    const headers = HeaderMap.fromRaw(names, values)
    const request = RequestHeader.fromRaw(method, target, version, headers)
    this.#request = request
    if (chunked && contentLengthCount > 0) {
      // RFC 9112 §6.1: TE overrides CL; the CL is removed and the connection closed after.
      headers.remove('content-length')
      connectionClose = true
    } else if (
      contentLengthCount > 1 ||
      (contentLengthIndex !== -1 && hasComma(values[contentLengthIndex] as string))
    ) {
      // Identical duplicates are collapsed to one field so that they are not forwarded.
      headers.insert(names[contentLengthIndex] as string, String(contentLength))
    }
    const authority = method === 'CONNECT' ? undefined : absoluteFormAuthority(target)
    // RFC 9112 §3.2.2: with an absolute-form target the Host field is replaced by its authority
    // (and added when an HTTP/1.0 request had none).
    if (authority !== undefined) {
      if (!isValidHost(authority)) return this.#reject(400, 'invalid authority in target')
      headers.insert(hostIndex === -1 ? 'Host' : (names[hostIndex] as string), authority)
    }
    this.#clientKeepalive =
      !connectionClose && (version === 'HTTP/1.1' || fields.connectionKeepalive)
    if (!this.#clientKeepalive) this.#keepaliveMs = undefined
    else if (!this.#keepalivePreset) this.#keepaliveMs = this.#defaultKeepaliveMs
    // RFC 9110 §7.8: Upgrade is hop-by-hop and means something only when Connection lists it.
    this.#upgradeRequest = fields.upgrade && fields.connectionUpgrade && version === 'HTTP/1.1'
    if (chunked) {
      // Body bytes that came with the head are checked now: a request whose framing is already
      // known to be broken is refused before anything of it is acted on (or forwarded).
      if (this.stream.bufferedLength > 0) {
        const invalid = this.#checkBufferedChunks()
        if (invalid !== undefined) return this.#reject(400, invalid)
      }
      this.#reader.initChunked()
    } else if (contentLength > 0) this.#reader.initLength(contentLength)
    else this.#reader.initNone()
    return true
  }

  /** Runs the chunked decoder over the buffered body bytes without consuming them. */
  #checkBufferedChunks(): string | undefined {
    const stream = this.stream
    const pieces: Buffer[] = []
    for (let piece = stream.tryRead(); piece !== undefined; piece = stream.tryRead()) {
      pieces.push(piece)
    }
    for (let i = pieces.length - 1; i >= 0; i--) stream.unread(pieces[i] as Buffer)
    return checkChunkedPrefix(pieces)
  }

  /** Answers a malformed request, closes, and rejects with `InvalidHTTPHeader`. */
  #reject(status: number, reason: string): Promise<boolean> {
    const stream = this.stream
    const response = generateErrorResponse(status)
    response.insertHeader('Connection', 'close')
    try {
      stream.write(response.toH1String())
    } catch {
      // The client is gone; the error below still reports the bad request.
    }
    stream.close()
    return Promise.reject(
      new PingoraError(
        { type: 'InvalidHTTPHeader', status },
        { source: 'downstream', context: `invalid request: ${reason}` },
      ),
    )
  }

  /**
   * The request header read by {@link Http1ServerSession.readRequest}.
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
   * The request head exactly as received (request line and header section, with the final
   * CRLF CRLF), or `undefined` before a request was read (Pingora's `get_headers_raw_bytes`).
   */
  get rawRequestHead(): Buffer | undefined {
    return this.#rawHead
  }

  /**
   * The first value of a request header, or `undefined`.
   * @param name - the header name (case-insensitive)
   */
  getHeader(name: string): string | undefined {
    return this.#request?.getHeader(name)
  }

  /**
   * Reads the next piece of the request body (after a 101, raw bytes from the client);
   * `undefined` at its end.
   * @throws PingoraError `ReadTimedout`, `ReadError`, `ConnectionClosed` or `H1Error`
   */
  readRequestBody(): Promise<Buffer | undefined> {
    return this.#reader.done ? RESOLVED_UNDEFINED : this.#readBody()
  }

  async #readBody(): Promise<Buffer | undefined> {
    const reader = this.#reader
    let data: Buffer | undefined
    try {
      data = await reader.read(this.stream, this.#readTimeoutMs)
    } catch (error) {
      this.#bodyFailed = true
      this.#keepaliveMs = undefined
      throw error
    }
    if (data !== undefined) {
      this.#bodyBytesRead += data.length
      if (this.#retryBuffer !== undefined) this.#retryBuffer.push(data)
    }
    return data
  }

  /** Reads and discards the rest of the request body. */
  drainRequestBody(): Promise<void> {
    return this.#reader.done ? RESOLVED : this.#drain()
  }

  async #drain(): Promise<void> {
    while ((await this.readRequestBody()) !== undefined) {
      // discard
    }
  }

  /** Whether the whole request body has been read. */
  isBodyDone(): boolean {
    return this.#reader.done
  }

  /** Whether the request has no body (no Content-Length above 0, no chunked framing). */
  isBodyEmpty(): boolean {
    const reader = this.#reader
    return (
      reader.mode === 'none' ||
      (reader.mode === 'length' && this.#bodyBytesRead === 0 && reader.done)
    )
  }

  /**
   * Writes a response header. A 1xx other than 101 is written as is and a final response may
   * follow; the final header gets `Date` (when absent) and `Connection` (set to `keep-alive` or
   * `close` per the session's decision); its framing (Content-Length, chunked, or close-delimited;
   * none for HEAD, 204 and 304) decides how the body is written. Without framing headers an
   * HTTP/1.1 body is sent chunked (and an empty one gets `Content-Length: 0`).
   * The header object is modified.
   * @param response - the header
   * @param endOfStream - `true` when no body follows
   * @throws PingoraError `H1Error` (source `internal`) when a final header was already written;
   *   `WriteError` when the connection is gone
   */
  writeResponseHeader(response: ResponseHeader, endOfStream = false): Promise<void> {
    try {
      return this.#writeHead(response, endOfStream)
        ? this.stream.drain(this.#writeTimeoutMs)
        : RESOLVED
    } catch (error) {
      return Promise.reject(error)
    }
  }

  /**
   * Writes a final response header and its whole body in one write (the head is not deferred
   * to the end of the tick, so no tick is scheduled): the same as
   * `writeResponseHeader(response, false)` then `writeResponseBody(body, true)`, which is what
   * it does for a 1xx or 101 header.
   * @param response - the header
   * @param body - the complete body; empty or `undefined` writes the header as a complete
   *   bodiless response (`writeResponseHeader(response, true)`)
   * @throws PingoraError as {@link Http1ServerSession.writeResponseHeader} and
   *   {@link Http1ServerSession.writeResponseBody}
   */
  writeResponse(response: ResponseHeader, body: Uint8Array | undefined): Promise<void> {
    // An empty body: the header alone, framed as a complete response.
    if (body === undefined || body.length === 0) return this.writeResponseHeader(response, true)
    if (isInformational(response.status)) return this.#writeHeaderThenBody(response, body)
    try {
      return this.#writeHead(response, false, body)
        ? this.stream.drain(this.#writeTimeoutFor(body.length))
        : RESOLVED
    } catch (error) {
      return Promise.reject(error)
    }
  }

  async #writeHeaderThenBody(response: ResponseHeader, body: Uint8Array): Promise<void> {
    await this.writeResponseHeader(response, false)
    await this.writeResponseBody(body, true)
  }

  /**
   * Writes the head (with `body` and the end of the body after it when given); returns whether
   * the caller must wait for the socket to drain.
   */
  #writeHead(response: ResponseHeader, endOfStream: boolean, body?: Uint8Array): boolean {
    if (this.#finalWritten) throw internalError('response header already written')
    // A response may be written without a request (e.g. refusing a connection); it is then
    // framed for HTTP/1.1 and the connection is not reused.
    const request = this.#request
    const method = request === undefined ? '' : request.method
    const version = request === undefined ? 'HTTP/1.1' : request.version
    const status = response.status
    const stream = this.stream
    // RFC 9110 §6.2: an intermediary sends its own version, whatever the origin spoke.
    if (response.version !== 'HTTP/1.1') response.setVersion('HTTP/1.1')
    if (isInformational(status) && status !== 101) {
      // Optionally dropped, except a 100 the client asked for with Expect: 100-continue.
      if (this.#ignoreInfoResponses && !(status === 100 && this.isExpectContinueRequest())) {
        return false
      }
      this.#responseWritten = response
      return !stream.write(response.toH1String())
    }
    this.#finalWritten = true
    this.#responseWritten = response
    const writer = this.#writer
    if (status === 101) {
      if (!this.#upgradeRequest)
        throw internalError('101 for a request that did not ask to upgrade')
      this.#upgraded = true
      this.#keepaliveMs = undefined
      this.#reader.initClose()
      writer.init('close')
      return !stream.write(response.toH1String())
    }
    if (this.#closeOnEarlyResponse && !this.#reader.done) this.#keepaliveMs = undefined
    // A server shutting down tells the client to go elsewhere for its next request.
    if (this.#shutdownSignal?.aborted === true) this.#keepaliveMs = undefined
    const headers = response.headers
    // One pass over the fields for everything framing needs (first values, as `get` returns).
    let te: string | undefined
    let cl: string | undefined
    let clCount = 0
    let connection: string | undefined
    let hasDate = false
    for (let i = 0, size = headers.size; i < size; i++) {
      const name = headers.nameAt(i)
      switch (name.length) {
        case 4:
          if (!hasDate && nameIs(name, 'date')) hasDate = true
          break
        case 10:
          if (connection === undefined && nameIs(name, 'connection'))
            connection = headers.valueAt(i)
          break
        case 14:
          if (nameIs(name, 'content-length')) {
            if (clCount === 0) cl = headers.valueAt(i)
            clCount++
          }
          break
        case 17:
          if (te === undefined && nameIs(name, 'transfer-encoding')) te = headers.valueAt(i)
          break
        default:
          break
      }
    }
    if (method === 'HEAD' || status === 204 || status === 304) {
      writer.init('none')
    } else {
      if (te !== undefined) {
        headers.remove('content-length')
        if (version === 'HTTP/1.0') {
          // An HTTP/1.0 client does not know chunked: send the body raw and close.
          headers.remove('transfer-encoding')
          writer.init('close')
        } else {
          writer.init(lastToken(te).toLowerCase() === 'chunked' ? 'chunked' : 'close')
        }
      } else {
        if (cl !== undefined) {
          const length = clCount === 1 ? parseContentLength(cl) : -1
          if (length === -1) {
            throw new PingoraError('InvalidHTTPHeader', {
              source: 'internal',
              context: 'invalid Content-Length in response',
            })
          }
          writer.init('length', length)
        } else if (endOfStream) {
          headers.append('Content-Length', '0')
          writer.init('length', 0)
        } else if (version === 'HTTP/1.1') {
          headers.append('Transfer-Encoding', 'chunked')
          writer.init('chunked')
        } else {
          writer.init('close')
        }
      }
    }
    if (writer.mode === 'close') this.#keepaliveMs = undefined
    // An application that says `Connection: close` gets it.
    if (connection !== undefined && hasToken(connection, 'close')) this.#keepaliveMs = undefined
    if (!hasDate) headers.append('Date', getCachedDate())
    const connectionValue = this.#willKeepalive() ? 'keep-alive' : 'close'
    if (connection === undefined) headers.append('Connection', connectionValue)
    else headers.insert('Connection', connectionValue)
    const head = response.toH1String()
    if (endOfStream) {
      stream.write(head + writer.finish())
    } else if (body !== undefined) {
      // The head, the whole body and its end: one buffer (a chunked end goes in the same
      // corked write).
      if (writer.mode === 'length' && body.length > writer.remaining) {
        // As writeResponseHeader then writeResponseBody would: the head goes out, the body
        // write throws (larger than the Content-Length).
        stream.writeDeferred(head)
        writer.write(stream, body, undefined)
      }
      if (writer.mode === 'chunked') {
        stream.cork()
        writer.write(stream, body, head)
        stream.write(writer.finish())
        stream.uncork()
      } else {
        writer.write(stream, body, head)
        writer.finish()
      }
    } else {
      // Leaves with the first body piece written in this tick, in one buffer.
      stream.writeDeferred(head)
    }
    return stream.socket.writableNeedDrain
  }

  /**
   * Writes a piece of the response body with the response's framing (raw after a 101).
   * @param data - the bytes, or `undefined`
   * @param endOfStream - `true` on the last piece
   * @throws PingoraError `H1Error` (source `internal`) when the body exceeds the Content-Length
   *   or no header was written; `WriteError`, `WriteTimedout` (source `downstream`)
   */
  writeResponseBody(data: Uint8Array | undefined, endOfStream: boolean): Promise<void> {
    try {
      return this.#writeBody(data, endOfStream)
        ? RESOLVED
        : this.stream.drain(this.#writeTimeoutFor(data === undefined ? 0 : data.length))
    } catch (error) {
      return Promise.reject(error)
    }
  }

  /**
   * Frees a written body piece's memory now (see {@link releaseWrittenChunk}).
   * @param data - bytes written with {@link Http1ServerSession.writeResponseBody} that nothing
   *   reads again
   */
  releaseWrittenBody(data: Uint8Array): void {
    releaseWrittenChunk(data, this.stream)
  }

  /** Writes body bytes; returns `false` when the caller must wait for the socket to drain. */
  #writeBody(data: Uint8Array | undefined, endOfStream: boolean): boolean {
    if (!this.#finalWritten) throw internalError('response body written before its header')
    const writer = this.#writer
    const stream = this.stream
    if (writer.finished) {
      if (data !== undefined && data.length > 0)
        throw internalError('response body already finished')
      return true
    }
    let ok = true
    if (data !== undefined && data.length > 0) {
      // The last chunk's terminator follows in the same syscall.
      if (endOfStream && writer.mode === 'chunked') stream.corkForTick()
      ok = writer.write(stream, data, undefined)
    }
    if (endOfStream) {
      const end = writer.finish()
      if (end !== '') ok = stream.write(end)
    }
    return ok
  }

  /**
   * Ends a chunked response body with trailer fields (RFC 9112 §7.1.2), when the client said
   * it accepts them (`TE: trailers`, RFC 9110 §10.1.4); otherwise the trailers are dropped and
   * nothing is written. Call it instead of the last `writeResponseBody(..., true)`: it writes
   * the last chunk itself. A response framed by `Content-Length` (or already finished) cannot
   * carry trailers: they are dropped.
   * @param trailers - the trailer fields; `undefined` or empty writes nothing
   * @throws PingoraError `WriteError`, `WriteTimedout` (source `downstream`)
   */
  writeResponseTrailers(trailers?: HeaderMap): Promise<void> {
    const writer = this.#writer
    if (
      trailers === undefined ||
      trailers.size === 0 ||
      !this.#finalWritten ||
      writer.finished ||
      writer.mode !== 'chunked'
    ) {
      return RESOLVED
    }
    const te = this.#request?.headers.get('te')
    if (te === undefined || !hasToken(te, 'trailers')) return RESOLVED
    const fields = trailers.clone()
    // Fields that frame or route the message never belong in trailers (RFC 9110 §6.5.1).
    for (const name of TRAILER_FORBIDDEN) fields.remove(name)
    writer.finish()
    const written = this.stream.write(`0\r\n${fields.toH1String()}\r\n`)
    return written ? RESOLVED : this.stream.drain(this.#writeTimeoutMs)
  }

  /** Finishes the response body: writes the last chunk for chunked responses. */
  async finishBody(): Promise<void> {
    if (!this.#finalWritten) return
    const end = this.#writer.finish()
    if (end !== '' && this.stream.write(end) === false)
      await this.stream.drain(this.#writeTimeoutMs)
  }

  /**
   * Finishes the exchange. Completes the response body, then, when keep-alive applies and the
   * response was complete, drains the unread request body (bounded by the total drain timeout
   * and byte limit) and returns the connection ({@link Http1ServerSession.connection}) for the next request. Otherwise closes the connection
   * and resolves `undefined`. Never rejects.
   */
  finish(): Promise<ReusedHttpStream | undefined> {
    const next = this.finishNow()
    return next instanceof Promise ? next : Promise.resolve(next)
  }

  /**
   * Like {@link Http1ServerSession.finish}, but returns the result directly (no promise, no
   * microtask) when nothing has to be waited for: no unread request body to drain and no full
   * socket buffer. Otherwise returns the promise `finish()` would. Never throws or rejects.
   */
  finishNow(): ReusedHttpStream | undefined | Promise<ReusedHttpStream | undefined> {
    const stream = this.stream
    if (this.#finished) return undefined
    this.#finished = true
    stream.releaseEndWaiters()
    try {
      if (this.#finalWritten && !this.#upgraded) {
        // The chunked terminator, when the body did not end it yet.
        const end = this.#writer.finish()
        if (end !== '' && !stream.write(end)) return this.#finishAfterDrain()
      }
      return this.#handOver()
    } catch {
      stream.close()
      return undefined
    }
  }

  async #finishAfterDrain(): Promise<ReusedHttpStream | undefined> {
    const stream = this.stream
    try {
      await stream.drain(this.#writeTimeoutMs)
      const next = this.#handOver()
      return next instanceof Promise ? await next : next
    } catch {
      stream.close()
      return undefined
    }
  }

  /** Decides reuse after the response was written; returns the stream or closes it. */
  #handOver(): ReusedHttpStream | undefined | Promise<ReusedHttpStream | undefined> {
    const stream = this.stream
    if (
      this.#request === undefined ||
      !this.#finalWritten ||
      this.#upgraded ||
      this.#bodyFailed ||
      !this.#willKeepalive() ||
      !this.#writer.complete ||
      stream.closed
    ) {
      stream.close()
      return undefined
    }
    if (!this.#reader.done || stream.socket.writableNeedDrain) return this.#drainThenHandOver()
    if (!this.#reader.complete) {
      stream.close()
      return undefined
    }
    return this.#reuse()
  }

  async #drainThenHandOver(): Promise<ReusedHttpStream | undefined> {
    const stream = this.stream
    try {
      if (!this.#reader.done && !(await this.#drainBounded())) {
        stream.close()
        return undefined
      }
      if (!this.#reader.complete) {
        stream.close()
        return undefined
      }
      if (stream.socket.writableNeedDrain) await stream.drain(this.#writeTimeoutMs)
      return this.#reuse()
    } catch {
      stream.close()
      return undefined
    }
  }

  /** Hands the connection over to the next session. */
  #reuse(): ReusedHttpStream {
    const persistent = this.connection
    persistent.reuseCount++
    persistent.keepaliveTimeoutMs = this.#keepaliveMs
    const remaining = this.#reusesRemaining
    persistent.keepaliveReusesRemaining = remaining === undefined ? undefined : remaining - 1
    return persistent
  }

  async #drainBounded(): Promise<boolean> {
    const deadline = Date.now() + (this.#totalDrainTimeoutMs || Number.POSITIVE_INFINITY)
    const reader = this.#reader
    const limit = this.#maxDrainBytes
    let drained = 0
    while (!reader.done) {
      const left = deadline - Date.now()
      if (left <= 0) return false
      const timeout = this.#readTimeoutMs > 0 ? Math.min(this.#readTimeoutMs, left) : left
      const data = await reader.read(this.stream, Number.isFinite(timeout) ? Math.ceil(timeout) : 0)
      if (data !== undefined) {
        drained += data.length
        this.#bodyBytesRead += data.length
        if (drained > limit) return false
      }
    }
    return true
  }

  #willKeepalive(): boolean {
    return this.#keepaliveMs !== undefined && this.#reusesRemaining !== 0
  }

  /** Sends `100 Continue` unless a response header was already written. */
  async writeContinueResponse(): Promise<void> {
    if (this.#responseWritten !== undefined) return
    this.#responseWritten = ResponseHeader.build(100)
    this.stream.write(CONTINUE_RESPONSE)
  }

  /**
   * Sends a complete bodiless error response built by `generateErrorResponse`.
   * @param status - the status code
   */
  respondError(status: number): Promise<void> {
    return this.writeErrorResponse(generateErrorResponse(status), undefined)
  }

  /**
   * Sends a complete response with a small body in one write; sets `Content-Length`.
   * @param response - the header
   * @param body - the body, or `undefined`
   */
  async writeErrorResponse(response: ResponseHeader, body: Uint8Array | undefined): Promise<void> {
    response.insertHeader('Content-Length', String(body?.length ?? 0))
    if (body === undefined || body.length === 0) {
      await this.writeResponseHeader(response, true)
      return
    }
    await this.writeResponseHeader(response, false)
    await this.writeResponseBody(body, true)
  }

  /**
   * Sets the keep-alive timeout in seconds (Pingora's `set_keepalive`; see
   * {@link Http1ServerSession.setKeepaliveMs} for the same in milliseconds, like every other
   * timeout here): `undefined` disables reuse, `0` allows it without an idle timeout. Stays off
   * when the client asked to close. May be called before
   * {@link Http1ServerSession.readRequest}; the value then replaces the default once the request
   * is read.
   * @param seconds - idle seconds allowed before the next request
   * @throws RangeError when `seconds` is negative or not a number
   */
  setKeepalive(seconds: number | undefined): void {
    if (
      seconds !== undefined &&
      (typeof seconds !== 'number' || Number.isNaN(seconds) || seconds < 0)
    ) {
      throw new RangeError(`keepalive must be a non-negative number of seconds, got ${seconds}`)
    }
    this.#applyKeepalive(seconds === undefined ? undefined : seconds * 1000)
  }

  /**
   * Sets the keep-alive timeout in milliseconds: `undefined` disables reuse, `0` allows it
   * without an idle timeout. Otherwise as {@link Http1ServerSession.setKeepalive}.
   * @param ms - idle time allowed before the next request
   * @throws RangeError when `ms` is not a finite number >= 0
   */
  setKeepaliveMs(ms: number | undefined): void {
    this.#applyKeepalive(checkMs('keepaliveMs', ms, undefined))
  }

  #applyKeepalive(ms: number | undefined): void {
    if (this.#request === undefined) {
      // Set before the request is read: applied then, unless the client asks to close.
      this.#keepalivePreset = true
      this.#keepaliveMs = ms
      return
    }
    this.#keepaliveMs = this.#clientKeepalive ? ms : undefined
  }

  /** The keep-alive timeout in seconds (`0` = none), or `undefined` when reuse is off. */
  getKeepalive(): number | undefined {
    const ms = this.#keepaliveMs
    return ms === undefined ? undefined : ms / 1000
  }

  /**
   * Limits how many more requests this connection may serve after this one.
   * @param remaining - the count; `undefined` for no limit
   */
  setKeepaliveReusesRemaining(remaining: number | undefined): void {
    this.#reusesRemaining = remaining
  }

  /**
   * Sets the read timeout for header and body reads.
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

  /**
   * Sets how long {@link Http1ServerSession.finish} may drain an unread request body.
   * @param ms - the timeout; `undefined` for the default
   */
  setTotalDrainTimeout(ms: number | undefined): void {
    this.#totalDrainTimeoutMs = checkMs('totalDrainTimeoutMs', ms, DEFAULT_TOTAL_DRAIN_TIMEOUT_MS)
  }

  /**
   * Sets whether a response written before the request body was fully read closes the
   * connection (instead of draining the body for reuse).
   * @param close - the choice @defaultValue `true`
   */
  setCloseOnResponseBeforeDownstreamFinish(close: boolean): void {
    this.#closeOnEarlyResponse = close
  }

  /** Whether the request asks for an upgrade (`Upgrade` header on HTTP/1.1). */
  isUpgradeRequest(): boolean {
    return this.#upgradeRequest
  }

  /** Whether a 101 was written for an upgrade request. */
  wasUpgraded(): boolean {
    return this.#upgraded
  }

  /** Whether the client sent `Expect: 100-continue`. */
  isExpectContinueRequest(): boolean {
    const expect = this.#request?.getHeader('expect')
    return expect !== undefined && expect.toLowerCase() === '100-continue'
  }

  /** Response body bytes sent. */
  get bodyBytesSent(): number {
    return this.#writer.bytesWritten
  }

  /** Request body bytes read. */
  get bodyBytesRead(): number {
    return this.#bodyBytesRead
  }

  /** The client's address. */
  get clientAddr(): SocketAddress | undefined {
    return this.stream.digest.peerAddr
  }

  /** The local address. */
  get serverAddr(): SocketAddress | undefined {
    return this.stream.digest.localAddr
  }

  /** Connection facts. */
  get digest(): Digest {
    return this.stream.digest
  }

  /** `METHOD target, Host: host` for logs. */
  requestSummary(): string {
    const request = this.#request
    if (request === undefined) return ''
    return `${request.method} ${request.uri}, Host: ${request.getHeader('host') ?? ''}`
  }

  /** The latest response header written (a 1xx or the final one). */
  get responseWritten(): ResponseHeader | undefined {
    return this.#responseWritten
  }

  /** Closes the connection now (after flushing what was written). */
  shutdown(): void {
    this.#keepaliveMs = undefined
    this.stream.close()
  }

  /** Always `false`. */
  isHttp2(): boolean {
    return false
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
   * Reads the request body; once it is done (or `noBodyExpected`), waits until the client
   * goes away and rejects with `ConnectionClosed`. Resolves `undefined` if the session is
   * finished meanwhile.
   * @param noBodyExpected - treat the body as done
   */
  async readBodyOrIdle(noBodyExpected: boolean): Promise<Buffer | undefined> {
    if (!noBodyExpected && !this.#reader.done) return this.readRequestBody()
    await this.stream.waitForEnd()
    if (this.#finished) return undefined
    this.#keepaliveMs = undefined
    if (!this.#abortOnClose) {
      // RFC 9112 §9.6: a half-closed client may still read the response; wait for the write
      // side to fail instead.
      return new Promise<undefined>(() => {})
    }
    throw downstreamError(
      'ConnectionClosed',
      this.#finalWritten
        ? 'client closed before the response body was complete'
        : 'client closed before the response header was sent',
    )
  }

  /** The write timeout for a write of `length` bytes: from the minimum send rate when set. */
  #writeTimeoutFor(length: number): number {
    const rate = this.#minSendRate
    if (rate === 0) return this.#writeTimeoutMs
    return Math.max(1000, Math.ceil((Math.max(length, rate) / rate) * 1000))
  }

  /**
   * Sets whether 1xx responses other than 101 (and a 100 answering `Expect: 100-continue`)
   * are dropped instead of written.
   * @param ignore - the choice @defaultValue `false`
   */
  setIgnoreInfoResp(ignore: boolean): void {
    this.#ignoreInfoResponses = ignore
  }

  /**
   * Sets whether {@link Http1ServerSession.readBodyOrIdle} rejects when the client closes its
   * sending side (`true`), or stays pending so the response can still be delivered (`false`).
   * @param abort - the choice @defaultValue `true`
   */
  setAbortOnClose(abort: boolean): void {
    this.#abortOnClose = abort
  }

  /**
   * Sets a minimum send rate: a body write waiting for the socket to drain times out after the
   * time this rate allows for it (at least 1 s), overriding the write timeout. `0` or
   * `undefined` turns it off.
   * @param bytesPerSecond - the rate
   */
  setMinSendRate(bytesPerSecond: number | undefined): void {
    if (bytesPerSecond !== undefined && !(bytesPerSecond >= 0)) {
      throw new RangeError(`minSendRate must be a non-negative number, got ${bytesPerSecond}`)
    }
    this.#minSendRate = bytesPerSecond ?? 0
  }
}

function hasComma(value: string): boolean {
  return value.indexOf(',') !== -1
}

function countChunked(value: string): number {
  let count = 0
  for (const part of value.split(',')) if (part.trim().toLowerCase() === 'chunked') count++
  return count
}

// RFC 3986 reg-name / IP-literal / IPv4 with an optional port: unreserved, sub-delims,
// pct-encoded, ':' and brackets.
const HOST_CHARS = new Uint8Array(256)
for (const c of "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=%:[]") {
  HOST_CHARS[c.charCodeAt(0)] = 1
}

/** Whether a Host value (or authority) holds only characters allowed in `uri-host [":" port]`. */
function isValidHost(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    if (HOST_CHARS[value.charCodeAt(i)] !== 1) return false
  }
  return true
}

/** 0 when the request target has a form allowed for the method (RFC 9112 §3.2), else 400. */
function checkTargetForm(method: string, target: Buffer): number {
  const first = target[0]
  if (first === 0x2f) return 0
  if (method === 'CONNECT') return 0
  if (first === 0x2a) return target.length === 1 && method === 'OPTIONS' ? 0 : 400
  return absoluteFormAuthority(target) === undefined ? 400 : 0
}

/** The authority of an absolute-form target (`scheme://authority/...`), else `undefined`. */
function absoluteFormAuthority(target: Buffer): string | undefined {
  const first = target[0]
  if (first === undefined || first === 0x2f || first === 0x2a) return undefined
  if (!((first >= 0x41 && first <= 0x5a) || (first >= 0x61 && first <= 0x7a))) return undefined
  let i = 1
  for (; i < target.length; i++) {
    const c = target[i] as number
    const ok =
      (c >= 0x41 && c <= 0x5a) ||
      (c >= 0x61 && c <= 0x7a) ||
      (c >= 0x30 && c <= 0x39) ||
      c === 0x2b ||
      c === 0x2d ||
      c === 0x2e
    if (!ok) break
  }
  if (target[i] !== 0x3a || target[i + 1] !== 0x2f || target[i + 2] !== 0x2f) return undefined
  const start = i + 3
  let end = start
  while (end < target.length) {
    const c = target[end]
    // A '#' is not a delimiter here: a request target has no fragment, so it stays in the
    // authority and makes it invalid.
    if (c === 0x2f || c === 0x3f) break
    end++
  }
  let authority = target.toString('latin1', start, end)
  // Drop userinfo: it is not part of Host (RFC 9110 §4.2.4 deprecates it).
  const at = authority.lastIndexOf('@')
  if (at !== -1) authority = authority.slice(at + 1)
  return authority
}
