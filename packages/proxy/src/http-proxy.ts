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
  type AttemptStartedMessage,
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
import type { UpstreamRetryPolicy, UpstreamRetryState } from './retry.ts'
import { DEFAULT_REQUEST_BODY_BUFFER_LIMIT, Session } from './session.ts'
import { AttemptGuard, AttemptRace } from './upstream-attempt.ts'
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
   * The retry policy driving the engine's retry loop for every request
   * ({@link ProxyHttp.retryPolicy} may choose another per request): which failures retry, the
   * attempts, the backoff, the retry budget, the per-attempt timeout, the overall deadline
   * (504) and hedging. `RetryPolicy` of `@pingora-ts/load-balancing` is one.
   * @defaultValue none: Pingora's behaviour (`failToConnect`/`errorWhileProxy` decide,
   * `maxRetries` caps)
   */
  retryPolicy?: UpstreamRetryPolicy
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
  /** The retry policy of every request, unless `ProxyHttp.retryPolicy` chooses another. */
  readonly retryPolicy: UpstreamRetryPolicy | undefined
  /** Whether the app chooses a retry policy per request. */
  readonly #choosesRetryPolicy: boolean
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
    this.retryPolicy = options.retryPolicy
    this.#choosesRetryPolicy = inner.retryPolicy !== undefined
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
      let policy = this.retryPolicy
      if (this.#choosesRetryPolicy) {
        try {
          policy = (inner.retryPolicy as NonNullable<ProxyHttp<Ctx>['retryPolicy']>)(session, ctx)
        } catch (cause) {
          policy = undefined
          result = await this.#handleError(
            session,
            ctx,
            toError(cause, ErrorType.InternalError, 'retryPolicy failed', 'internal'),
          )
        }
      }
      if (result !== CONTINUE) {
        // retryPolicy threw: answered above.
      } else if (policy !== undefined) {
        result = await this.#proxyWithPolicy(session, ctx, policy)
      } else {
        // The first attempt is awaited here directly (no async frame per request in between);
        // only a failed one goes through the retry loop.
        session.countAttempt()
        const error = await this.#proxyToUpstream(session, ctx, undefined)
        result = error === undefined ? RESPONDED : await this.#retryOrFail(session, ctx, error)
      }
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
      const next = await this.#proxyToUpstream(session, ctx, undefined)
      if (next === undefined) return RESPONDED
      error = next
    }
    return this.#failAfterAttempts(session, ctx, error)
  }

  /**
   * The upstream attempts when a retry policy drives them: the backoff before each retry (cut
   * short by the deadline: 504), each attempt under its timer (the per-attempt timeout, or what
   * is left of the deadline), hedging for idempotent requests without a body, and the policy's
   * retry decision after `failToConnect`/`errorWhileProxy` (an error they mark retryable is
   * retried within the policy's attempts, deadline and budget). The server's `maxRetries` still
   * caps the attempts. Hedged: requests without a body, or whose body a phase read whole
   * (`session.bufferRequestBody`), which every attempt replays.
   */
  async #proxyWithPolicy(
    session: Session,
    ctx: Ctx,
    policy: UpstreamRetryPolicy,
  ): Promise<StepResult> {
    const state = policy.start(session.requestHeader.method)
    session.setRetryState(state)
    try {
      let error: PingoraError
      for (;;) {
        let backoffMs: number
        try {
          backoffMs = state.nextAttempt()
        } catch (cause) {
          error = toError(cause, ErrorType.InternalError, 'retry policy nextAttempt', 'internal')
          break
        }
        if (backoffMs > 0) {
          await new Promise<void>((resolve) => {
            policy.setTimer(resolve, backoffMs)
          })
        }
        session.countAttempt()
        publishAttemptStarted(session, backoffMs, false)
        const next =
          policy.hedgeDelayMs !== undefined &&
          (session.downstreamSession.isBodyEmpty() || session.keptRequestBody?.complete === true)
            ? await this.#hedgedAttempts(session, ctx, state, policy, policy.hedgeDelayMs)
            : await this.#guardedAttempt(
                session,
                ctx,
                policy,
                new AttemptGuard(session, state, session.retries, undefined),
              )
        if (next === undefined) return RESPONDED
        error = next
        if (session.responseWritten !== undefined && error.retry !== false) {
          error.setRetry(false).withContext(NOT_RETRYABLE_AFTER_RESPONSE)
        }
        if (error.retry !== true) break
        if (!session.canReplayRequestBody()) break
        if (session.retries >= this.maxRetries) break
      }
      return await this.#failAfterAttempts(session, ctx, error)
    } finally {
      state.finish()
    }
  }

  /**
   * An attempt raced by a hedge: when the first has no response header after `delayMs`, and the
   * policy allows (idempotent method, attempts and budget left), a second attempt starts; the
   * first response header wins and the other attempt is cancelled (its connection closed).
   * Resolves `undefined` when one succeeded, else the error of the last to fail.
   */
  async #hedgedAttempts(
    session: Session,
    ctx: Ctx,
    state: UpstreamRetryState,
    policy: UpstreamRetryPolicy,
    delayMs: number,
  ): Promise<PingoraError | undefined> {
    const race = new AttemptRace()
    const firstGuard = new AttemptGuard(session, state, session.retries, race)
    const first = this.#guardedAttempt(session, ctx, policy, firstGuard)
    let cancelTimer: (() => void) | undefined
    const due = new Promise<AttemptRace>((resolve) => {
      cancelTimer = policy.setTimer(() => resolve(race), delayMs)
    })
    const early = await Promise.race([first, due])
    if (early !== race) {
      cancelTimer?.()
      return early as PingoraError | undefined
    }
    if (race.winner !== undefined || race.running.length === 0 || !state.startHedge()) {
      return first
    }
    session.countAttempt()
    publishAttemptStarted(session, 0, true)
    const second = this.#guardedAttempt(
      session,
      ctx,
      policy,
      new AttemptGuard(session, state, session.retries, race),
    )
    const [a, b] = await Promise.all([first, second])
    if (a === undefined || b === undefined) return undefined
    // Both failed: the winner's failure (after its response started), else the last attempt's.
    return race.winner === firstGuard ? a : b
  }

  /**
   * One attempt under the policy's timer; then the policy's retry decision (connect failures
   * after `failToConnect`, exchange failures after `errorWhileProxy`).
   */
  async #guardedAttempt(
    session: Session,
    ctx: Ctx,
    policy: UpstreamRetryPolicy,
    guard: AttemptGuard,
  ): Promise<PingoraError | undefined> {
    const state = guard.state
    const timeoutMs = state.attemptTimeoutMs()
    if (timeoutMs !== undefined) guard.arm(policy, timeoutMs)
    const attempt = this.#proxyToUpstream(session, ctx, guard)
    const settled = await Promise.race([attempt, guard.stoppedEarly])
    guard.done()
    let error: PingoraError | undefined
    if (settled === guard) {
      // Stopped while choosing its peer or connecting: the attempt is left behind and closes
      // whatever connection it still gets.
      attempt.catch(() => undefined)
      error = guard.error as PingoraError
      if (guard.cancelled) return error
      const peer = guard.peer
      if (guard.stage === 'connect' && peer !== undefined) {
        if (this.inner.failToConnect !== undefined) {
          error = this.inner.failToConnect(session, peer, ctx, error)
        }
        publishUpstreamFailed(session, peer, error, false)
      }
    } else {
      error = settled as PingoraError | undefined
    }
    if (error === undefined || guard.cancelled) return error
    if (guard.stage === 'proxy') {
      return state.onProxyError(error, session.responseWritten !== undefined)
    }
    if (guard.stage === 'connect') return state.onConnectFailure(error)
    return error
  }

  /** After the last attempt failed: stale-if-error, else `failToProxy`. */
  async #failAfterAttempts(session: Session, ctx: Ctx, error: PingoraError): Promise<StepResult> {
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
  #proxyToUpstream(
    session: Session,
    ctx: Ctx,
    guard: AttemptGuard | undefined,
  ): Promise<PingoraError | undefined> {
    let peer: HttpPeer | Promise<HttpPeer>
    try {
      peer = this.inner.upstreamPeer(session, ctx)
    } catch (error) {
      return Promise.resolve(upstreamPeerError(error))
    }
    if (isThenable(peer)) {
      return peer.then(
        (resolved) => this.#proxyToPeer(session, ctx, resolved, guard),
        upstreamPeerError,
      )
    }
    return this.#proxyToPeer(session, ctx, peer, guard)
  }

  /** The attempt once the peer is known: a pooled connection synchronously, else a new one. */
  #proxyToPeer(
    session: Session,
    ctx: Ctx,
    peer: HttpPeer,
    guard: AttemptGuard | undefined,
  ): Promise<PingoraError | undefined> {
    if (guard !== undefined) {
      // Stopped while upstreamPeer ran: the engine moved on already.
      if (guard.error !== undefined) return Promise.resolve(guard.error)
      guard.peer = peer
      guard.stage = 'connect'
      guard.state.peerChosen(peer)
    }
    // An idle pooled connection is taken synchronously (no promise, no extra tick); only a
    // new connection is awaited.
    const timing = session.timing
    const now = performance.now()
    timing.upstreamAttemptStart = now
    const pooled = this.clientUpstream.reusedHttpSession(peer)
    if (pooled !== undefined) {
      timing.upstreamConnected = now
      guard?.attach(pooled)
      if (pooled.protocol === 'h2') {
        return this.#h2.proxy(session, ctx, peer, pooled as Http2ClientSession, true, guard)
      }
      return this.#h1.proxy(session, ctx, peer, pooled, true, guard)
    }
    return this.#connectAndProxy(session, ctx, peer, guard)
  }

  async #connectAndProxy(
    session: Session,
    ctx: Ctx,
    peer: HttpPeer,
    guard: AttemptGuard | undefined,
  ): Promise<PingoraError | undefined> {
    let client: ClientSession
    try {
      // The pool was just probed (and missed): connect without probing it again.
      client = await this.clientUpstream.newHttpSession(peer)
    } catch (cause) {
      // Stopped while connecting: the engine moved on and reported it already.
      if (guard?.error !== undefined) return guard.error
      let error = toError(cause, ErrorType.ConnectError, `connecting to ${peer}`, 'upstream')
      if (error.source === 'unset') error.setSource('upstream')
      if (this.inner.failToConnect !== undefined) {
        error = this.inner.failToConnect(session, peer, ctx, error)
      }
      publishUpstreamFailed(session, peer, error, false)
      return error
    }
    if (guard !== undefined && !guard.attach(client)) {
      // Stopped while connecting: the new connection is not used (nor pooled).
      client.shutdown()
      return guard.error
    }
    session.timing.upstreamConnected = performance.now()
    if (client.protocol === 'h2') {
      return await this.#h2.proxy(
        session,
        ctx,
        peer,
        client as Http2ClientSession,
        client.reused,
        guard,
      )
    }
    return await this.#h1.proxy(session, ctx, peer, client, false, guard)
  }
}

/** Publishes `pingora:attempt:started` when it has subscribers. */
function publishAttemptStarted(session: Session, backoffMs: number, hedge: boolean): void {
  if (!channels.attemptStarted.hasSubscribers) return
  const message: AttemptStartedMessage = { session, attempt: session.retries, backoffMs, hedge }
  channels.attemptStarted.publish(message)
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
