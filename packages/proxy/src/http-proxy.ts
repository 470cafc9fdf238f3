import { channel } from 'node:diagnostics_channel'
import {
  type ClientSession,
  DEFAULT_UPSTREAM_TIMEOUT_MS,
  HttpConnector,
  type HttpPeer,
  type HttpServerApp,
  type HttpServerOptions,
  ListeningService,
  type ReusedHttpStream,
  type ServerConf,
  type ServerSession,
  type ShutdownWatch,
  WRITE_SETTLED,
} from '@pingora-ts/core'
import { ErrorType, PingoraError } from '@pingora-ts/error'
import type { RequestHeader, ResponseHeader } from '@pingora-ts/http'
import { defaultFailToProxy } from './fail-to-proxy.ts'
import { removeHopByHopHeaders } from './hop-by-hop.ts'
import { HttpModules } from './modules.ts'
import type { FailToProxy, ProxyHttp } from './proxy-trait.ts'
import { Session } from './session.ts'

/**
 * Upstream connect, read and write timeout applied when the peer sets none (nginx's 60 s); the
 * connector applies it (`HttpConnector`), the peer's options stay as the user wrote them.
 * Re-exported from `@pingora-ts/core`.
 */
export { DEFAULT_UPSTREAM_TIMEOUT_MS }

/**
 * Diagnostics channel of failed requests (Pingora's error log line): receives
 * `{ summary, error, status, retries }` unless `suppressErrorLog` says otherwise.
 */
export const proxyErrorChannel = channel('pingora:proxy:error')

/** Options of {@link HttpProxy} beyond the server configuration. */
export interface HttpProxyOptions {
  /** The connector to upstreams (shared pool). @defaultValue one built from the server conf */
  connector?: HttpConnector
  /** Downstream server options (CONNECT, keep-alive request limit). */
  serverOptions?: HttpServerOptions
}

interface Outcome {
  error: PingoraError | undefined
  /** Whether the downstream connection may serve another request. */
  reuseDownstream: boolean
}

const NOT_RETRYABLE_AFTER_RESPONSE = 'response already started'

// A request that ended without error resolves `undefined` rather than an Outcome: no object
// per request, and resolving a promise with a primitive skips the `then` lookup.
const OK_REUSE = undefined
const OK_OUTCOME: Outcome = Object.freeze({ error: undefined, reuseDownstream: true })
/** What `requestPhases` resolves when the request goes on to an upstream. */
const PROCEED: Outcome = Object.freeze({ error: undefined, reuseDownstream: true })

/** A tunnel ends when either side closes: only unexpected failures are errors. */
function ignoreClosed(e: unknown): void {
  if (
    PingoraError.is(e) &&
    (e.type === ErrorType.ConnectionClosed ||
      e.type === ErrorType.ReadError ||
      e.type === ErrorType.WriteError)
  )
    return
  throw e
}

function isThenable<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | undefined)?.then === 'function'
}

function upstreamPeerError(e: unknown): PingoraError {
  return toError(e, ErrorType.InternalError, 'upstreamPeer failed', 'internal')
}

