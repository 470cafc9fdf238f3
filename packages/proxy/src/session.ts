import { HttpCache } from '@pingora-ts/cache'
import type { Digest, HttpModuleCtx, ServerSession, SocketAddress } from '@pingora-ts/core'
import { generateErrorResponse } from '@pingora-ts/core'
import { ErrorType, PingoraError } from '@pingora-ts/error'
import type { RequestHeader, ResponseHeader } from '@pingora-ts/http'

const EMPTY = Buffer.alloc(0)

/**
 * How many request body bytes the proxy keeps by default for a body that phases read before
 * the upstream request (nginx's `client_max_body_size` default, 1 MiB). Past it,
 * {@link Session.bufferRequestBody} answers 413; set another bound per service with
 * `HttpProxyOptions.requestBodyBufferLimit` or per call with `maxBytes`.
 */
export const DEFAULT_REQUEST_BODY_BUFFER_LIMIT = 1024 * 1024

/** Options of {@link Session.bufferRequestBody}. */
export interface BufferRequestBodyOptions {
  /**
   * The most bytes to keep; a longer body is refused with 413.
   * @defaultValue the service's `requestBodyBufferLimit` (1 MiB unless set)
   */
  maxBytes?: number
}

/**
 * The request body pieces read by phases before the upstream request started, kept so the
 * engine sends them upstream first (and again on a retry). One per request, created on the
 * first read by a phase: a proxy whose phases never read the body allocates none.
 * @internal
 */
export class KeptRequestBody {
  /** The pieces, in order (one piece once {@link Session.bufferRequestBody} joined them). */
  chunks: Buffer[]
  /** Their total length. */
  bytes: number
  /** Whether the pieces are the whole body (the client's body was read to its end). */
  complete: boolean
  /** Whether the body outgrew the bound and the pieces were dropped: it cannot be forwarded. */
  overflowed: boolean
  /**
   * How many of the kept bytes were read after the session's retry buffer started (the retry
   * buffer holds them too: a replay skips them there).
   */
  inRetryBuffer: number

  constructor() {
    this.chunks = []
    this.bytes = 0
    this.complete = false
    this.overflowed = false
    this.inRetryBuffer = 0
  }
}

/**
 * The error of a request body longer than the proxy keeps: `HTTPStatus(413)`, source
 * `downstream` (the default `failToProxy` answers 413 and closes the connection).
 * @param limit - the bound passed
 */
function bodyTooLarge(limit: number): PingoraError {
  return PingoraError.downstream(
    ErrorType.HTTPStatus(413),
    `request body larger than the ${limit} bytes the proxy buffers`,
  )
}

/**
 * How the cache answered a request (see {@link Session.cacheStatus}), after nginx's
 * `$upstream_cache_status`.
 */
export type CacheStatus =
  | 'hit'
  | 'miss'
  | 'expired'
  | 'revalidated'
  | 'stale'
  | 'updating'
  | 'bypass'
  | 'purge'

/**
 * The proxy's view of one downstream request: the client's session plus proxy state. Every
 * phase of {@link ProxyHttp} receives it. Port of `pingora-proxy`'s `Session`.
 *
 * Writing a response through this object (`respondError`, `writeResponseHeader`,
 * `writeResponseBody`) runs the downstream modules, so locally generated responses get the
 * same treatment as proxied ones.
 */
export class Session {
  /** The downstream (client-facing) protocol session. */
  readonly downstreamSession: ServerSession
  /** This request's downstream module instances. */
  readonly downstreamModulesCtx: HttpModuleCtx
  /** Whether the downstream connection served a request before this one. */
  readonly clientReused: boolean
  // Engine-owned counters: read-only to phases (getters below), written only by the engine
  // through the @internal methods. All set in the constructor, so the shape never changes.
  #retries: number
  #upstreamBodyBytesReceived: number
  #upstreamHeaderSent: boolean
  #cache: HttpCache | undefined
  #kept: KeptRequestBody | undefined
  #retryBuffering: boolean
  readonly #bodyBufferLimit: number
  /**
   * How the cache answered this request, set by the engine before the response phases run:
   * `'hit'`, `'miss'`, `'expired'` (refetched), `'revalidated'` (a 304 from the origin),
   * `'stale'` (stale-if-error), `'updating'` (stale-while-revalidate), `'bypass'` (not looked
   * up: predicted uncacheable, a method or header that rules the cache out, or a lock given
   * up), `'purge'`; `undefined` when the cache was not enabled. Read it in `responseFilter`
   * (an `X-Cache-Status` header) or `logging`. Read-only to phases.
   * @see {@link ProxyHttp.requestCacheFilter}
   */
  cacheStatus: CacheStatus | undefined
  /** When this request reached each stage (see {@link SessionTiming}). */
  readonly timing: SessionTiming
  readonly #shuttingDown: AbortSignal | undefined

