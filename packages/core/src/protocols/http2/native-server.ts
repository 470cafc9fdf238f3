import { type ErrorType, PingoraError } from '@pingora-ts/error'
import { type HeaderMap, RequestHeader, type ResponseHeader } from '@pingora-ts/http'
import type { Digest, SocketAddress } from '../digest.ts'
import { RetryBuffer, WRITE_SETTLED } from '../http/common.ts'
import { getCachedDate } from '../http/date.ts'
import { generateErrorResponse } from '../http/error-resp.ts'
import type { ReusedHttpStream } from '../http/reused-http-stream.ts'
import type { ServerSession } from '../http/server-session.ts'
import {
  FRAME_HEADER_LENGTH,
  FrameFlag,
  FrameType,
  H2ErrorCode,
  writeFrameHeader,
} from './frames.ts'
import type { NativeH2Connection } from './native-connection.ts'

const RESOLVED_UNDEFINED: Promise<undefined> = Promise.resolve(undefined)
const RESOLVED_TRUE: Promise<boolean> = Promise.resolve(true)
/** `closeCode` of a stream closed cleanly (both sides ended). */
const CLEAN = -1
/** `closeCode` of a stream still open. */
const OPEN = -2
/** Received DATA pieces smaller than this are copied out of the read buffer. */
const COPY_BELOW = 8192

function downstreamError(type: ErrorType, context: string, cause?: unknown): PingoraError {
  return new PingoraError(type, { source: 'downstream', context, cause })
}

/** Lower-case token characters (RFC 9110 §5.6.2): the names HTTP/2 and HTTP/1 both allow. */
const NAME_CHARS: Uint8Array = (() => {
  const table = new Uint8Array(128)
  const chars = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz"
  for (let i = 0; i < chars.length; i++) table[chars.charCodeAt(i)] = 1
  return table
})()

/**
 * The characters an authority may hold (RFC 3986 §3.2: unreserved, sub-delims, `:`, `@`, `[`,
 * `]`, `%`), as nghttp2 checks `:authority` and `host`: no space, `/`, `?` or `#` that would
 * make the Host an HTTP/1 origin sees differ from what the proxy routed on.
 */
const AUTHORITY_CHARS: Uint8Array = (() => {
  const table = new Uint8Array(128)
  const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@[]%"
  for (let i = 0; i < chars.length; i++) table[chars.charCodeAt(i)] = 1
  return table
})()

function isValidAuthority(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i)
    if (c >= 128 || AUTHORITY_CHARS[c] !== 1) return false
  }
  return true
}

/** Fields HTTP/2 forbids in requests (RFC 9113 §8.2.2); `te` is checked apart. */
function isConnectionSpecific(name: string): boolean {
  switch (name) {
    case 'connection':
    case 'keep-alive':
    case 'proxy-connection':
    case 'transfer-encoding':
    case 'upgrade':
      return true
    default:
      return false
  }
}

function isValidName(name: string): boolean {
  if (name.length === 0) return false
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i)
    if (c >= 128 || NAME_CHARS[c] !== 1) return false
  }
  return true
}

/** No NUL, CR or LF anywhere, no leading or trailing space or tab (RFC 9113 §8.2.1). */
function isValidValue(value: string): boolean {
  const length = value.length
  if (length === 0) return true
  const first = value.charCodeAt(0)
  const last = value.charCodeAt(length - 1)
  if (first === 0x20 || first === 0x09 || last === 0x20 || last === 0x09) return false
  for (let i = 0; i < length; i++) {
    const c = value.charCodeAt(i)
    if (c === 0 || c === 0x0a || c === 0x0d) return false
  }
  return true
}

