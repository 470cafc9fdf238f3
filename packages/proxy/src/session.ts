import { HttpCache } from '@pingora-ts/cache'
import type { Digest, HttpModuleCtx, ServerSession, SocketAddress } from '@pingora-ts/core'
import { generateErrorResponse } from '@pingora-ts/core'
import type { RequestHeader, ResponseHeader } from '@pingora-ts/http'

const EMPTY = Buffer.alloc(0)

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
  ) {
    this.downstreamSession = downstream
    this.downstreamModulesCtx = modules
    this.clientReused = clientReused
    this.#retries = 0
    this.#upstreamBodyBytesReceived = 0
    this.#upstreamHeaderSent = false
    this.#cache = undefined
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
   * Reads the next request body chunk from the client; `undefined` at the end. Whatever is
   * read here is consumed: it is not sent upstream unless you send it yourself.
   */
  readRequestBody(): Promise<Buffer | undefined> {
    return this.downstreamSession.readRequestBody()
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
