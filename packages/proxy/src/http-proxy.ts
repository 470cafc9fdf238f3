import {
  type ClientSession,
  DEFAULT_UPSTREAM_TIMEOUT_MS,
  type Http2ClientSession,
  HttpConnector,
  HttpModules,
  type HttpPeer,
  type HttpServerApp,
  type HttpServerOptions,
  ListeningService,
  type ReusedHttpStream,
  type ServerConf,
  type ServerSession,
  type ShutdownWatch,
} from '@pingora-ts/core'
import { ErrorType, type PingoraError } from '@pingora-ts/error'
import {
  channels,
  type ProxyErrorMessage,
  publishPhaseError,
  publishRequestFinished,
  publishUpstreamFailed,
} from './diagnostics.ts'
import { DownstreamWriter } from './downstream-writer.ts'
import { defaultFailToProxy } from './fail-to-proxy.ts'
import { ProxyCache } from './proxy-cache.ts'
import { isThenable, toError } from './proxy-common.ts'
import { ProxyH1 } from './proxy-h1.ts'
import { ProxyH2 } from './proxy-h2.ts'
import type { FailToProxy, ProxyHttp } from './proxy-trait.ts'
import { DEFAULT_REQUEST_BODY_BUFFER_LIMIT, Session } from './session.ts'
import { requestBodyLost } from './upstream-request.ts'

export { defaultErrorWhileProxy } from './upstream-request.ts'
/**
 * Upstream connect, read and write timeout applied when the peer sets none (nginx's 60 s); the
 * connector applies it (`HttpConnector`), the peer's options stay as the user wrote them.
 * Re-exported from `@pingora-ts/core`.
 */
export { DEFAULT_UPSTREAM_TIMEOUT_MS }

/**
 * The diagnostics channel of failed requests, `pingora:proxy:error`.
 * @deprecated use `channels.proxyError` (the same channel object).
 */
export const proxyErrorChannel = channels.proxyError

/** Options of {@link HttpProxy} beyond the server configuration. */
export interface HttpProxyOptions {
  /** The connector to upstreams (shared pool). @defaultValue one built from the server conf */
  connector?: HttpConnector
  /** Downstream server options (CONNECT, keep-alive request limit). */
  serverOptions?: HttpServerOptions
  /**
   * How many request body bytes the proxy keeps for phases that read the body before the
   * upstream request ({@link Session.bufferRequestBody}'s default bound, and the bound of what
   * {@link Session.readRequestBody} keeps to forward). A longer body is answered with 413.
   * @defaultValue {@link DEFAULT_REQUEST_BODY_BUFFER_LIMIT} (1 MiB)
   */
  requestBodyBufferLimit?: number
}

/**
 * What a step of the phase engine decided, as a discriminated union of frozen constants and
 * one failure shape (no identity sentinels): go on to the next step, stop because a response
 * was already sent, or stop with an error.
 */
type StepResult = typeof CONTINUE | typeof RESPONDED | Failed

/** The request goes on to the next step. */
const CONTINUE = Object.freeze({ kind: 'continue' } as const)
/** A phase (or a retry) answered the request: go on to `logging`; the connection may be reused. */
const RESPONDED = Object.freeze({ kind: 'responded' } as const)

/** The request failed: the error was answered (`failToProxy`), which decided about reuse. */
interface Failed {
  readonly kind: 'failed'
  readonly error: PingoraError
  /** Whether the downstream connection may serve another request. */
  readonly reuseDownstream: boolean
}

const NOT_RETRYABLE_AFTER_RESPONSE = 'response already started'

function upstreamPeerError(cause: unknown): PingoraError {
  return toError(cause, ErrorType.InternalError, 'upstreamPeer failed', 'internal')
}

/**
 * The HTTP proxy engine: runs a {@link ProxyHttp} implementation's phases for every request
 * (Pingora's `HttpProxy`). It is an `HttpServerApp`: put it in a listening service with
 * {@link httpProxyService}, or drive it from your own accept loop.
 */
