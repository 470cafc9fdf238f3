import type { CacheKey, CacheMeta, HashHex, HitHandler, RespCacheable } from '@pingora-ts/cache'
import type { Digest, HttpModules, HttpPeer } from '@pingora-ts/core'
import type { PingoraError } from '@pingora-ts/error'
import type { HeaderMap, RequestHeader, ResponseHeader } from '@pingora-ts/http'
import type { Session } from './session.ts'

/** A value or a promise of it: phases may be synchronous; only a thenable is awaited. */
export type MaybePromise<T> = T | Promise<T>

/**
 * What {@link ProxyHttp.failToProxy} decided: the status sent to the client (`undefined` when
 * nothing was sent) and whether the client connection may serve another request.
 */
export interface FailToProxy {
  /** The status code written to the client, or `undefined` when no response was written. */
  errorCode: number | undefined
  /** Whether the downstream connection may be kept alive. */
  canReuseDownstream: boolean
}

/**
 * What {@link ProxyHttp.cacheHitFilter} may impose on a stored response found by a lookup:
 * serve it as fresh, treat it as expired (revalidate), or ignore it (a miss).
 */
export type ForcedFreshness = 'ForceFresh' | 'ForceExpired' | 'ForceMiss'

/**
 * The outcome of a purge request ({@link ProxyHttp.isPurge}): `Found` (200), `NotFound`
 * (404), `NoCache` (405: the cache is not enabled for the request), `Error` (500).
 */
export type PurgeStatus = 'Found' | 'NotFound' | 'NoCache' | 'Error'

/**
 * The phases of a proxied HTTP request: implement the ones you need. Port of
 * `pingora-proxy/src/proxy_trait.rs`; the order is Pingora's (see `docs/phase.md`):
 *
 * `earlyRequestFilter` → downstream modules → `requestFilter` → cache phases
 * (`requestCacheFilter` → `cacheKeyCallback` → `isPurge`/`purgeResponseFilter` → lookup with
 * `cacheVaryFilter`, `cacheHitFilter` or `cacheMissFilter`, `shouldServeStale`; a hit is
 * answered here through `cacheNotModifiedFilter`, `responseFilter` and `responseBodyFilter`) →
 * `proxyUpstreamFilter` →
 * (`upstreamPeer` → connect → `connectedToUpstream` → `upstreamRequestFilter` →
 * `requestBodyFilter`* → `upstreamResponseFilter` → `responseFilter` →
 * `upstreamResponseBodyFilter`* / `responseBodyFilter`*), retried on retryable errors
 * (`failToConnect`, `errorWhileProxy`) → on a fatal error `failToProxy` → `logging` (always).
 *
 * Only `newCtx` and `upstreamPeer` are required. A phase that is not implemented costs nothing
 * per request. Header phases, `upstreamPeer`, `failToProxy` and `logging` may return a promise;
 * the per-chunk response body filters and the retry decisions are synchronous by design.
 *
 * Phases are declared as function-typed properties, not methods, so TypeScript checks their
 * parameters strictly: a phase that swaps `ctx` and `error` (`failToConnect(session, peer,
 * error, ctx)`) fails to compile even with the default `Ctx = unknown`. Implement them as
 * methods of a class or an object literal as usual.
 *
 * @example
 * ```ts
 * import { HttpPeer } from '@pingora-ts/core'
 * import { ErrorType, PingoraError } from '@pingora-ts/error'
 * import type { RequestHeader } from '@pingora-ts/http'
 * import type { LoadBalancer, RoundRobin } from '@pingora-ts/load-balancing'
 * import type { ProxyHttp, Session } from '@pingora-ts/proxy'
 *
 * class LB implements ProxyHttp<void> {
 *   readonly upstreams: LoadBalancer<RoundRobin>
 *   constructor(upstreams: LoadBalancer<RoundRobin>) {
 *     this.upstreams = upstreams
 *   }
 *   newCtx(): void {}
 *   upstreamPeer(_session: Session): HttpPeer {
 *     const upstream = this.upstreams.select(Buffer.alloc(0), 256)
 *     if (!upstream) throw PingoraError.explain(ErrorType.HTTPStatus(502), 'no healthy upstream')
 *     return new HttpPeer(upstream, true, 'one.one.one.one')
 *   }
 *   upstreamRequestFilter(_session: Session, upstreamRequest: RequestHeader): void {
 *     upstreamRequest.insertHeader('Host', 'one.one.one.one')
 *   }
 * }
 * ```
 */
export interface ProxyHttp<Ctx = unknown> {
  /**
   * Creates the per-request state shared by every phase of one request.
   * Runs first for each request.
   */
  newCtx: () => Ctx