/**
 * Checks a decoded request header block against RFC 9113 §8.2 and §8.3 so that it can go on to
 * an HTTP/1 origin safely: lower-case token names, no CR, LF or NUL in values, no
 * connection-specific fields, `te` only `trailers`, pseudo-headers known, once each, before
 * the regular fields and complete for the method, `:path` in origin form (or `*` for OPTIONS),
 * `:authority` and `host` of authority characters, and `content-length` digits (agreeing when
 * repeated). Returns why the request is malformed, or `undefined`.
 * @param fields - flat `[name, value, ...]` as decoded
 * @internal
 */
export function validateRequestFields(fields: readonly string[]): string | undefined {
  let method: string | undefined
  let scheme: string | undefined
  let path: string | undefined
  let authority: string | undefined
  let contentLength: string | undefined
  let regular = false
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i] as string
    const value = fields[i + 1] as string
    if (!isValidValue(value)) return `invalid value of ${name}`
    if (name.charCodeAt(0) === 0x3a) {
      if (regular) return 'pseudo-header after a regular field'
      switch (name) {
        case ':method':
          if (method !== undefined) return 'duplicate :method'
          method = value
          break
        case ':scheme':
          if (scheme !== undefined) return 'duplicate :scheme'
          scheme = value
          break
        case ':path':
          if (path !== undefined) return 'duplicate :path'
          path = value
          break
        case ':authority':
          if (authority !== undefined) return 'duplicate :authority'
          if (!isValidAuthority(value)) return 'invalid :authority'
          authority = value
          break
        default:
          return `unknown pseudo-header ${name}`
      }
      continue
    }
    regular = true
    if (!isValidName(name)) return 'invalid field name'
    if (isConnectionSpecific(name)) return `connection-specific field ${name}`
    if (name === 'te' && value.toLowerCase() !== 'trailers') return 'te other than trailers'
    if (name === 'host' && !isValidAuthority(value)) return 'invalid host'
    if (name === 'content-length') {
      if (!/^[0-9]{1,15}$/.test(value)) return 'invalid content-length'
      if (contentLength !== undefined && contentLength !== value) return 'content-length disagree'
      contentLength = value
    }
  }
  if (method === undefined || method.length === 0) return 'missing :method'
  if (method === 'CONNECT') {
    if (scheme !== undefined || path !== undefined) return 'CONNECT with :scheme or :path'
    if (authority === undefined) return 'CONNECT without :authority'
    return undefined
  }
  if (scheme === undefined) return 'missing :scheme'
  if (path === undefined || path.length === 0) return 'missing :path'
  // Origin-form, or `*` for OPTIONS (RFC 9113 §8.3.1): an absolute-form target would reach an
  // HTTP/1 origin, which routes by its host rather than by Host (RFC 9112 §3.2.2).
  if (path.charCodeAt(0) !== 0x2f && !(path === '*' && method === 'OPTIONS')) {
    return 'a :path not in origin form'
  }
  return undefined
}

/**
 * The response fields as HTTP/2 sends them: `:status` first, names lower-cased,
 * connection-specific fields and those `Connection` nominates dropped, `Date` added.
 */
function responseFields(response: ResponseHeader, status: number, addDate: boolean): string[] {
  const headers = response.headers
  const out: string[] = [':status', String(status)]
  let nominated: string[] | undefined
  let hasDate = false
  for (let i = 0; i < headers.size; i++) {
    if (headers.nameEquals(i, 'connection')) {
      for (const option of headers.valueAt(i).split(',')) {
        const trimmed = option.trim().toLowerCase()
        if (trimmed === '') continue
        if (nominated === undefined) nominated = []
        nominated.push(trimmed)
      }
    }
  }
  for (let i = 0; i < headers.size; i++) {
    const name = headers.lowerNameAt(i)
    if (isConnectionSpecific(name)) continue
    const value = headers.valueAt(i)
    if (name === 'te' && value.trim().toLowerCase() !== 'trailers') continue
    if (nominated?.includes(name)) continue
    if (name === 'date') hasDate = true
    out.push(name, value)
  }
  if (addDate && !hasDate) out.push('date', getCachedDate())
  return out
}