export class HttpProxy<Ctx = unknown> implements HttpServerApp {
  /** The user's phases. */
  readonly inner: ProxyHttp<Ctx>
  /** The upstream connector with its connection pool. */
  readonly clientUpstream: HttpConnector
  /** Options for downstream connections. */
  readonly downstreamServerOptions: HttpServerOptions | undefined
  /** The downstream modules (set up by `ProxyHttp.initDownstreamModules`). */
  readonly downstreamModules: HttpModules
  /** Total attempts per request, the first one included (`max_retries`). */
  readonly maxRetries: number
  /** The bound of the request body kept for phases (`requestBodyBufferLimit`). */
  readonly requestBodyBufferLimit: number
  /** Whether the phases use the per-connection context (kept on the downstream connection). */
  readonly #persistsContext: boolean
  readonly #allowConnect: boolean
  /** Whether the request-filter step has phases to run (modules are checked per request). */
  readonly #filtersRequest: boolean
  /** The one downstream writer (responses from the upstream today, from the cache later). */
  readonly #writer: DownstreamWriter<Ctx>
  /** The cache engine; `undefined` (nothing to pay) when the app has no `requestCacheFilter`. */
  readonly #cache: ProxyCache<Ctx> | undefined
  /** The HTTP/1 upstream exchange. */
  readonly #h1: ProxyH1<Ctx>
  /** The HTTP/2 upstream exchange. */
  readonly #h2: ProxyH2<Ctx>