  /**
   * Chooses where to send the request. Called once per attempt: again after a retryable
   * connect error ({@link ProxyHttp.failToConnect}) or a retryable proxy error
   * ({@link ProxyHttp.errorWhileProxy}). Throw a `PingoraError` to fail the request (e.g.
   * `ErrorType.HTTPStatus(502)` when no backend is healthy). Required.
   */
  upstreamPeer: (session: Session, ctx: Ctx) => MaybePromise<HttpPeer>

  /**
   * Adds downstream modules once, when the proxy is built. Default: none.
   * @see {@link HttpModules}
   */
  initDownstreamModules?: (modules: HttpModules) => void

  /**
   * Runs first for every request, before the downstream modules and
   * {@link ProxyHttp.requestFilter}. Throwing fails the request (→ `failToProxy`).
   * Default: nothing.
   */
  earlyRequestFilter?: (session: Session, ctx: Ctx) => MaybePromise<void>

  /**
   * Runs after the request header is read and the modules ran: reject, answer locally,
   * rewrite or route. Return `true` when this filter already sent a response; the proxy
   * then skips to {@link ProxyHttp.logging}. Default: `false` (continue).
   * @see {@link ProxyHttp.earlyRequestFilter}, {@link ProxyHttp.proxyUpstreamFilter}
   */
  requestFilter?: (session: Session, ctx: Ctx) => MaybePromise<boolean>

  /**
   * Turns the cache on for this request: call `session.cache.enable({ storage, lock,
   * predictor, maxFileSizeBytes, now })`. Runs after `requestFilter`, synchronously. Enable
   * it for every request the route may cache (unsafe methods included): the engine itself
   * keeps the cache out of methods other than GET/HEAD, requests with a body or
   * `Cache-Control: no-store` (status `'bypass'`), and uses the key of an unsafe request to
   * invalidate the stored response after a 2xx/3xx answer (RFC 9111 section 4.4). Default: not
   * implemented, the cache stays disabled and the proxy pays nothing for the cache phases.
   * @see {@link ProxyHttp.cacheKeyCallback}, {@link Session.cacheStatus}, `docs/cache.md`
   */
  requestCacheFilter?: (session: Session, ctx: Ctx) => void

  /**
   * Builds the cache key of a request, once the cache is enabled. Synchronous. Build it from
   * `request`: it is the session's request, except when a successful unsafe request
   * invalidates its same-origin `Location` / `Content-Location` targets (RFC 9111 section
   * 4.4), where it is a `GET` of that target (a copy of the unsafe request's header with the
   * target's path and query: same `Host`, same other fields). A callback that returns the
   * unsafe request's own key for a target (it read `session.requestHeader`) gets that target
   * skipped. Default: {@link defaultCacheKey} (namespace `''`, primary `Host` + path and
   * query); Pingora has no default.
   * @param request - the request to key
   * @see {@link ProxyHttp.requestCacheFilter}
   */
  cacheKeyCallback?: (session: Session, ctx: Ctx, request: RequestHeader) => CacheKey

  /**
   * Whether this request is a purge of its key. When `true` the stored response (and the
   * request's `Vary` variant) is removed and a canned response sent (200 found, 404 not
   * found, 405 cache not enabled, 500 storage error) after {@link ProxyHttp.purgeResponseFilter};
   * the request does not go upstream. Synchronous. Default: `false` (no purge handler; a
   * typical implementation: `session.requestHeader.method === 'PURGE'` plus an access check).
   */
  isPurge?: (session: Session, ctx: Ctx) => boolean

  /**
   * Modifies the canned response of a purge before it is sent. Synchronous; throwing sends a
   * 500 instead. Default: nothing.
   * @param status - what the purge found
   * @param response - the response to send, modified in place
   * @see {@link ProxyHttp.isPurge}
   */
  purgeResponseFilter?: (
    session: Session,
    ctx: Ctx,
    status: PurgeStatus,
    response: ResponseHeader,
  ) => void

  /**
   * Computes the variance (secondary key) of a stored response for this request: the hash of
   * the request fields its `Vary` names. Runs at lookup (on the primary entry) and at
   * admission. Synchronous. Return `undefined` when the response does not vary. Default:
   * {@link defaultCacheVaryFilter} (RFC 9111 section 4.1: every field `Vary` names, values
   * joined); Pingora's default ignores `Vary`.
   */
  cacheVaryFilter?: (meta: CacheMeta, ctx: Ctx, request: RequestHeader) => HashHex | undefined