function toError(
  value: unknown,
  type: ErrorType,
  context: string,
  source: 'upstream' | 'downstream' | 'internal',
): PingoraError {
  if (PingoraError.is(value)) return value
  return new PingoraError(type, { source, context, cause: value })
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
  /** Whether the phases use the per-connection context (kept on the downstream connection). */
  private readonly persistsContext: boolean
  private readonly allowConnect: boolean

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
    this.allowConnect = options.serverOptions?.allowConnectMethodProxying === true
    this.maxRetries = Math.max(1, conf.maxRetries)
    this.downstreamModules = new HttpModules()
    this.persistsContext =
      inner.persistConnectionContext !== undefined || inner.onConnectionReuse !== undefined
    inner.initDownstreamModules?.(this.downstreamModules)
  }

  /** The downstream server options. */
  serverOptions(): HttpServerOptions | undefined {
    return this.downstreamServerOptions
  }

  /**
   * Serves one request on a downstream session: the whole phase pipeline.
   * @param downstream - the client session
   * @param shutdown - aborted when the server starts to shut down
   */
  async processNewHttp(
    downstream: ServerSession,
    shutdown: ShutdownWatch,
  ): Promise<ReusedHttpStream | undefined> {
    // The head is usually buffered already (the driver waited for it): no promise then.
    const read = downstream.readRequestNow()
    if (read !== true) {
      try {
        if (!(await read)) return undefined
      } catch {
        // Malformed requests were already answered (400/414/431) and the connection closed.
        return undefined
      }
    }
    if (downstream.requestHeader.method === 'CONNECT' && !this.allowConnect) {
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
    )
    const inner = this.inner
    let ctx: Ctx
    try {
      ctx = inner.newCtx()
    } catch (e) {
      // Without a ctx no phase can run: answer 500, report the error, close.
      const error = toError(e, ErrorType.InternalError, 'newCtx failed', 'internal')
      if (proxyErrorChannel.hasSubscribers) {
        proxyErrorChannel.publish({ summary: session.requestSummary(), error, retries: 0 })
      }
      await defaultFailToProxy(session, error).catch(() => undefined)
      downstream.setKeepalive(undefined)
      await downstream.finish()
      return undefined
    }
    let outcome: Outcome = OK_OUTCOME
    try {
      if (this.persistsContext) {
        const persisted = connection.context
        connection.context = undefined
        if (inner.onConnectionReuse !== undefined && persisted !== undefined) {
          inner.onConnectionReuse(session, ctx, persisted)
        }
      }
    } catch (e) {
      outcome = await this.handleError(
        session,
        ctx,
        toError(e, ErrorType.InternalError, 'onConnectionReuse failed', 'internal'),
      )
    }
    let proceed = outcome === OK_OUTCOME
    if (
      proceed &&
      (inner.earlyRequestFilter !== undefined ||
        inner.requestFilter !== undefined ||
        inner.proxyUpstreamFilter !== undefined ||
        session.downstreamModulesCtx.modules.length > 0)
    ) {
      const r = await this.requestPhases(session, ctx)
      if (r !== PROCEED) {
        proceed = false
        outcome = r ?? OK_OUTCOME
      }
    }
    if (proceed) {
      const downstreamSession = session.downstreamSession
      if (
        downstreamSession.requestHeader.method !== 'GET' &&
        downstreamSession.requestHeader.method !== 'HEAD'
      ) {
        downstreamSession.enableRetryBuffering()
      } else if (!downstreamSession.isBodyEmpty()) {
        downstreamSession.enableRetryBuffering()
      }
      // The first attempt is awaited here directly (no async frame per request in between);
      // only a failed one goes through the retry loop.
      session.retries++
      const error = await this.proxyToUpstream(session, ctx)
      if (error !== undefined) outcome = (await this.retryOrFail(session, ctx, error)) ?? OK_OUTCOME
    }
    if (outcome.error !== undefined) this.reportError(session, ctx, outcome.error)
    if (inner.logging !== undefined) {
      try {
        const r = inner.logging(session, outcome.error, ctx)
        if (isThenable(r)) await r
      } catch {
        // A failing logging phase must not break the connection handling.
      }
    }
    if (!outcome.reuseDownstream) {
      downstream.setKeepalive(undefined)
      await downstream.finish()
      return undefined
    }
    const finished = downstream.finishNow()
    const reused = finished instanceof Promise ? await finished : finished
    if (reused !== undefined && inner.persistConnectionContext !== undefined) {
      try {
        reused.context = inner.persistConnectionContext(session, ctx)
      } catch {
        // Nothing to carry over: the next request starts without it.
      }
    }
    return reused
  }

  /** Publishes a failed request on the error channel unless `suppressErrorLog` says not to. */
  private reportError(session: Session, ctx: Ctx, error: PingoraError): void {
    const inner = this.inner
    try {
      if (inner.suppressErrorLog?.(session, ctx, error) === true) return
      if (!proxyErrorChannel.hasSubscribers) return
      proxyErrorChannel.publish({
        summary: inner.requestSummary?.(session, ctx) ?? session.requestSummary(),
        error,
        retries: session.retries,
      })
    } catch {
      // A failing hook must not keep `logging` and the connection handling from running.
    }
  }

  /**
   * The request phases (`earlyRequestFilter`, the modules' request header filters,
   * `requestFilter`, `proxyUpstreamFilter`). Resolves `PROCEED` when the request goes on to an
   * upstream, else the outcome of a request answered or failed here (`undefined` = no error).
   */
  private async requestPhases(session: Session, ctx: Ctx): Promise<Outcome | undefined> {
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
        if (handled) return OK_REUSE
      }
      if (inner.proxyUpstreamFilter !== undefined) {
        const r = inner.proxyUpstreamFilter(session, ctx)
        const go: boolean = isThenable(r) ? await r : r
        if (!go) {
          if (session.responseWritten === undefined) await session.respondError(502)
          return OK_REUSE
        }
      }
    } catch (e) {
      return this.handleError(
        session,
        ctx,
        toError(e, ErrorType.InternalError, 'in a request phase', 'internal'),
      )
    }
    return PROCEED
  }

  /**
   * After a failed attempt: retries while the error allows it and attempts remain, then
   * answers the error. Resolves `undefined` (`OK_REUSE`) when a retry succeeded.
   */
  private async retryOrFail(
    session: Session,
    ctx: Ctx,
    first: PingoraError,
  ): Promise<Outcome | undefined> {
    let error = first
    for (;;) {
      if (session.responseWritten !== undefined && error.retry !== false) {
        error.setRetry(false).withContext(NOT_RETRYABLE_AFTER_RESPONSE)
      }
      if (error.retry !== true) break
      if (session.downstreamSession.retryBufferTruncated()) break
      if (session.retries >= this.maxRetries) break
      session.retries++
      const next = await this.proxyToUpstream(session, ctx)
      if (next === undefined) return OK_REUSE
      error = next
    }
    return this.handleError(session, ctx, error)
  }

  private async handleError(session: Session, ctx: Ctx, error: PingoraError): Promise<Outcome> {
    let result: FailToProxy
    try {
      if (this.inner.failToProxy !== undefined) {
        const r = this.inner.failToProxy(session, error, ctx)
        result = isThenable(r) ? await r : r
      } else {
        result = await defaultFailToProxy(session, error)
      }
    } catch {
      result = { errorCode: 0, canReuseDownstream: false }
    }
    const written = session.responseWritten
    if (written !== undefined && written.status >= 200 && result.errorCode === 0) {
      // The response had started when the request failed: close the connection so the client
      // sees a truncated response, never one that looks complete (no final chunk).
      session.downstreamSession.shutdown()
      return { error, reuseDownstream: false }
    }
    return { error, reuseDownstream: result.canReuseDownstream }
  }

  /**
   * One attempt: peer, connection, exchange. Resolves the error of a failed attempt. Not an
   * async function: choosing the peer and taking a pooled connection are synchronous, and the
   * caller awaits the exchange's own promise (one async frame per attempt, not three).
   */
  private proxyToUpstream(session: Session, ctx: Ctx): Promise<PingoraError | undefined> {
    let peer: HttpPeer | Promise<HttpPeer>
    try {
      peer = this.inner.upstreamPeer(session, ctx)
    } catch (e) {
      return Promise.resolve(upstreamPeerError(e))
    }
    if (isThenable(peer)) {
      return peer.then(
        (p) => this.proxyToPeer(session, ctx, p),
        (e: unknown) => upstreamPeerError(e),
      )
    }
    return this.proxyToPeer(session, ctx, peer)
  }

  /** The attempt once the peer is known: a pooled connection synchronously, else a new one. */
  private proxyToPeer(
    session: Session,
    ctx: Ctx,
    peer: HttpPeer,
  ): Promise<PingoraError | undefined> {
    // An idle pooled connection is taken synchronously (no promise, no extra tick); only a
    // new connection is awaited.
    const pooled = this.clientUpstream.reusedHttpSession(peer)
    if (pooled !== undefined) return this.proxyH1(session, ctx, peer, pooled, true)
    return this.connectAndProxy(session, ctx, peer)
  }

  private async connectAndProxy(
    session: Session,
    ctx: Ctx,
    peer: HttpPeer,
  ): Promise<PingoraError | undefined> {
    let client: ClientSession
    try {
      // The pool was just probed (and missed): connect without probing it again.
      client = await this.clientUpstream.newHttpSession(peer)
    } catch (e) {
      let error = toError(e, ErrorType.ConnectError, `connecting to ${peer}`, 'upstream')
      if (error.source === 'unset') error.setSource('upstream')
      if (this.inner.failToConnect !== undefined) {
        error = this.inner.failToConnect(session, peer, ctx, error)
      }
      return error
    }
    return await this.proxyH1(session, ctx, peer, client, false)
  }

  /**
   * The HTTP/1 exchange on a connected upstream session: request header and body up, 1xx and
   * the response down, both bodies streamed with backpressure; then the connection goes back to
   * the pool when it may be reused. Resolves the error of a failed exchange.
   *
   * Writes that did not have to wait return the settled `WRITE_SETTLED` and are not awaited,
   * and body bytes that arrived with the response head are taken synchronously: on a small
   * response the only awaits are for the upstream's response head.
   */
  private async proxyH1(
    session: Session,
    ctx: Ctx,
    peer: HttpPeer,
    client: ClientSession,
    reused: boolean,
  ): Promise<PingoraError | undefined> {
    const inner = this.inner
    const options = peer.options
    let reusable: boolean
    try {
      if (inner.connectedToUpstream !== undefined) {
        const r = inner.connectedToUpstream(session, reused, peer, client.digest, ctx)
        if (isThenable(r)) await r
      }
      const downstream = session.downstreamSession
      const modules = session.downstreamModulesCtx
      const isUpgrade = downstream.isUpgradeRequest()
      const request: RequestHeader = downstream.requestHeader.clone()
      const hasBody = !downstream.isBodyEmpty()
      const filtersRequestBody = inner.requestBodyFilter !== undefined || modules.filtersRequestBody

      removeHopByHopHeaders(request.headers, isUpgrade)
      request.setVersion('HTTP/1.1')
      if (hasBody && !isUpgrade) {
        if (filtersRequestBody || request.getHeader('Content-Length') === undefined) {
          request.removeHeader('Content-Length')
          request.insertHeader('Transfer-Encoding', 'chunked')
        }
      }
      if (inner.upstreamRequestFilter !== undefined) {
        const r = inner.upstreamRequestFilter(session, request, ctx)
        if (isThenable(r)) await r
      }
      let written = client.writeRequestHeader(request)
      if (written !== WRITE_SETTLED) await written
      session.upstreamHeaderSent = true

      // Request body: streamed up concurrently with reading the response (the origin may
      // answer early). A failure on the client side tears down the upstream exchange.
      let bodyError: unknown
      let bodyTask: Promise<void> | undefined
      if (hasBody && !isUpgrade) {
        bodyTask = this.sendRequestBody(session, ctx, client).catch((e) => {
          bodyError = e
          client.shutdown()
        })
      }

      let response: ResponseHeader
      try {
        for (;;) {
          response = await client.readResponseHeader()
          const status = response.status
          if (status >= 100 && status < 200 && status !== 101) {
            // 1xx: 100 only matters to a client that asked for it; 103 and others pass on.
            if (status === 100 && downstream.getHeader('Expect') === undefined) continue
            removeHopByHopHeaders(response.headers)
            await downstream.writeResponseHeader(response)
            continue
          }
          break
        }
      } catch (e) {
        if (bodyError !== undefined) throw bodyError
        throw e
      }

      if (response.status === 101) {
        if (!isUpgrade || !client.isUpgraded()) {
          throw PingoraError.upstream(
            ErrorType.H1Error,
            '101 response to a request without Upgrade',
          )
        }
        reusable = await this.tunnel(session, ctx, client, response)
      } else {
        const filtering = this.responseFilters(session, response, ctx)
        if (filtering !== undefined) await filtering
        removeHopByHopHeaders(response.headers)
        const filtersResponseBody =
          inner.responseBodyFilter !== undefined ||
          inner.upstreamResponseBodyFilter !== undefined ||
          modules.filtersResponseBody
        // A filter may change the length; HEAD, 204 and 304 keep theirs (it describes no body
        // here).
        if (
          filtersResponseBody &&
          request.method !== 'HEAD' &&
          response.status !== 204 &&
          response.status !== 304
        ) {
          response.removeHeader('Content-Length')
        }

        const noBody = client.isBodyDone()
        // A graceful shutdown started while this request was in flight: tell the client.
        if (session.isProcessShuttingDown()) downstream.setKeepalive(undefined)
        if (modules.modules.length > 0) await modules.responseHeaderFilter(response, noBody)
        if (filtersResponseBody) {
          written = downstream.writeResponseHeader(response, false)
          if (written !== WRITE_SETTLED) await written
          await this.relayResponseBody(session, ctx, client, noBody, undefined)
        } else {
          // Body bytes that came with the head are taken synchronously: a small response
          // (head and body in one read) leaves in one write, with no await and no tick.
          let first: Uint8Array | undefined
          let firstError: unknown
          if (!noBody) {
            try {
              first = client.tryReadResponseBody()
            } catch (e) {
              firstError = e
            }
          }
          if (first !== undefined && client.isBodyDone()) {
            session.upstreamBodyBytesReceived += first.length
            written = downstream.writeResponse(response, first)
            if (written !== WRITE_SETTLED) await written
          } else {
            written = downstream.writeResponseHeader(response, noBody)
            if (written !== WRITE_SETTLED) await written
            // A framing error in those bytes surfaces after the header, as on any later read.
            if (firstError !== undefined) throw firstError
            if (!noBody) await this.relayResponseBody(session, ctx, client, false, first)
          }
        }
        if (bodyTask !== undefined) {
          // The response is complete; the request body may still be flowing (an early answer).
          // Reuse the upstream connection only if the request was fully sent.
          if (!downstream.isBodyDone() && downstream.getKeepalive() === undefined) {
            // The client connection closes after this response anyway: do not wait (up to the
            // read timeout) for a body that may never come. The upstream connection, left with
            // a partial request, is closed; the downstream one closes with a bounded linger.
            client.shutdown()
            bodyTask.catch(() => {})
            return undefined
          }
          await bodyTask
          if (bodyError !== undefined) throw bodyError
        }
        reusable = true
      }
    } catch (e) {
      client.shutdown()
      let error = toError(e, ErrorType.InternalError, 'while proxying', 'internal')
      if (inner.errorWhileProxy !== undefined) {
        error = inner.errorWhileProxy(peer, session, error, ctx, reused)
      } else {
        error = defaultErrorWhileProxy(peer, session, error, reused)
      }
      return error
    }
    if (reusable) {
      this.clientUpstream.releaseHttpSession(client, peer, options.idleTimeoutMs)
    } else {
      client.shutdown()
    }
    return undefined
  }

  private async sendRequestBody(session: Session, ctx: Ctx, client: ClientSession): Promise<void> {
    const inner = this.inner
    const downstream = session.downstreamSession
    const modules = session.downstreamModulesCtx
    const hasModules = modules.modules.length > 0
    // Unfiltered, the proxy is the only user of each body piece (the retry buffer keeps a copy):
    // its read buffer is freed once written instead of waiting for a GC (ADR 0009).
    const owned = !hasModules && inner.requestBodyFilter === undefined
    // A retried attempt replays what was buffered from the client first.
    if (session.retries > 1) {
      const replay = downstream.getRetryBuffer()
      if (replay !== undefined && replay.length > 0) {
        let out: Uint8Array | undefined = replay
        // The end of the body is signalled by the read loop below (it reads `undefined`).
        if (hasModules) out = modules.requestBodyFilter(out, false)
        if (inner.requestBodyFilter !== undefined) {
          const r = inner.requestBodyFilter(session, out, false, ctx)
          out = isThenable(r) ? await r : r
        }
        if (out !== undefined && out.length > 0) await client.writeBody(out)
      }
    }
    for (;;) {
      let data: Uint8Array | undefined
      try {
        data = await downstream.readRequestBody()
      } catch (e) {
        throw toError(e, ErrorType.ReadError, 'reading the request body', 'downstream')
      }
      const eos = data === undefined
      if (hasModules) data = modules.requestBodyFilter(data, eos)
      if (inner.requestBodyFilter !== undefined) {
        const r = inner.requestBodyFilter(session, data, eos, ctx)
        data = isThenable(r) ? await r : r
      }
      if (data !== undefined && data.length > 0) {
        await client.writeBody(data)
        if (owned) client.releaseWrittenBody(data)
      }
      if (eos) break
    }
    await client.finishBody()
  }

  /**
   * Relays the rest of the response body: pieces already received are taken synchronously,
   * and only a write that has to wait (or a read of bytes not yet received) is awaited.
   */
  private async relayResponseBody(
    session: Session,
    ctx: Ctx,
    client: ClientSession,
    alreadyDone: boolean,
    first: Uint8Array | undefined,
  ): Promise<void> {
    const inner = this.inner
    const downstream = session.downstreamSession
    const modules = session.downstreamModulesCtx
    const hasModules = modules.modules.length > 0
    const upstreamFilter = inner.upstreamResponseBodyFilter
    const filter = inner.responseBodyFilter
    const filtered = upstreamFilter !== undefined || filter !== undefined || hasModules
    let pending = first
    for (;;) {
      let data: Uint8Array | undefined
      if (pending !== undefined) {
        // A piece the caller already took (unfiltered relay only).
        data = pending
        pending = undefined
      } else if (!alreadyDone) {
        data = client.tryReadResponseBody()
        if (data === undefined && !client.isBodyDone()) data = await client.readResponseBody()
      }
      let written: Promise<void>
      if (data !== undefined) {
        session.upstreamBodyBytesReceived += data.length
        if (!filtered && client.isBodyDone()) {
          // The last piece: it and the end of the body leave in one write, one pass fewer.
          written = downstream.writeResponseBody(data, true)
          if (written !== WRITE_SETTLED) await written
          downstream.releaseWrittenBody(data)
          break
        }
      }
      const eos = data === undefined
      // `call`: the phases are often class methods that use `this`.
      if (upstreamFilter !== undefined) data = upstreamFilter.call(inner, session, data, eos, ctx)
      if (filter !== undefined) data = filter.call(inner, session, data, eos, ctx)
      if (hasModules) data = modules.responseBodyFilter(data, eos)
      written = downstream.writeResponseBody(data, eos)
      if (written !== WRITE_SETTLED) await written
      // Unfiltered, the proxy is the only user of each piece: free its read buffer (ADR 0009).
      if (!filtered && data !== undefined) downstream.releaseWrittenBody(data)
      if (eos) break
    }
  }

  /**
   * Runs `upstreamResponseFilter` then `responseFilter` on the upstream's response header;
   * `undefined` (no promise) when the app defines neither.
   */
  private responseFilters(
    session: Session,
    response: ResponseHeader,
    ctx: Ctx,
  ): Promise<void> | undefined {
    const inner = this.inner
    if (inner.upstreamResponseFilter === undefined && inner.responseFilter === undefined) {
      return undefined
    }
    return this.runResponseFilters(session, response, ctx)
  }

  private async runResponseFilters(
    session: Session,
    response: ResponseHeader,
    ctx: Ctx,
  ): Promise<void> {
    const inner = this.inner
    if (inner.upstreamResponseFilter !== undefined) {
      const r = inner.upstreamResponseFilter(session, response, ctx)
      if (isThenable(r)) await r
    }
    if (inner.responseFilter !== undefined) {
      const r = inner.responseFilter(session, response, ctx)
      if (isThenable(r)) await r
    }
  }

  /** After a 101: raw bytes both ways until either side closes; no reuse afterwards. */
  private async tunnel(
    session: Session,
    ctx: Ctx,
    client: ClientSession,
    response: ResponseHeader,
  ): Promise<boolean> {
    const downstream = session.downstreamSession
    const filtering = this.responseFilters(session, response, ctx)
    if (filtering !== undefined) await filtering
    removeHopByHopHeaders(response.headers, true)
    await session.writeResponseHeader(response, false)
    // Client → upstream. On the client's EOF, half-close the upstream so it sees the end too.
    // No filter sees tunnel bytes: each piece is freed once written (ADR 0009).
    const up = (async () => {
      for (;;) {
        const data = await downstream.readRequestBody()
        if (data === undefined) break
        await client.writeBody(data)
        client.releaseWrittenBody(data)
      }
      // Half-close only: the upstream may still answer what it received.
      client.shutdownWrite()
    })()
    // Upstream → client, until the upstream closes.
    const down = (async () => {
      for (;;) {
        const data = await client.readResponseBody()
        await downstream.writeResponseBody(data, data === undefined)
        if (data === undefined) break
        downstream.releaseWrittenBody(data)
      }
    })()
    let upDone = false
    const upSettled = up.then(
      () => {
        upDone = true
      },
      (e: unknown) => {
        upDone = true
        throw e
      },
    )
    // Either direction may end first. When the upstream ends, the tunnel is over: the client
    // connection is closed by finish(), which also ends the pending client read.
    upSettled.catch(() => {})
    await Promise.race([upSettled.catch(() => {}), down.catch(() => {})])
    if (upDone) {
      await down.catch(ignoreClosed)
      await upSettled.catch(ignoreClosed)
    } else {
      await down.catch(ignoreClosed)
    }
    return false
  }
}

/**
 * The default `errorWhileProxy`: names the peer in the context and resolves a
 * `'reused-only'` retry: retry only when the upstream connection was reused, the request body
 * is still fully buffered and nothing was sent to the client yet.
 * @param peer - the peer
 * @param session - the proxy session
 * @param error - the error
 * @param reused - whether the upstream connection came from the pool
 */
export function defaultErrorWhileProxy(
  peer: HttpPeer,
  session: Session,
  error: PingoraError,
  reused: boolean,
): PingoraError {
  error.withContext(`Peer: ${peer}`)
  if (error.retry === 'reused-only') {
    error.setRetry(
      reused &&
        !session.downstreamSession.retryBufferTruncated() &&
        session.responseWritten === undefined,
    )
  }
  return error
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