  /**
   * Builds the engine.
   * @param inner - the user's phases
   * @param conf - the server configuration (`maxRetries`, pool size, CA file...)
   * @param options - connector and downstream options
   */
  constructor(inner: ProxyHttp<Ctx>, conf: ServerConf, options: HttpProxyOptions = {}) {
    this.inner = inner
    this.clientUpstream = options.connector ?? new HttpConnector(conf)
    this.downstreamServerOptions = options.serverOptions
    this.#allowConnect = options.serverOptions?.allowConnectMethodProxying === true
    this.maxRetries = Math.max(1, conf.maxRetries)
    this.requestBodyBufferLimit =
      options.requestBodyBufferLimit ?? DEFAULT_REQUEST_BODY_BUFFER_LIMIT
    this.downstreamModules = new HttpModules()
    this.#persistsContext =
      inner.persistConnectionContext !== undefined || inner.onConnectionReuse !== undefined
    inner.initDownstreamModules?.(this.downstreamModules)
    this.#filtersRequest =
      inner.earlyRequestFilter !== undefined || inner.requestFilter !== undefined
    this.#writer = new DownstreamWriter(inner)
    this.#cache =
      inner.requestCacheFilter !== undefined
        ? new ProxyCache(inner, this.#writer, this.clientUpstream)
        : undefined
    this.#h1 = new ProxyH1(inner, this.clientUpstream, this.#writer, this.#cache)
    this.#h2 = new ProxyH2(inner, this.clientUpstream, this.#writer, this.#cache)
  }

  /** The downstream server options. */
  serverOptions(): HttpServerOptions | undefined {
    return this.downstreamServerOptions
  }

  /**
   * Serves one request on a downstream session: the phase engine (Pingora's
   * `process_new_http` in `pingora-proxy/src/lib.rs`). Steps, in order:
   *
   * ```text
   * read request ─► newCtx, onConnectionReuse ─► request-filter step (earlyRequestFilter,
   *   modules, requestFilter) ─► cache step (requestCacheFilter, key, lookup, lock; a hit is
   *   answered here) ─► upstream-filter step (proxyUpstreamFilter)
   *   ─► upstream attempts (ProxyH1 → DownstreamWriter), retries ─► logging ─► finish
   * ```
   *
   * Every step returns a {@link StepResult}; anything but `continue` skips to `logging`.
   * @param downstream - the client session
   * @param shutdown - aborted when the server starts to shut down
   */
  async processNewHttp(
    downstream: ServerSession,
    shutdown: ShutdownWatch,
  ): Promise<ReusedHttpStream | undefined> {
    // The head is usually buffered already (the driver waited for it): no promise then.
    const fast = downstream.fastPaths
    const read = fast !== undefined ? fast.readRequestNow() : downstream.readRequest()
    if (read !== true) {
      try {
        if (!(await read)) return undefined
      } catch {
        // Malformed requests were already answered (400/414/431) and the connection closed.
        return undefined
      }
    }
    if (downstream.requestHeader.method === 'CONNECT' && !this.#allowConnect) {
      try {
        downstream.setKeepalive(undefined)
        await downstream.respondError(405)
      } catch {}
      await downstream.finish()
      return undefined
    }
    if (shutdown.aborted) downstream.setKeepalive(undefined)

    // The connection with what persists between its requests (keep-alive state, the context).
    const connection = downstream.connection
    const clientReused = connection.reuseCount > 0
    const session = new Session(
      downstream,
      this.downstreamModules.buildCtx(),
      clientReused,
      shutdown,
      this.requestBodyBufferLimit,
    )
    if (channels.requestStarted.hasSubscribers) channels.requestStarted.publish({ session })
    const inner = this.inner
    let ctx: Ctx
    try {
      ctx = inner.newCtx()
    } catch (cause) {
      // Without a ctx no phase can run: answer 500, report the error, close.
      const error = toError(cause, ErrorType.InternalError, 'newCtx failed', 'internal')
      publishPhaseError(session, 'newCtx', error)
      await defaultFailToProxy(session, error).catch(() => undefined)
      if (channels.requestFinished.hasSubscribers) publishRequestFinished(session, error, false)
      downstream.setKeepalive(undefined)
      await downstream.finish()
      return undefined
    }
    let result: StepResult = CONTINUE
    try {
      if (this.#persistsContext) {
        const persisted = connection.context
        connection.context = undefined
        if (inner.onConnectionReuse !== undefined && persisted !== undefined) {
          inner.onConnectionReuse(session, ctx, persisted)
        }
      }
    } catch (error) {
      result = await this.#handleError(
        session,
        ctx,
        toError(error, ErrorType.InternalError, 'onConnectionReuse failed', 'internal'),
      )
    }
    if (
      result === CONTINUE &&
      (this.#filtersRequest || session.downstreamModulesCtx.modules.length > 0)
    ) {
      result = await this.#requestFilterStep(session, ctx)
    }
    // The cache step: one check when the app caches nothing.
    if (result === CONTINUE && this.#cache !== undefined) {
      result = await this.#cacheStep(this.#cache, session, ctx)
    }
    if (result === CONTINUE && inner.proxyUpstreamFilter !== undefined) {
      result = await this.#upstreamFilterStep(session, ctx)
    }
    // A phase read more of the body than the proxy keeps: it cannot reach the upstream whole.
    if (result === CONTINUE && session.keptRequestBody?.overflowed === true) {
      session.setKeepalive(undefined)
      result = await this.#handleError(session, ctx, requestBodyLost())
    }
    if (result === CONTINUE) {
      const downstreamSession = session.downstreamSession
      if (
        downstreamSession.requestHeader.method !== 'GET' &&
        downstreamSession.requestHeader.method !== 'HEAD'
      ) {
        session.enableRetryBuffering()
      } else if (!downstreamSession.isBodyEmpty()) {
        session.enableRetryBuffering()
      }
      // The first attempt is awaited here directly (no async frame per request in between);
      // only a failed one goes through the retry loop.
      session.countAttempt()
      const error = await this.#proxyToUpstream(session, ctx)
      result = error === undefined ? RESPONDED : await this.#retryOrFail(session, ctx, error)
    }
    if (this.#cache !== undefined) await this.#cache.finish(session)
    session.timing.end = performance.now()
    const error = result.kind === 'failed' ? result.error : undefined
    if (error !== undefined) this.#reportError(session, ctx, error)
    if (inner.logging !== undefined) {
      try {
        const r = inner.logging(session, error, ctx)
        if (isThenable(r)) await r
      } catch (error) {
        // The exchange is over: the connection handling goes on, the failure is reported.
        publishPhaseError(session, 'logging', error)
      }
    }
    const reuseDownstream = result.kind !== 'failed' || result.reuseDownstream
    if (channels.requestFinished.hasSubscribers) {
      publishRequestFinished(session, error, reuseDownstream)
    }
    if (!reuseDownstream) {
      downstream.setKeepalive(undefined)
      await downstream.finish()
      return undefined
    }
    const finished = fast !== undefined ? fast.finishNow() : downstream.finish()
    const reused = finished instanceof Promise ? await finished : finished
    if (reused !== undefined && inner.persistConnectionContext !== undefined) {
      try {
        reused.context = inner.persistConnectionContext(session, ctx)
      } catch (error) {
        // Nothing to carry over: the next request starts without it.
        publishPhaseError(session, 'persistConnectionContext', error)
      }
    }
    return reused
  }

  /** Publishes a failed request on the error channel unless `suppressErrorLog` says not to. */
  #reportError(session: Session, ctx: Ctx, error: PingoraError): void {
    // A throwing hook is reported under its own name; it never keeps `logging` and the
    // connection handling from running.
    const inner = this.inner
    if (inner.suppressErrorLog !== undefined) {
      try {
        if (inner.suppressErrorLog(session, ctx, error)) return
      } catch (error) {
        publishPhaseError(session, 'suppressErrorLog', error)
      }
    }
    if (!channels.proxyError.hasSubscribers) return
    let summary: string | undefined
    if (inner.requestSummary !== undefined) {
      try {
        summary = inner.requestSummary(session, ctx)
      } catch (error) {
        publishPhaseError(session, 'requestSummary', error)
      }
    }
    const message: ProxyErrorMessage = {
      session,
      summary: summary ?? session.requestSummary(),
      error,
      status: session.responseWritten?.status,
      retries: session.retries,
      phase: undefined,
    }
    channels.proxyError.publish(message)
  }

  /**
   * The request-filter step: `earlyRequestFilter`, the modules' request header filters and
   * `requestFilter`. `responded` when `requestFilter` answered the request.
   */
  async #requestFilterStep(session: Session, ctx: Ctx): Promise<StepResult> {
    const inner = this.inner
    try {
      if (inner.earlyRequestFilter !== undefined) {
        const r = inner.earlyRequestFilter(session, ctx)
        if (isThenable(r)) await r
      }
      if (session.downstreamModulesCtx.modules.length > 0) {
        await session.downstreamModulesCtx.requestHeaderFilter(session.requestHeader)
      }
      if (inner.requestFilter !== undefined) {
        const r = inner.requestFilter(session, ctx)
        const handled: boolean = isThenable(r) ? await r : r
        if (handled) return RESPONDED
      }
    } catch (error) {
      return this.#handleError(
        session,
        ctx,
        toError(error, ErrorType.InternalError, 'in a request phase', 'internal'),
      )
    }
    return CONTINUE
  }

  /** The cache step ({@link ProxyCache.cacheStep}): `responded` when the cache answered. */
  async #cacheStep(cache: ProxyCache<Ctx>, session: Session, ctx: Ctx): Promise<StepResult> {
    try {
      return (await cache.cacheStep(session, ctx)) ? RESPONDED : CONTINUE
    } catch (error) {
      return this.#handleError(
        session,
        ctx,
        toError(error, ErrorType.InternalError, 'in a cache phase', 'internal'),
      )
    }
  }

  /**
   * The upstream-filter step: `proxyUpstreamFilter`. When it declines, answers 502 unless it
   * wrote a response itself, and resolves `responded`.
   */
  async #upstreamFilterStep(session: Session, ctx: Ctx): Promise<StepResult> {
    const filter = this.inner.proxyUpstreamFilter
    if (filter === undefined) return CONTINUE
    try {
      const r = filter.call(this.inner, session, ctx)
      const go: boolean = isThenable(r) ? await r : r
      if (go) return CONTINUE
      this.#cache?.declined(session)
      if (session.responseWritten === undefined) await session.respondError(502)
      return RESPONDED
    } catch (error) {
      return this.#handleError(
        session,
        ctx,
        toError(error, ErrorType.InternalError, 'in a request phase', 'internal'),
      )
    }
  }

  /**
   * After a failed attempt: retries while the error allows it and attempts remain, then
   * answers the error. Resolves `responded` when a retry succeeded.
   */
  async #retryOrFail(session: Session, ctx: Ctx, first: PingoraError): Promise<StepResult> {
    let error = first
    for (;;) {
      if (session.responseWritten !== undefined && error.retry !== false) {
        error.setRetry(false).withContext(NOT_RETRYABLE_AFTER_RESPONSE)
      }
      if (error.retry !== true) break
      if (!session.canReplayRequestBody()) break
      if (session.retries >= this.maxRetries) break
      session.countAttempt()
      const next = await this.#proxyToUpstream(session, ctx)
      if (next === undefined) return RESPONDED
      error = next
    }
    // Stale-if-error: the stored response answers instead of the error.
    if (this.#cache !== undefined) {
      try {
        if (await this.#cache.serveStaleOnError(session, ctx, error)) return RESPONDED
      } catch (error) {
        publishPhaseError(session, 'shouldServeStale', error)
      }
    }
    return this.#handleError(session, ctx, error)
  }

  async #handleError(session: Session, ctx: Ctx, error: PingoraError): Promise<Failed> {
    let result: FailToProxy
    try {
      if (this.inner.failToProxy !== undefined) {
        const r = this.inner.failToProxy(session, error, ctx)
        result = isThenable(r) ? await r : r
      } else {
        result = await defaultFailToProxy(session, error)
      }
    } catch (cause) {
      // The user's answer failed: report it and answer as the default would (nothing more is
      // written when a response already started).
      publishPhaseError(session, 'failToProxy', cause)
      try {
        result = await defaultFailToProxy(session, error)
      } catch {
        result = { errorCode: undefined, canReuseDownstream: false }
      }
    }
    const written = session.responseWritten
    if (written !== undefined && written.status >= 200 && result.errorCode === undefined) {
      // The response had started when the request failed: close the connection so the client
      // sees a truncated response, never one that looks complete (no final chunk).
      session.downstreamSession.shutdown()
      return { kind: 'failed', error, reuseDownstream: false }
    }
    return { kind: 'failed', error, reuseDownstream: result.canReuseDownstream }
  }

  /**
   * One attempt: peer, connection, exchange. Resolves the error of a failed attempt. Not an
   * async function: choosing the peer and taking a pooled connection are synchronous, and the
   * caller awaits the exchange's own promise (one async frame per attempt, not three).
   */
  #proxyToUpstream(session: Session, ctx: Ctx): Promise<PingoraError | undefined> {
    let peer: HttpPeer | Promise<HttpPeer>
    try {
      peer = this.inner.upstreamPeer(session, ctx)
    } catch (error) {
      return Promise.resolve(upstreamPeerError(error))
    }
    if (isThenable(peer)) {
      return peer.then(
        (p) => this.#proxyToPeer(session, ctx, p),
        (error: unknown) => upstreamPeerError(error),
      )
    }
    return this.#proxyToPeer(session, ctx, peer)
  }

  /** The attempt once the peer is known: a pooled connection synchronously, else a new one. */
  #proxyToPeer(session: Session, ctx: Ctx, peer: HttpPeer): Promise<PingoraError | undefined> {
    // An idle pooled connection is taken synchronously (no promise, no extra tick); only a
    // new connection is awaited.
    const timing = session.timing
    const now = performance.now()
    timing.upstreamAttemptStart = now
    const pooled = this.clientUpstream.reusedHttpSession(peer)
    if (pooled !== undefined) {
      timing.upstreamConnected = now
      if (pooled.protocol === 'h2') {
        return this.#h2.proxy(session, ctx, peer, pooled as Http2ClientSession, true)
      }
      return this.#h1.proxy(session, ctx, peer, pooled, true)
    }
    return this.#connectAndProxy(session, ctx, peer)
  }

  async #connectAndProxy(
    session: Session,
    ctx: Ctx,
    peer: HttpPeer,
  ): Promise<PingoraError | undefined> {
    let client: ClientSession
    try {
      // The pool was just probed (and missed): connect without probing it again.
      client = await this.clientUpstream.newHttpSession(peer)
    } catch (cause) {
      let error = toError(cause, ErrorType.ConnectError, `connecting to ${peer}`, 'upstream')
      if (error.source === 'unset') error.setSource('upstream')
      if (this.inner.failToConnect !== undefined) {
        error = this.inner.failToConnect(session, peer, ctx, error)
      }
      publishUpstreamFailed(session, peer, error, false)
      return error
    }
    session.timing.upstreamConnected = performance.now()
    if (client.protocol === 'h2') {
      return await this.#h2.proxy(session, ctx, peer, client as Http2ClientSession, client.reused)
    }
    return await this.#h1.proxy(session, ctx, peer, client, false)
  }
}

/**
 * Builds the bare proxy app (Pingora's `http_proxy`), for a custom accept loop.
 * @param conf - the server configuration
 * @param inner - the user's phases
 * @param options - connector and downstream options
 */
export function httpProxy<Ctx>(
  conf: ServerConf,
  inner: ProxyHttp<Ctx>,
  options?: HttpProxyOptions,
): HttpProxy<Ctx> {
  return new HttpProxy(inner, conf, options)
}

/**
 * Builds a listening service running the proxy (Pingora's `http_proxy_service`): add
 * endpoints with `addTcp`/`addUds`, then `server.addService(service)`.
 * @param conf - the server configuration
 * @param inner - the user's phases
 * @param options - connector, downstream options and the service name
 */
export function httpProxyService<Ctx>(
  conf: ServerConf,
  inner: ProxyHttp<Ctx>,
  options: HttpProxyOptions & { name?: string } = {},
): ListeningService<HttpProxy<Ctx>> {
  return new ListeningService(
    options.name ?? 'Pingora HTTP Proxy Service',
    new HttpProxy(inner, conf, options),
  )
}