  /**
   * Runs after a lookup found a stored response (fresh or not): return a
   * {@link ForcedFreshness} to override the freshness, or `undefined` to keep it. Default:
   * `undefined`.
   * @param meta - the stored response's meta
   * @param hit - its body reader (do not read it here)
   * @param isFresh - the freshness computed from the meta
   */
  cacheHitFilter?: (
    session: Session,
    meta: CacheMeta,
    hit: HitHandler,
    isFresh: boolean,
    ctx: Ctx,
  ) => MaybePromise<ForcedFreshness | undefined>

  /**
   * Runs when a lookup found nothing (or a lookup error): records the miss. Synchronous.
   * Default: `session.cache.cacheMiss()`; an implementation should call it too.
   */
  cacheMissFilter?: (session: Session, ctx: Ctx) => void

  /**
   * Decides, after `requestFilter` and a cache miss (or when no cache is used), whether to go
   * upstream at all. Return `false` to stop: a `502` is sent unless a response was already
   * written, and the cache is disabled (`DeclinedToUpstream`). Default: `true`.
   */
  proxyUpstreamFilter?: (session: Session, ctx: Ctx) => MaybePromise<boolean>

  /**
   * Runs after a connection to the upstream is made or taken from the pool.
   * @param reused - whether the connection came from the pool
   * @param peer - the peer connected to
   * @param digest - the upstream connection's facts (addresses, timing, TLS)
   * Default: nothing.
   */
  connectedToUpstream?: (
    session: Session,
    reused: boolean,
    peer: HttpPeer,
    digest: Digest | undefined,
    ctx: Ctx,
  ) => MaybePromise<void>

  /**
   * Modifies the request header sent upstream (a copy of the client's, hop-by-hop headers
   * already removed). Runs for every attempt. Default: nothing.
   * @see {@link ProxyHttp.requestBodyFilter}
   */
  upstreamRequestFilter?: (
    session: Session,
    upstreamRequest: RequestHeader,
    ctx: Ctx,
  ) => MaybePromise<void>

  /**
   * Sees every request body chunk before it goes upstream, after the upstream request header
   * was sent. Return the bytes to forward (the same chunk, a new one, or `undefined` to
   * forward nothing). When implemented, the upstream request uses chunked framing because the
   * length may change. Default: forward as is.
   */
  requestBodyFilter?: (
    session: Session,
    body: Uint8Array | undefined,
    endOfStream: boolean,
    ctx: Ctx,
  ) => MaybePromise<Uint8Array | undefined>

  /**
   * Modifies the upstream's response header before anything else sees it (and, later,
   * before it is cached). Default: nothing.
   * @see {@link ProxyHttp.responseFilter}
   */
  upstreamResponseFilter?: (
    session: Session,
    upstreamResponse: ResponseHeader,
    ctx: Ctx,
  ) => MaybePromise<void>

  /**
   * Decides whether the origin's response may be stored (also the merged header of a 304
   * revalidation): return `{ cacheable: true, meta }` or `{ cacheable: false, reason }`.
   * Runs after `upstreamResponseFilter` (its changes are stored), when the cache is enabled.
   * Synchronous. Default: {@link defaultResponseCacheFilter} (RFC 9111: `no-store`,
   * `private`, `Authorization`, `s-maxage`/`max-age`/`Expires`, heuristic freshness); Pingora's
   * default stores nothing.
   * @see {@link ProxyHttp.cacheVaryFilter}
   */
  responseCacheFilter?: (session: Session, response: ResponseHeader, ctx: Ctx) => RespCacheable

  /**
   * Whether a stored response should answer a conditional request with `304 Not Modified`
   * (on hits, and on misses being stored). Synchronous. Default: `notModifiedFilter` of
   * `@pingora-ts/cache` (`If-None-Match`, else `If-Modified-Since`; GET/HEAD; 200 only).
   */
  cacheNotModifiedFilter?: (session: Session, response: ResponseHeader, ctx: Ctx) => boolean

  /**
   * Whether to serve an expired stored response: with `error === undefined` for
   * stale-while-revalidate (the response is served at once while a background request
   * refreshes it), with the error for stale-if-error (the origin failed or answered 5xx).
   * Only asked when the response's own stale windows allow it. Synchronous. Default:
   * `error?.source === 'upstream'` (stale-if-error on, stale-while-revalidate off, as in
   * Pingora).
   */
  shouldServeStale?: (session: Session, ctx: Ctx, error: PingoraError | undefined) => boolean

  /**
   * Modifies the response header sent to the client. Runs for every response the proxy
   * relays, cache hits included ({@link Session.cacheStatus} tells them apart). Default:
   * nothing.
   */
  responseFilter?: (
    session: Session,
    upstreamResponse: ResponseHeader,
    ctx: Ctx,
  ) => MaybePromise<void>