  /** @internal */
  constructor(
    downstream: ServerSession,
    modules: HttpModuleCtx,
    clientReused: boolean,
    shutdown: AbortSignal | undefined,
    bodyBufferLimit: number = DEFAULT_REQUEST_BODY_BUFFER_LIMIT,
  ) {
    this.downstreamSession = downstream
    this.downstreamModulesCtx = modules
    this.clientReused = clientReused
    this.#retries = 0
    this.#upstreamBodyBytesReceived = 0
    this.#upstreamHeaderSent = false
    this.#cache = undefined
    this.#kept = undefined
    this.#retryBuffering = false
    this.#bodyBufferLimit = bodyBufferLimit
    this.cacheStatus = undefined
    this.timing = new SessionTiming(performance.now())
    this.#shuttingDown = shutdown
  }

  /**
   * The request's cache state machine (`@pingora-ts/cache`'s {@link HttpCache}): enable it in
   * {@link ProxyHttp.requestCacheFilter} with `session.cache.enable({ storage, lock, ... })`;
   * read `phase` and `noCacheReason` in later phases. Created on first use, so a proxy that
   * never caches allocates nothing for it.
   */
  get cache(): HttpCache {
    if (this.#cache === undefined) this.#cache = new HttpCache()
    return this.#cache
  }

  /**
   * The cache state if it was ever created (no allocation).
   * @internal engine only
   */
  get cacheIfUsed(): HttpCache | undefined {
    return this.#cache
  }

  /** How many upstream attempts were made so far for this request (read-only; the engine counts). */
  get retries(): number {
    return this.#retries
  }

  /** Upstream response body bytes received so far (read-only; the engine counts). */
  get upstreamBodyBytesReceived(): number {
    return this.#upstreamBodyBytesReceived
  }

  /** Whether the upstream request header was already sent (body filters run after this). */
  get upstreamHeaderSent(): boolean {
    return this.#upstreamHeaderSent
  }

  /**
   * Counts one more upstream attempt.
   * @internal engine only
   */
  countAttempt(): void {
    this.#retries++
  }

  /**
   * Adds received upstream body bytes.
   * @param length - bytes received
   * @internal engine only
   */
  addUpstreamBodyBytes(length: number): void {
    this.#upstreamBodyBytesReceived += length
  }

  /**
   * Records that the upstream request header was sent.
   * @internal engine only
   */
  markUpstreamHeaderSent(): void {
    this.#upstreamHeaderSent = true
  }

  /** The client's request header; changes affect what is sent upstream. */
  get requestHeader(): RequestHeader {
    return this.downstreamSession.requestHeader
  }

  /**
   * The first value of a request header (case-insensitive), or `undefined`.
   * @param name - the header name
   */
  getHeader(name: string): string | undefined {
    return this.downstreamSession.getHeader(name)
  }

  /**
   * Reads the next request body piece from the client; `undefined` at the end.
   *
   * Before the upstream request starts (`requestFilter`, `upstreamPeer`... of the first
   * attempt), what a phase reads here is kept and still sent upstream, first, followed by the
   * rest of the body: reading the body in a phase never loses it. The proxy keeps up to the
   * service's `requestBodyBufferLimit` (1 MiB unless set); when a phase reads more and the
   * request then goes upstream, the proxy answers 413 instead (the bytes are gone). A request
   * answered by the phase itself is not affected by the bound. Reads once the upstream
   * request started are consumed (the engine streams the body itself then): send them
   * yourself from `requestBodyFilter`.
   * @see {@link Session.bufferRequestBody} to read the whole body at once
   */
  readRequestBody(): Promise<Buffer | undefined> {
    const read = this.downstreamSession.readRequestBody()
    if (this.#upstreamHeaderSent) return read
    return read.then((data) => {
      if (data === undefined) {
        if (this.#kept !== undefined && !this.#kept.overflowed) this.#kept.complete = true
        return data
      }
      this.#keep(data, this.#bodyBufferLimit)
      return data
    })
  }

  /**
   * Reads the whole request body into memory and returns it (Pingora lacks this: its issue
   * #575). Call it from any phase before the upstream request (`earlyRequestFilter`,
   * `requestFilter`, `proxyUpstreamFilter`, `upstreamPeer`); later phases read the same bytes
   * with {@link Session.requestBody}. The engine then forwards them upstream with a
   * `Content-Length` (HTTP/1 and HTTP/2 upstreams alike; chunked only when a request body
   * filter may change the bytes), and sends them again on a retry, whatever their size.
   *
   * A client that sent `Expect: 100-continue` gets its `100 Continue` here (the upstream sees no
   * `Expect`). Calling it again returns the same bytes. Pieces already read with
   * {@link Session.readRequestBody} are part of the result.
   * @param options - `maxBytes`, the bound (default the service's `requestBodyBufferLimit`,
   *   1 MiB unless set)
   * @returns the whole body (empty when the request has none)
   * @throws PingoraError `HTTPStatus(413)` (source `downstream`) when the body is longer than
   *   the bound, as declared by `Content-Length` (nothing is read then) or as it arrives; the
   *   connection is marked to close after the answer. Uncaught in a phase, the default
   *   `failToProxy` answers 413 and nothing reaches the upstream.
   * @throws PingoraError `ReadError`, `ReadTimedout`, `ConnectionClosed` or `H1Error` when the
   *   client fails while sending
   * @throws PingoraError `InternalError` when called after the upstream request started
   * @example
   * ```ts
   * async requestFilter(session: Session) {
   *   const body = await session.bufferRequestBody({ maxBytes: 64 * 1024 })
   *   return body.includes('forbidden') ? (await session.respondError(403), true) : false
   * }
   * ```
   */
  async bufferRequestBody(options?: BufferRequestBodyOptions): Promise<Buffer> {
    const limit = options?.maxBytes ?? this.#bodyBufferLimit
    let kept = this.#kept
    if (kept?.complete) return this.#joined(kept)
    if (this.#upstreamHeaderSent) {
      throw PingoraError.explain(
        ErrorType.InternalError,
        'bufferRequestBody called after the upstream request started',
      )
    }
    const downstream = this.downstreamSession
    if (kept?.overflowed) throw this.#refuse(limit)
    const declared = downstream.getHeader('Content-Length')
    if (declared !== undefined && Number(declared) > limit) throw this.#refuse(limit)
    if (kept === undefined) kept = this.#startKeeping()
    if (!downstream.isBodyDone()) {
      const expect = downstream.getHeader('Expect')
      if (expect !== undefined && expect.toLowerCase() === '100-continue') {
        // The client waits for this before sending; the upstream gets the body at once.
        downstream.requestHeader.removeHeader('Expect')
        if (downstream.responseWritten === undefined) await downstream.writeContinueResponse()
      }
      for (;;) {
        const data = await downstream.readRequestBody()
        if (data === undefined) break
        if (!this.#keep(data, limit)) throw this.#refuse(limit)
      }
    }
    kept.complete = true
    return this.#joined(kept)
  }

  /**
   * The request body read by {@link Session.bufferRequestBody} (or read to its end with
   * {@link Session.readRequestBody} before the upstream request), in one piece; `undefined`
   * when it was not read whole. Readable in every later phase, `logging` included.
   */
  get requestBody(): Buffer | undefined {
    const kept = this.#kept
    return kept?.complete ? this.#joined(kept) : undefined
  }

  /**
   * What phases read of the request body before the upstream request, for the engine to send
   * first; `undefined` when they read nothing.
   * @internal engine only
   */
  get keptRequestBody(): KeptRequestBody | undefined {
    return this.#kept
  }

  /**
   * Starts the downstream retry buffer (the body read from here on is kept for a retry).
   * @internal engine only
   */
  enableRetryBuffering(): void {
    this.#retryBuffering = true
    this.downstreamSession.enableRetryBuffering()
  }

  /**
   * Whether a retried attempt can send the whole body read so far again: the phases kept it
   * whole, or the retry buffer did not outgrow its limit.
   * @internal engine only
   */
  canReplayRequestBody(): boolean {
    const kept = this.#kept
    if (kept?.complete) return true
    return !this.downstreamSession.retryBufferTruncated()
  }

  #startKeeping(): KeptRequestBody {
    const kept = new KeptRequestBody()
    this.#kept = kept
    return kept
  }

  /** Keeps a piece read by a phase; `false` (and the pieces dropped) past the bound. */
  #keep(data: Buffer, limit: number): boolean {
    const kept = this.#kept ?? this.#startKeeping()
    if (kept.overflowed) return false
    if (kept.bytes + data.length > limit) {
      kept.overflowed = true
      kept.chunks = []
      kept.bytes = 0
      kept.inRetryBuffer = 0
      return false
    }
    kept.chunks.push(data)
    kept.bytes += data.length
    if (this.#retryBuffering) kept.inRetryBuffer += data.length
    return true
  }

  #joined(kept: KeptRequestBody): Buffer {
    const chunks = kept.chunks
    if (chunks.length === 0) return EMPTY
    if (chunks.length === 1) return chunks[0] as Buffer
    const joined = Buffer.concat(chunks, kept.bytes)
    kept.chunks = [joined]
    return joined
  }

  /** The 413 error; the connection closes after the answer (the rest of the body is unread). */
  #refuse(limit: number): PingoraError {
    this.downstreamSession.setKeepalive(undefined)
    return bodyTooLarge(limit)
  }

  /**
   * Sends a complete error response with an empty body (`Content-Length: 0`,
   * `Cache-Control: private, no-store`).
   * @param status - the status code
   */
  async respondError(status: number): Promise<void> {
    await this.respondErrorWithBody(status, EMPTY)
  }

  /**
   * Sends a complete error response with a body.
   * @param status - the status code
   * @param body - the body
   */
  async respondErrorWithBody(status: number, body: Uint8Array): Promise<void> {
    const response = generateErrorResponse(status)
    if (body.length > 0) response.setContentLength(body.length)
    await this.downstreamModulesCtx.responseHeaderFilter(response, body.length === 0)
    const filtered = this.downstreamModulesCtx.modules.length
      ? this.downstreamModulesCtx.responseBodyFilter(body, true)
      : body
    await this.downstreamSession.writeErrorResponse(response, filtered)
  }

  /**
   * Writes a response header to the client (running the downstream modules).
   * @param response - the header
   * @param endOfStream - `true` when no body follows
   */
  async writeResponseHeader(response: ResponseHeader, endOfStream = false): Promise<void> {
    await this.downstreamModulesCtx.responseHeaderFilter(response, endOfStream)
    await this.downstreamSession.writeResponseHeader(response, endOfStream)
  }

  /**
   * Writes a response body chunk to the client (running the downstream modules).
   * @param data - the bytes, or `undefined`
   * @param endOfStream - `true` on the last chunk
   */
  async writeResponseBody(data: Uint8Array | undefined, endOfStream: boolean): Promise<void> {
    const out = this.downstreamModulesCtx.modules.length
      ? this.downstreamModulesCtx.responseBodyFilter(data, endOfStream)
      : data
    await this.downstreamSession.writeResponseBody(out, endOfStream)
  }

  /** Sends `100 Continue` to the client. */
  writeContinueResponse(): Promise<void> {
    return this.downstreamSession.writeContinueResponse()
  }

  /** The response header already sent to the client, if any. */
  get responseWritten(): ResponseHeader | undefined {
    return this.downstreamSession.responseWritten
  }

  /** The client's address. */
  get clientAddr(): SocketAddress | undefined {
    return this.downstreamSession.clientAddr
  }

  /** The local address the client connected to. */
  get serverAddr(): SocketAddress | undefined {
    return this.downstreamSession.serverAddr
  }

  /** The downstream connection's facts (addresses, timing, TLS digest). */
  get digest(): Digest {
    return this.downstreamSession.digest
  }

  /** Response body bytes sent to the client. */
  get bodyBytesSent(): number {
    return this.downstreamSession.bodyBytesSent
  }

  /** Request body bytes read from the client. */
  get bodyBytesRead(): number {
    return this.downstreamSession.bodyBytesRead
  }

  /**
   * Sets the downstream keep-alive timeout in seconds (Pingora's `set_keepalive`); `undefined`
   * closes the connection after this request.
   * @param seconds - idle seconds allowed between requests
   */
  setKeepalive(seconds: number | undefined): void {
    this.downstreamSession.setKeepalive(seconds)
  }

  /**
   * Sets the downstream keep-alive timeout in milliseconds, like every other timeout;
   * `undefined` closes the connection after this request. {@link Session.setKeepalive} is the
   * same in seconds (Pingora's unit).
   * @param ms - idle time allowed between requests
   */
  setKeepaliveMs(ms: number | undefined): void {
    this.downstreamSession.setKeepaliveMs(ms)
  }

  /** Whether the server is shutting down (new responses close their connection). */
  isProcessShuttingDown(): boolean {
    return this.#shuttingDown?.aborted === true
  }

  /** A one-line summary of the request: `GET /path, Host: example.com`. */
  requestSummary(): string {
    return this.downstreamSession.requestSummary()
  }
}

/**
 * When a proxied request reached each stage, in milliseconds on the `performance.now()` clock
 * (subtract two of them for a duration); `undefined` for a stage not reached (yet).
 */
export class SessionTiming {
  /** The request header was read and the proxy session created. */
  readonly start: number
  /**
   * The last upstream attempt started (its peer was chosen; before the pool is probed or a
   * connection is made): `upstreamConnected - upstreamAttemptStart` is its connect time.
   */
  upstreamAttemptStart: number | undefined
  /** An upstream connection was ready (taken from the pool or connected) for the last attempt. */
  upstreamConnected: number | undefined
  /** The upstream's final response header was read (last attempt). */
  upstreamHeaders: number | undefined
  /** The exchange ended (before `logging` runs). */
  end: number | undefined

  /** @internal */
  constructor(start: number) {
    this.start = start
    this.upstreamAttemptStart = undefined
    this.upstreamConnected = undefined
    this.upstreamHeaders = undefined
    this.end = undefined
  }
}