/**
 * One request stream of a {@link NativeH2Connection} behind the protocol-neutral
 * {@link ServerSession} interface, with the behaviour of `Http2ServerSession` (the
 * `node:http2` engine): request validated for a safe HTTP/1 downgrade, body read with flow
 * control (reading opens the window again), response header/body/trailers, 100-continue,
 * `Date` added, hop-by-hop fields removed. No Duplex and no listener per stream: the
 * connection calls the session's methods directly.
 * @internal
 */
export class NativeH2ServerSession implements ServerSession {
  /** Always `'h2'`. */
  readonly protocol: 'h2'
  /** The session itself: the request header is complete when the stream opens. */
  readonly fastPaths: this
  /** The connection the stream arrived on (shared by the connection's streams). */
  readonly connection: ReusedHttpStream
  /** The stream id. */
  readonly id: number
  /** The stream's send window. */
  sendWindow: number
  /** The stream's receive window (what the client may still send). */
  recvWindow: number
  /** Whether the client ended its side (END_STREAM received). */
  remoteEnded: boolean
  readonly #conn: NativeH2Connection
  readonly #fields: string[]
  readonly #declaredLength: number
  #request: RequestHeader | undefined
  #responseWritten: ResponseHeader | undefined
  #finalWritten: boolean
  /** The response is complete from the app's side (END_STREAM queued or pending). */
  #ended: boolean
  /** END_STREAM was queued. */
  #localEnded: boolean
  #resetAfterEnd: boolean
  #closeCode: number
  #chunks: Buffer[]
  #chunksLength: number
  #received: number
  #recvUnacked: number
  #bodyDone: boolean
  #bodyBytesRead: number
  #bodyBytesSent: number
  #trailers: string[] | undefined
  #pendingData: Uint8Array | undefined
  #pendingOffset: number
  #pendingEndStream: boolean
  #pendingEnd: boolean
  #readResolve: ((chunk: Buffer | undefined) => void) | undefined
  #readReject: ((error: Error) => void) | undefined
  #readTimer: NodeJS.Timeout | undefined
  #writeResolve: (() => void) | undefined
  #writeReject: ((error: Error) => void) | undefined
  #writeTimer: NodeJS.Timeout | undefined
  #retryBuffer: RetryBuffer | undefined
  #readTimeoutMs: number | undefined
  #writeTimeoutMs: number | undefined
  #closeWaiters: Array<() => void> | undefined

  /**
   * @param conn - the connection
   * @param id - the stream id
   * @param fields - the validated request fields, flat
   * @param remoteEnded - whether HEADERS carried END_STREAM
   */
  constructor(conn: NativeH2Connection, id: number, fields: string[], remoteEnded: boolean) {
    this.protocol = 'h2'
    this.fastPaths = this
    this.connection = conn.connection
    this.id = id
    this.sendWindow = conn.peerInitialWindow
    this.recvWindow = Math.max(conn.streamWindow, 65_535)
    this.remoteEnded = remoteEnded
    this.#conn = conn
    this.#fields = fields
    let declared = -1
    for (let i = 0; i < fields.length; i += 2) {
      if (fields[i] === 'content-length') declared = Number(fields[i + 1])
    }
    this.#declaredLength = declared
    this.#request = undefined
    this.#responseWritten = undefined
    this.#finalWritten = false
    this.#ended = false
    this.#localEnded = false
    this.#resetAfterEnd = false
    this.#closeCode = OPEN
    this.#chunks = []
    this.#chunksLength = 0
    this.#received = 0
    this.#recvUnacked = 0
    this.#bodyDone = remoteEnded
    this.#bodyBytesRead = 0
    this.#bodyBytesSent = 0
    this.#trailers = undefined
    this.#pendingData = undefined
    this.#pendingOffset = 0
    this.#pendingEndStream = false
    this.#pendingEnd = false
    this.#readResolve = undefined
    this.#readReject = undefined
    this.#readTimer = undefined
    this.#writeResolve = undefined
    this.#writeReject = undefined
    this.#writeTimer = undefined
    this.#retryBuffer = undefined
    this.#readTimeoutMs = undefined
    this.#writeTimeoutMs = conn.settings.writeTimeoutMs
    this.#closeWaiters = undefined
  }