  /**
   * Sees every upstream response body chunk (synchronous: hot path). Return the bytes to
   * forward, or `undefined` to drop the chunk. When implemented, the response loses its
   * `Content-Length` and is sent chunked. Default: forward as is.
   * @see {@link ProxyHttp.responseBodyFilter}
   */
  upstreamResponseBodyFilter?: (
    session: Session,
    body: Uint8Array | undefined,
    endOfStream: boolean,
    ctx: Ctx,
  ) => Uint8Array | undefined

  /**
   * Sees every response body chunk sent to the client (synchronous: hot path). Return the
   * bytes to send, or `undefined` to send nothing for this chunk. When implemented, the
   * response loses its `Content-Length` and is sent chunked. Default: send as is.
   */
  responseBodyFilter?: (
    session: Session,
    body: Uint8Array | undefined,
    endOfStream: boolean,
    ctx: Ctx,
  ) => Uint8Array | undefined

  /**
   * Modifies the trailers the upstream sent after its response body (HTTP/2: gRPC's
   * `grpc-status`, `grpc-message` and trailing metadata). Runs once, after the last body chunk,
   * only when the upstream sent trailers; synchronous (end of the body relay). Default: nothing.
   * @see {@link ProxyHttp.responseTrailerFilter}
   */
  upstreamResponseTrailerFilter?: (session: Session, upstreamTrailers: HeaderMap, ctx: Ctx) => void

  /**
   * Modifies the trailers sent to the client, right after
   * {@link ProxyHttp.upstreamResponseTrailerFilter}; synchronous. Return bytes to send as a last
   * body piece before the end (how a bridge such as gRPC-web puts trailers in the body), or
   * `undefined`. The trailers then reach an HTTP/2 client as a HEADERS frame, an HTTP/1.1 client
   * in the last chunk only if it sent `TE: trailers` (otherwise they are dropped). Default:
   * nothing.
   * @see {@link ProxyHttp.responseBodyFilter}
   */
  responseTrailerFilter?: (
    session: Session,
    upstreamTrailers: HeaderMap,
    ctx: Ctx,
  ) => Uint8Array | undefined

  /**
   * Runs at the end of every request, success or failure (access logs, metrics).
   * @param error - the error that ended the request, if any
   * Default: nothing.
   */
  logging?: (session: Session, error: PingoraError | undefined, ctx: Ctx) => MaybePromise<void>

  /**
   * Decides about a connect failure (nothing was sent upstream yet). Mark the error
   * retryable (`error.setRetry(true)`) to try again: `upstreamPeer` is asked again, up to
   * `maxRetries` attempts. Return the (possibly new) error. Default: the error unchanged (not
   * retried).
   */
  failToConnect?: (session: Session, peer: HttpPeer, ctx: Ctx, error: PingoraError) => PingoraError

  /**
   * Decides about an error after the upstream connection was established. Default: add the
   * peer to the context and resolve `'reused-only'` retries: retry only when the connection
   * was reused and the request body is still fully buffered.
   * @param clientReused - whether the upstream connection (the proxy's client session) came
   *   from the pool, as in Pingora; pass it on to `defaultErrorWhileProxy`
   */
  errorWhileProxy?: (
    peer: HttpPeer,
    session: Session,
    error: PingoraError,
    ctx: Ctx,
    clientReused: boolean,
  ) => PingoraError

  /**
   * Answers the client after a fatal error. Default: {@link defaultFailToProxy} (502 for
   * upstream errors, 504 for upstream timeouts, 400 for bad requests, 500 otherwise, the
   * error's own status for `HTTPStatus`; nothing when the client went away).
   */
  failToProxy?: (session: Session, error: PingoraError, ctx: Ctx) => MaybePromise<FailToProxy>

  /**
   * Whether to skip the error event for this failure. Default: `false`.
   */
  suppressErrorLog?: (session: Session, ctx: Ctx, error: PingoraError) => boolean

  /**
   * The one-line description of the request in error events. Default:
   * `METHOD PATH, Host: HOST`.
   */
  requestSummary?: (session: Session, ctx: Ctx) => string

  /**
   * Returns state to carry to the next request on the same keep-alive connection (passed
   * to {@link ProxyHttp.onConnectionReuse}). Runs after `logging` when the connection is
   * reusable. Default: nothing carried.
   */
  persistConnectionContext?: (session: Session, ctx: Ctx) => unknown

  /**
   * Receives what {@link ProxyHttp.persistConnectionContext} returned for the previous
   * request on this connection. Runs before `earlyRequestFilter`. Default: nothing.
   */
  onConnectionReuse?: (session: Session, ctx: Ctx, previous: unknown) => void
}