  /** The request's `content-length`, or -1 without one. @internal */
  get declaredLength(): number {
    return this.#declaredLength
  }

  // ---- called by the connection --------------------------------------------------------------

  /**
   * A DATA payload (or the end of the stream) for this stream.
   * @internal
   */
  receiveData(
    payload: Buffer,
    start: number,
    end: number,
    endStream: boolean,
    padding: number,
  ): void {
    const length = end - start
    this.#received += length
    const declared = this.#declaredLength
    if (
      declared >= 0 &&
      (this.#received > declared || (endStream && this.#received !== declared))
    ) {
      // RFC 9113 §8.1.1: content-length disagreeing with the DATA is malformed. The refused
      // bytes give their connection window back (the stream's goes with the stream).
      this.#conn.consumed(length)
      this.#conn.resetStream(this.id, H2ErrorCode.PROTOCOL_ERROR)
      return
    }
    if (padding > 0) this.#creditStream(padding)
    if (length > 0) {
      // A small piece is copied: a view would pin the whole read buffer it came in while the
      // app does not read (a client sending one tiny DATA frame per read).
      this.#chunks.push(
        length < COPY_BELOW
          ? Buffer.from(payload.subarray(start, end))
          : payload.subarray(start, end),
      )
      this.#chunksLength += length
    }
    if (endStream) this.remoteEnded = true
    const resolve = this.#readResolve
    if (resolve !== undefined) {
      const chunk = this.#take()
      if (chunk !== undefined || this.remoteEnded) {
        this.#clearRead()
        if (chunk === undefined) this.#bodyDone = true
        resolve(chunk)
      }
    }
    if (endStream && this.#localEnded) this.#conn.closeStream(this, CLEAN, false)
  }

  /**
   * The stream is gone: both sides ended (`code` {@link CLEAN}) or reset. Returns the bytes
   * received and not read (the connection gives their window back).
   * @internal
   */
  onClosed(code: number, _byPeer: boolean): number {
    if (this.#closeCode !== OPEN) return 0
    this.#closeCode = code
    const unread = this.#chunksLength
    if (code !== CLEAN) {
      this.#chunks.length = 0
      this.#chunksLength = 0
    }
    const reject = this.#readReject
    if (reject !== undefined) {
      const resolve = this.#readResolve as (chunk: Buffer | undefined) => void
      this.#clearRead()
      if (code === CLEAN) {
        this.#bodyDone = true
        resolve(undefined)
      } else {
        reject(downstreamError('ConnectionClosed', 'client reset the stream before the body ended'))
      }
    }
    this.#pendingData = undefined
    const writeReject = this.#writeReject
    if (writeReject !== undefined && !(code === CLEAN && this.#localEnded)) {
      this.#clearWrite()
      writeReject(downstreamError('WriteError', 'the client reset the stream during the response'))
    } else if (this.#writeResolve !== undefined) {
      const writeResolve = this.#writeResolve
      this.#clearWrite()
      writeResolve()
    }
    const waiters = this.#closeWaiters
    this.#closeWaiters = undefined
    if (waiters !== undefined) for (let i = 0; i < waiters.length; i++) (waiters[i] as () => void)()
    return unread
  }

  /** Whether a body write waits for send window. @internal */
  hasPendingData(): boolean {
    return this.#pendingData !== undefined
  }

  /** Sends what the windows now allow of the waiting write; `true` when it is all out. @internal */
  sendPending(): boolean {
    const data = this.#pendingData
    if (data === undefined) return true
    const offset = this.#conn.sendData(this, data, this.#pendingOffset, this.#pendingEndStream)
    if (offset < data.length) {
      this.#pendingOffset = offset
      return false
    }
    this.#pendingData = undefined
    if (this.#pendingEnd) this.#endLocal(this.#pendingEndStream)
    if (this.#conn.socketBlocked) this.#conn.waitDrain(this)
    else this.onDrain()
    return true
  }

  /** The socket drained (or the connection closed): a waiting write resolves. @internal */
  onDrain(): void {
    if (this.#pendingData !== undefined) return
    const resolve = this.#writeResolve
    if (resolve === undefined) return
    this.#clearWrite()
    resolve()
  }

  // ---- request ---------------------------------------------------------------------------------

  /**
   * Turns the received header block into a {@link RequestHeader}. Resolves `true`; a request
   * HTTP/1 could not carry safely is answered with 400 and rejected with `InvalidHTTPHeader`.
   */
  readRequest(): Promise<boolean> {
    const result = this.readRequestNow()
    return result === true ? RESOLVED_TRUE : (result as Promise<boolean>)
  }

  /** Like {@link NativeH2ServerSession.readRequest}, without a promise when the request is valid. */
  readRequestNow(): boolean | Promise<boolean> {
    if (this.#request !== undefined) return true
    const fields = this.#fields
    let method: string | undefined
    let path: string | undefined
    let scheme: string | undefined
    let authority: string | undefined
    let host: string | undefined
    for (let i = 0; i < fields.length; i += 2) {
      const name = fields[i] as string
      if (name.charCodeAt(0) !== 0x3a) {
        if (name === 'host') host = fields[i + 1] as string
        continue
      }
      const value = fields[i + 1] as string
      if (name === ':method') method = value
      else if (name === ':path') path = value
      else if (name === ':scheme') scheme = value
      else authority = value
    }
    let request: RequestHeader
    try {
      request = RequestHeader.fromH2Headers(
        { ':method': method, ':path': path, ':scheme': scheme, ':authority': authority },
        fields,
      )
    } catch (error) {
      return this.#reject(400, error)
    }
    // RFC 9113 §8.3.1: `:authority` and `host` must not disagree.
    if (
      authority !== undefined &&
      host !== undefined &&
      host.toLowerCase() !== authority.toLowerCase()
    ) {
      return this.#reject(400, ':authority and host disagree')
    }
    this.#request = request
    return true
  }

  #reject(status: number, cause: unknown): Promise<boolean> {
    const context =
      typeof cause === 'string' ? cause : PingoraError.is(cause) ? cause.context : String(cause)
    if (!this.#finalWritten && this.#closeCode === OPEN) {
      this.#finalWritten = true
      this.#ended = true
      this.#sendHeaders(
        [':status', String(status), 'content-length', '0', 'date', getCachedDate()],
        true,
      )
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
   * The request header read by {@link NativeH2ServerSession.readRequest}.
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
   * opens the flow-control window again, so an unread body holds the client back.
   * @throws PingoraError `ConnectionClosed` when the client reset the stream, `ReadTimedout`
   */
  readRequestBody(): Promise<Buffer | undefined> {
    if (this.#bodyDone) return RESOLVED_UNDEFINED
    const chunk = this.#take()
    if (chunk !== undefined) return Promise.resolve(chunk)
    if (this.remoteEnded || this.#closeCode === CLEAN) {
      this.#bodyDone = true
      return RESOLVED_UNDEFINED
    }
    if (this.#closeCode !== OPEN) {
      return Promise.reject(
        downstreamError('ConnectionClosed', 'client reset the stream before the body ended'),
      )
    }
    if (this.#readResolve !== undefined) {
      return Promise.reject(
        new PingoraError('InternalError', { source: 'internal', context: 'concurrent body reads' }),
      )
    }
    return new Promise<Buffer | undefined>((resolve, reject) => {
      this.#readResolve = resolve
      this.#readReject = reject
      const timeoutMs = this.#readTimeoutMs
      if (timeoutMs !== undefined && timeoutMs > 0) {
        this.#readTimer = setTimeout(() => {
          this.#clearRead()
          reject(downstreamError('ReadTimedout', 'reading the request body'))
        }, timeoutMs)
      }
    })
  }

  #clearRead(): void {
    this.#readResolve = undefined
    this.#readReject = undefined
    if (this.#readTimer !== undefined) clearTimeout(this.#readTimer)
    this.#readTimer = undefined
  }

  #take(): Buffer | undefined {
    if (this.#chunks.length === 0) return undefined
    const chunk = this.#chunks.shift() as Buffer
    const length = chunk.length
    this.#chunksLength -= length
    this.#bodyBytesRead += length
    if (this.#closeCode === OPEN) {
      this.#conn.consumed(length)
      this.#creditStream(length)
    }
    if (this.#retryBuffer !== undefined) this.#retryBuffer.push(chunk)
    return chunk
  }

  #creditStream(length: number): void {
    if (this.remoteEnded) return
    this.#recvUnacked += length
    if (this.#recvUnacked >= this.#conn.streamWindow >>> 1) {
      this.#conn.sendWindowUpdate(this.id, this.#recvUnacked)
      this.recvWindow += this.#recvUnacked
      this.#recvUnacked = 0
    }
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

  // ---- response ----------------------------------------------------------------------------

  #sendHeaders(fields: string[], endStream: boolean): void {
    if (this.#conn.closed) return
    this.#conn.queue(this.#conn.encodeHeaders(this.id, fields, endStream, 0))
    if (endStream) this.#endLocal(true)
  }

  /** END_STREAM is out (or trailers must follow first). */
  #endLocal(endStreamSent: boolean): void {
    if (!endStreamSent) {
      const trailers = this.#trailers ?? []
      this.#conn.queue(this.#conn.encodeHeaders(this.id, trailers, true, 0))
    }
    this.#localEnded = true
    if (this.#closeCode !== OPEN) return
    if (this.remoteEnded) this.#conn.closeStream(this, CLEAN, false)
    else if (this.#resetAfterEnd) this.#conn.abortStream(this.id, H2ErrorCode.NO_ERROR)
  }

  /**
   * Writes a response header. A 1xx (other than 101) goes out as an informational HEADERS
   * frame; the final header loses its connection-specific fields and gets `Date` when absent.
   * @param response - the header
   * @param endOfStream - `true` when no body follows
   */
  writeResponseHeader(response: ResponseHeader, endOfStream = false): Promise<void> {
    try {
      this.#writeHead(response, endOfStream)
      return WRITE_SETTLED
    } catch (error) {
      return Promise.reject(error)
    }
  }

  /** Writes the header; returns `true` when the response is complete (bodiless). */
  #writeHead(response: ResponseHeader, endOfStream: boolean): boolean {
    const status = response.status
    if (this.#finalWritten) {
      throw new PingoraError('H2Error', {
        source: 'internal',
        context: 'a final response header was already written',
      })
    }
    if (this.#closeCode !== OPEN) throw downstreamError('WriteError', 'the stream is closed')
    if (status >= 100 && status < 200) {
      if (status === 101) return false
      this.#responseWritten = response
      this.#sendHeaders(responseFields(response, status, false), false)
      return false
    }
    const method = this.#request?.method
    const bodiless = endOfStream || method === 'HEAD' || status === 204 || status === 304
    this.#finalWritten = true
    this.#responseWritten = response
    if (bodiless) this.#ended = true
    this.#sendHeaders(responseFields(response, status, true), bodiless)
    return bodiless
  }

  /**
   * Writes a piece of the response body as DATA frames; waits when the flow-control window is
   * exhausted or the socket is full.
   * @param data - the bytes, or `undefined` for none
   * @param endOfStream - `true` on the last piece
   */
  writeResponseBody(data: Uint8Array | undefined, endOfStream: boolean): Promise<void> {
    if (this.#ended) return WRITE_SETTLED
    if (this.#closeCode !== OPEN) {
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
    if (this.#pendingData !== undefined) {
      return Promise.reject(
        new PingoraError('H2Error', {
          source: 'internal',
          context: 'a body write while the previous one waits',
        }),
      )
    }
    return this.#writeBody(data, endOfStream)
  }

  #writeBody(data: Uint8Array | undefined, endOfStream: boolean): Promise<void> {
    const conn = this.#conn
    const length = data === undefined ? 0 : data.length
    const endStream = endOfStream && this.#trailers === undefined
    if (endOfStream) this.#ended = true
    if (length === 0) {
      if (endOfStream) {
        if (endStream) {
          const frame = Buffer.allocUnsafe(FRAME_HEADER_LENGTH)
          writeFrameHeader(frame, 0, 0, FrameType.DATA, FrameFlag.END_STREAM, this.id)
          conn.queue(frame)
        }
        this.#endLocal(endStream)
      }
    } else {
      this.#bodyBytesSent += length
      const offset = conn.sendData(this, data as Uint8Array, 0, endStream)
      if (offset < length) {
        this.#pendingData = data
        this.#pendingOffset = offset
        this.#pendingEndStream = endStream
        this.#pendingEnd = endOfStream
        conn.block(this)
        return this.#waitWrite()
      }
      if (endOfStream) this.#endLocal(endStream)
    }
    if (conn.socketBlocked) {
      conn.waitDrain(this)
      return this.#waitWrite()
    }
    return WRITE_SETTLED
  }

  #waitWrite(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#writeResolve = resolve
      this.#writeReject = reject
      const timeoutMs = this.#writeTimeoutMs
      if (timeoutMs !== undefined && timeoutMs > 0) {
        this.#writeTimer = setTimeout(() => {
          this.#clearWrite()
          this.#pendingData = undefined
          reject(downstreamError('WriteTimedout', 'writing the response body'))
          // A client that never opens its window cannot pin the stream.
          this.#conn.abortStream(this.id, H2ErrorCode.CANCEL)
        }, timeoutMs)
      }
    })
  }

  #clearWrite(): void {
    this.#writeResolve = undefined
    this.#writeReject = undefined
    if (this.#writeTimer !== undefined) clearTimeout(this.#writeTimer)
    this.#writeTimer = undefined
  }

  /**
   * Writes a final header and its whole body: one HEADERS and one DATA frame in one buffer
   * when the body fits the windows and a frame.
   * @param response - the header
   * @param body - the body; empty or `undefined` writes a bodiless response
   */
  writeResponse(response: ResponseHeader, body: Uint8Array | undefined): Promise<void> {
    if (body === undefined || body.length === 0) return this.writeResponseHeader(response, true)
    const conn = this.#conn
    const length = body.length
    const method = this.#request?.method
    const status = response.status
    if (
      this.#trailers !== undefined ||
      this.#finalWritten ||
      this.#closeCode !== OPEN ||
      status < 200 ||
      method === 'HEAD' ||
      status === 204 ||
      status === 304 ||
      length > conn.sendWindow ||
      length > this.sendWindow ||
      length > conn.peerMaxFrameSize ||
      conn.closed
    ) {
      let bodiless: boolean
      try {
        bodiless = this.#writeHead(response, false)
      } catch (error) {
        return Promise.reject(error)
      }
      if (bodiless || status < 200) return WRITE_SETTLED
      return this.#writeBody(body, true)
    }
    this.#finalWritten = true
    this.#responseWritten = response
    this.#ended = true
    this.#bodyBytesSent += length
    const frame = conn.encodeHeaders(
      this.id,
      responseFields(response, status, true),
      false,
      FRAME_HEADER_LENGTH + length,
    )
    const at = frame.length - FRAME_HEADER_LENGTH - length
    writeFrameHeader(frame, at, length, FrameType.DATA, FrameFlag.END_STREAM, this.id)
    frame.set(body, at + FRAME_HEADER_LENGTH)
    conn.sendWindow -= length
    this.sendWindow -= length
    conn.queue(frame)
    this.#endLocal(true)
    if (conn.socketBlocked) {
      conn.waitDrain(this)
      return this.#waitWrite()
    }
    return WRITE_SETTLED
  }

  /**
   * Sets trailers to send after the body (a HEADERS frame with END_STREAM). Call it before
   * the last {@link NativeH2ServerSession.writeResponseBody}. Connection-specific fields and
   * pseudo-headers are dropped.
   * @param trailers - the trailer fields, or `undefined` for none
   */
  writeResponseTrailers(trailers?: HeaderMap): Promise<void> {
    if (trailers === undefined || trailers.size === 0) return WRITE_SETTLED
    const out: string[] = []
    for (let i = 0; i < trailers.size; i++) {
      const name = trailers.lowerNameAt(i)
      if (name.charCodeAt(0) === 0x3a || isConnectionSpecific(name) || name === 'te') continue
      if (name === 'host') continue
      out.push(name, trailers.valueAt(i))
    }
    this.#trailers = out
    return WRITE_SETTLED
  }

  /** Finishes the response body. */
  finishBody(): Promise<void> {
    return this.writeResponseBody(undefined, true)
  }

  /**
   * Finishes the exchange. A response that was not completed resets the stream
   * (RST_STREAM INTERNAL_ERROR) so the client never takes it for a whole one; a request body
   * not read is refused with RST_STREAM NO_ERROR once the response is out (RFC 9113 §8.1).
   * Always resolves `undefined`.
   */
  finish(): Promise<undefined> {
    this.#finishStream()
    return RESOLVED_UNDEFINED
  }

  /** Like {@link NativeH2ServerSession.finish}, without a promise. */
  finishNow(): undefined {
    this.#finishStream()
    return undefined
  }

  /**
   * Does nothing: a written piece may still wait in the connection's output queue.
   * @param _data - the bytes written
   */
  releaseWrittenBody(_data: Uint8Array): void {}

  #finishStream(): void {
    if (this.#closeCode !== OPEN) return
    if (!this.#ended) {
      this.#conn.abortStream(this.id, H2ErrorCode.INTERNAL_ERROR)
      return
    }
    if (this.remoteEnded) return
    if (this.#localEnded) this.#conn.abortStream(this.id, H2ErrorCode.NO_ERROR)
    else this.#resetAfterEnd = true
  }

  /** Sends `100 Continue` unless a response was already written. */
  writeContinueResponse(): Promise<void> {
    if (this.#responseWritten !== undefined || this.#closeCode !== OPEN) return WRITE_SETTLED
    this.#sendHeaders([':status', '100'], false)
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

  /** No effect on HTTP/2. */
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

  /** No effect on HTTP/2. */
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
   * Resets this stream (RST_STREAM); the connection's other streams go on. A response not
   * complete is never ended cleanly.
   */
  shutdown(): void {
    if (this.#closeCode !== OPEN) return
    this.#conn.abortStream(
      this.id,
      this.#localEnded ? H2ErrorCode.CANCEL : H2ErrorCode.INTERNAL_ERROR,
    )
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
   * Reads the request body; once it is done, waits until the stream closes: resolves
   * `undefined` after a complete response, rejects with `ConnectionClosed` on a reset.
   * @param noBodyExpected - treat the body as done
   */
  async readBodyOrIdle(noBodyExpected: boolean): Promise<Buffer | undefined> {
    if (!noBodyExpected && !this.#bodyDone) return this.readRequestBody()
    if (this.#closeCode === OPEN) {
      await new Promise<void>((resolve) => {
        if (this.#closeWaiters === undefined) this.#closeWaiters = []
        this.#closeWaiters.push(resolve)
      })
    }
    if (this.#ended && (this.#closeCode === CLEAN || this.#closeCode === H2ErrorCode.NO_ERROR)) {
      return undefined
    }
    throw downstreamError('ConnectionClosed', 'client reset the stream')
  }
}
