import {
  CacheControl,
  CacheKey,
  type CacheMeta,
  CacheMetaDefaults,
  channels as cacheChannels,
  type HashHex,
  type HitHandler,
  type HitStatus,
  HttpCache,
  invalidationTargets,
  NoCacheReason,
  notModifiedFilter,
  RangeBodyFilter,
  type RespCacheable,
  rangeHeaderFilter,
  requestCacheable,
  respCacheable,
  toNotModified,
  VarianceBuilder,
  varyNames,
} from '@pingora-ts/cache'
import type { ClientSession, Http2ClientSession, HttpConnector, HttpPeer } from '@pingora-ts/core'
import { ErrorType, PingoraError } from '@pingora-ts/error'
import { type RequestHeader, ResponseHeader } from '@pingora-ts/http'
import type { DownstreamWriter, ResponseBodySource } from './downstream-writer.ts'
import { removeHopByHopHeaders } from './hop-by-hop.ts'
import { isThenable } from './proxy-common.ts'
import type { ProxyHttp, PurgeStatus } from './proxy-trait.ts'
import type { Session } from './session.ts'

const EMPTY = new Uint8Array(0)
/** Body bytes of a hit read before the header is written, so a small hit leaves in one write. */
const PRIME_BYTES = 128 * 1024
/** The most lock rounds (wait, look up again) before going to the origin without the cache. */
const MAX_LOCK_ROUNDS = 8
/** Freshness defaults of {@link defaultResponseCacheFilter}: none beyond the RFC's heuristic. */
const NO_DEFAULTS = new CacheMetaDefaults(() => undefined)
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE'])
const PURGE_STATUS: Record<PurgeStatus, number> = {
  Found: 200,
  NotFound: 404,
  NoCache: 405,
  Error: 500,
}

/**
 * The default cache key (`cacheKeyCallback`): namespace `''`, primary key the `Host` (or
 * `:authority`) followed by the path and query.
 * @param session - the proxy session
 * @param request - the request to key. @defaultValue the session's request
 */
export function defaultCacheKey(
  session: Session,
  request: RequestHeader = session.requestHeader,
): CacheKey {
  return new CacheKey(
    '',
    `${request.getHeader('host') ?? request.uri.split('/')[2] ?? ''}${request.uri}`,
  )
}

/**
 * The default `cacheVaryFilter` (RFC 9111 section 4.1): the variance of the fields the
 * stored response's `Vary` names, as this request carries them; `undefined` when it has no
 * `Vary` (or `Vary: *`, which `responseCacheFilter` never stores).
 * @param meta - the stored (or admitted) response's meta
 * @param request - the request
 */
export function defaultCacheVaryFilter(
  meta: CacheMeta,
  request: RequestHeader,
): HashHex | undefined {
  const names = varyNames(meta.header)
  if (names === undefined || names === '*') return undefined
  const builder = new VarianceBuilder()
  for (const name of names) builder.addValue(name, request.getHeaderAll(name).join(', '))
  return builder.finalize()
}

/**
 * The default `responseCacheFilter`: RFC 9111's decision (`respCacheable` of
 * `@pingora-ts/cache`) on the response, with the request's `Authorization` and the clock of
 * the session's cache. Pass `defaults` to give freshness to responses that set none.
 * @param session - the proxy session (its cache is enabled)
 * @param response - the origin's response header
 * @param defaults - freshness and serve-stale defaults by status
 */
export function defaultResponseCacheFilter(
  session: Session,
  response: ResponseHeader,
  defaults: CacheMetaDefaults = NO_DEFAULTS,
): RespCacheable {
  return respCacheable(
    CacheControl.fromHeaders(response.headers),
    response,
    session.requestHeader.headers.has('authorization'),
    defaults,
    session.cache.now(),
  )
}

/**
 * The cache engine of the proxy (Pingora's `proxy_cache.rs`): the cache step between the
 * request filters and the upstream, serving hits through the {@link DownstreamWriter}; the
 * response side of a miss (admission, the body teed into the storage while it streams to the
 * client, 304 revalidation, stale-if-error); stale-while-revalidate background refreshes;
 * purges; invalidation by unsafe methods. Built only when the app implements
 * `requestCacheFilter`.
 * @internal
 */
export class ProxyCache<Ctx> {
  readonly #inner: ProxyHttp<Ctx>
  readonly #writer: DownstreamWriter<Ctx>
  readonly #connector: HttpConnector

  /**
   * @param inner - the user's phases
   * @param writer - the downstream writer
   * @param connector - the upstream connector (background refreshes)
   */
  constructor(inner: ProxyHttp<Ctx>, writer: DownstreamWriter<Ctx>, connector: HttpConnector) {
    this.#inner = inner
    this.#writer = writer
    this.#connector = connector
  }

  /**
   * The cache step: `requestCacheFilter`, the key, purge, lookup (with the lock) and, on a
   * fresh hit or a stale one that may be served, the response. Resolves `true` when the
   * request was answered.
   * @param session - the proxy session
   * @param ctx - the request's ctx
   */
  async cacheStep(session: Session, ctx: Ctx): Promise<boolean> {
    const inner = this.#inner
    inner.requestCacheFilter?.(session, ctx)
    const cache = session.cacheIfUsed
    if (cache === undefined || !cache.enabled) return false
    session.cacheStatus = 'miss'
    const request = session.requestHeader
    cache.setCacheKey(
      inner.cacheKeyCallback !== undefined
        ? inner.cacheKeyCallback(session, ctx, request)
        : defaultCacheKey(session, request),
    )
    if (inner.isPurge?.(session, ctx) === true) {
      await this.#purge(session, ctx, cache)
      return true
    }
    // Only GET/HEAD without a body and without `no-store` use the cache; the key stays for
    // the invalidation an unsafe method causes.
    if (!requestCacheable(request) || !session.downstreamSession.isBodyEmpty()) {
      session.cacheStatus = 'bypass'
      cache.disable(NoCacheReason.RequestNotCacheable)
      return false
    }
    if (cache.predictedUncacheable()) {
      session.cacheStatus = 'bypass'
      cache.bypass()
      return false
    }
    const varyFilter = this.#varyFilter(ctx)
    for (let round = 0; ; round++) {
      const found = await cache.lookup(request, varyFilter)
      if (found !== undefined) {
        let status: HitStatus = cache.hitStatus(found.meta)
        if (inner.cacheHitFilter !== undefined) {
          const r = inner.cacheHitFilter(session, found.meta, found.hit, status === 'Fresh', ctx)
          const forced = isThenable(r) ? await r : r
          if (forced !== undefined) status = forced
        }
        cache.cacheFound(found.meta, found.hit, status)
        if (cache.phase === 'Hit') {
          session.cacheStatus = 'hit'
          await this.#serveStored(session, ctx)
          return true
        }
      } else if (inner.cacheMissFilter !== undefined) {
        inner.cacheMissFilter(session, ctx)
      } else {
        cache.cacheMiss()
      }
      if (cache.phase === 'Expired') session.cacheStatus = 'expired'
      if (round >= MAX_LOCK_ROUNDS) {
        cache.disable(NoCacheReason.CacheLockTimeout)
        return false
      }
      const lock = await cache.lockOrWait()
      if (lock === 'write') {
        if (
          cache.phase === 'Expired' &&
          cache.canServeStaleUpdating() &&
          this.#shouldServeStale(session, ctx, undefined)
        ) {
          const background = cache.spawnBackgroundRefresh()
          void this.#refresh(session, ctx, background)
          session.cacheStatus = 'updating'
          await this.#serveStored(session, ctx)
          return true
        }
        return false
      }
      if (cache.phase === 'Expired') await cache.finishHit()
      if (lock === 'GiveUp') {
        session.cacheStatus = 'bypass'
        cache.disable(NoCacheReason.CacheLockGiveUp)
        return false
      }
      if (lock === 'WaitTimeout') {
        session.cacheStatus = 'bypass'
        cache.disable(NoCacheReason.CacheLockTimeout)
        return false
      }
      // Done, TransientError, Dangling, AgeTimeout: look up again (and compete for the lock).
    }
  }

  /**
   * Whether the upstream exchange of this request involves the cache (a fill, a revalidation,
   * or an invalidation to do); else the plain writer path is taken.
   * @param session - the proxy session
   */
  involved(session: Session): boolean {
    const cache = session.cacheIfUsed
    return (
      cache !== undefined &&
      (cache.enabled ||
        (cache.cacheKey !== undefined && !SAFE_METHODS.has(session.requestHeader.method)))
    )
  }

  /**
   * Prepares the upstream request of a cached request: `HEAD` becomes `GET`, the client's
   * `Range` and conditionals go, the stored validators come when revalidating.
   * @param session - the proxy session
   * @param request - the upstream request header
   */
  upstreamRequestFilter(session: Session, request: RequestHeader): void {
    const cache = session.cacheIfUsed
    if (cache?.enabled === true) cache.upstreamRequestFilter(request)
  }

  /**
   * `proxyUpstreamFilter` declined: the cache is disabled (`DeclinedToUpstream`).
   * @param session - the proxy session
   */
  declined(session: Session): void {
    session.cacheIfUsed?.disable(NoCacheReason.DeclinedToUpstream)
  }

  /**
   * Writes an upstream response when the cache is involved: `upstreamResponseFilter`, then a
   * 304 revalidation or a stale-if-error answer from the stored response, or admission with
   * `responseCacheFilter` and the body teed into the storage as it streams to the client.
   * Leaves the upstream connection reusable (its body fully read) unless it throws.
   * @param session - the proxy session
   * @param ctx - the request's ctx
   * @param response - the upstream's final response header
   * @param client - the upstream session (the body)
   */
  async writeFromUpstream(
    session: Session,
    ctx: Ctx,
    response: ResponseHeader,
    client: ClientSession,
  ): Promise<void> {
    const inner = this.#inner
    const cache = session.cache
    const request = session.requestHeader
    if (inner.upstreamResponseFilter !== undefined) {
      const r = inner.upstreamResponseFilter(session, response, ctx)
      if (isThenable(r)) await r
    }
    if (!cache.enabled) {
      await this.#invalidate(session, ctx, cache, response)
      const writing = this.#writer.write(
        session,
        ctx,
        request.method,
        response,
        new FillSource(this.#inner, session, ctx, client, undefined, false, undefined),
        false,
      )
      if (writing !== undefined) await writing
      return
    }
    const status = response.status
    if (status === 304 && cache.phase === 'Expired') {
      await drain(client)
      await cache.revalidated(response, (merged) => {
        const decision = this.#responseCacheable(session, merged, ctx)
        return decision.cacheable ? { meta: decision.meta } : { reason: decision.reason }
      })
      session.cacheStatus = 'revalidated'
      await this.#serveStored(session, ctx)
      return
    }
    if (
      status >= 500 &&
      cache.canServeStaleError() &&
      this.#shouldServeStale(
        session,
        ctx,
        PingoraError.upstream(ErrorType.HTTPStatus(status), `the origin answered ${status}`),
      )
    ) {
      await drain(client)
      cache.setStale()
      session.cacheStatus = 'stale'
      await this.#serveStored(session, ctx)
      return
    }
    if (cache.phase === 'Expired') await cache.finishHit()
    if (status === 304) {
      // A 304 to a request the cache did not make conditional: nothing to store.
      cache.disable(NoCacheReason.OriginNotCache)
    } else {
      const decision = this.#responseCacheable(session, response, ctx)
      if (decision.cacheable) {
        await cache.admit(decision.meta, this.#varyFilter(ctx)(decision.meta, request))
      } else {
        cache.responseUncacheable(decision.reason)
      }
    }
    // The client's conditional and range requests, answered from the response being stored.
    let discard = request.method === 'HEAD'
    let range: RangeBodyFilter | undefined
    if (cache.enabled && !discard) {
      if (this.#notModified(session, response, ctx)) {
        toNotModified(response)
        discard = true
      } else {
        const contentType = response.getHeader('content-type')
        const length = Number(response.getHeader('content-length'))
        const decision = rangeHeaderFilter(request, response)
        if (decision.kind === 'invalid') discard = true
        else if (decision.kind !== 'none') {
          range = new RangeBodyFilter(decision, contentType, length)
        }
      }
    }
    if (inner.upstreamResponseBodyFilter !== undefined && !discard) {
      response.removeHeader('Content-Length')
    }
    const source = new FillSource(
      inner,
      session,
      ctx,
      client,
      range,
      discard,
      cache.enabled ? cache : undefined,
    )
    try {
      const writing = this.#writer.write(session, ctx, request.method, response, source, false)
      if (writing !== undefined) await writing
    } catch (error) {
      // The client left during a fill: the fill goes on without it (within the detached-fill
      // bound), so readers streaming it and the next request get the whole response. The
      // request still fails with the client's error (the upstream connection is closed).
      if (isDownstreamError(error) && cache.isFilling && cache.detach()) {
        await source.fillDetached()
      }
      throw error
    }
  }

  /**
   * After the last attempt failed: serves the stored response when stale-if-error allows it
   * and `shouldServeStale` agrees. Resolves `true` when it answered.
   * @param session - the proxy session
   * @param ctx - the request's ctx
   * @param error - the error of the last attempt
   */
  async serveStaleOnError(session: Session, ctx: Ctx, error: PingoraError): Promise<boolean> {
    const cache = session.cacheIfUsed
    if (
      cache === undefined ||
      session.responseWritten !== undefined ||
      !cache.canServeStaleError() ||
      !this.#shouldServeStale(session, ctx, error)
    ) {
      return false
    }
    cache.setStale()
    session.cacheStatus = 'stale'
    await this.#serveStored(session, ctx)
    return true
  }

  /**
   * Ends the request's use of the cache: an unfinished fill is aborted, the lock released.
   * @param session - the proxy session
   */
  async finish(session: Session): Promise<void> {
    const cache = session.cacheIfUsed
    if (cache !== undefined) await cache.finish()
  }

  #varyFilter(ctx: Ctx): (meta: CacheMeta, request: RequestHeader) => HashHex | undefined {
    const filter = this.#inner.cacheVaryFilter
    if (filter === undefined) return defaultCacheVaryFilter
    return (meta, request) => filter.call(this.#inner, meta, ctx, request)
  }

  #responseCacheable(session: Session, response: ResponseHeader, ctx: Ctx): RespCacheable {
    const filter = this.#inner.responseCacheFilter
    if (filter === undefined) return defaultResponseCacheFilter(session, response)
    return filter.call(this.#inner, session, response, ctx)
  }

  #shouldServeStale(session: Session, ctx: Ctx, error: PingoraError | undefined): boolean {
    const filter = this.#inner.shouldServeStale
    if (filter === undefined) return error?.source === 'upstream'
    return filter.call(this.#inner, session, ctx, error)
  }

  #notModified(session: Session, response: ResponseHeader, ctx: Ctx): boolean {
    const filter = this.#inner.cacheNotModifiedFilter
    if (filter === undefined) return notModifiedFilter(session.requestHeader, response)
    return filter.call(this.#inner, session, response, ctx)
  }

  /**
   * Serves the stored response the cache holds (hit, revalidated, stale): `Age`, the client's
   * conditional (304) and `Range` (206/416), then the downstream writer (`responseFilter`,
   * body filters and modules run as for an upstream response).
   */
  async #serveStored(session: Session, ctx: Ctx): Promise<void> {
    const cache = session.cache
    const request = session.requestHeader
    const header = cache.responseHeader()
    const hit = cache.hitHandler
    if (header === undefined || hit === undefined) {
      throw PingoraError.internal(ErrorType.InternalError, 'no stored response to serve')
    }
    let source: HitBodySource
    if (this.#notModified(session, header, ctx)) {
      toNotModified(header)
      source = new HitBodySource(undefined, undefined)
    } else {
      const contentType = header.getHeader('content-type')
      const length = Number(header.getHeader('content-length'))
      const range = rangeHeaderFilter(request, header)
      if (request.method === 'HEAD' || range.kind === 'invalid') {
        source = new HitBodySource(undefined, undefined)
      } else if (range.kind === 'none') {
        source = new HitBodySource(hit, undefined)
      } else if (range.kind === 'single' && hit.canSeek) {
        hit.seek(range.range)
        source = new HitBodySource(hit, undefined)
      } else {
        source = new HitBodySource(hit, new RangeBodyFilter(range, contentType, length))
      }
    }
    try {
      await source.prime()
      const writing = this.#writer.write(session, ctx, request.method, header, source, false)
      if (writing !== undefined) await writing
    } finally {
      await cache.finishHit()
    }
  }

  async #purge(session: Session, ctx: Ctx, cache: HttpCache): Promise<void> {
    session.cacheStatus = 'purge'
    let status: PurgeStatus
    try {
      status = (await cache.purge(session.requestHeader, this.#varyFilter(ctx)))
        ? 'Found'
        : 'NotFound'
    } catch {
      status = 'Error'
    }
    let response = purgeResponse(PURGE_STATUS[status])
    if (this.#inner.purgeResponseFilter !== undefined) {
      try {
        this.#inner.purgeResponseFilter(session, ctx, status, response)
      } catch {
        response = purgeResponse(500)
      }
    }
    cache.disable(NoCacheReason.DeclinedToUpstream)
    await session.writeResponseHeader(response, true)
  }

  /** RFC 9111 section 4.4: a successful unsafe request invalidates what it targets. */
  async #invalidate(
    session: Session,
    ctx: Ctx,
    cache: HttpCache,
    response: ResponseHeader,
  ): Promise<void> {
    const key = cache.cacheKey
    if (key === undefined || cache.storage === undefined) return
    const request = session.requestHeader
    const targets = invalidationTargets(
      request,
      response,
      session.digest.tls !== undefined ? 'https' : 'http',
    )
    if (targets.length === 0) return
    const own = key.primaryKey()
    const keys = [own]
    for (let i = 1; i < targets.length; i++) {
      // The target as a GET with the unsafe request's other fields, keyed like any request.
      const target = request.clone()
      target.setMethod('GET')
      target.setUri(targets[i] as string)
      const callback = this.#inner.cacheKeyCallback
      const targetKey =
        callback !== undefined
          ? callback.call(this.#inner, session, ctx, target).primaryKey()
          : defaultCacheKey(session, target)
      // A callback that ignores `request` names the own key again: the target is unknown.
      if (targetKey.primaryHash() !== own.primaryHash()) keys.push(targetKey)
    }
    // Each purge goes through a state of its own (the request's stays disabled).
    const varyFilter = this.#varyFilter(ctx)
    for (const target of keys) {
      const purger = new HttpCache()
      purger.enable({ storage: cache.storage, now: () => cache.now() })
      purger.setCacheKey(target)
      // A failed purge is a storage error the storage already reported; the answer stands.
      await purger.purge(request, varyFilter).catch(() => false)
    }
  }

  /**
   * Stale-while-revalidate: refreshes the expired response in the background (its own upstream
   * exchange, holding the write lock) while the request is answered with the stale copy.
   */
  async #refresh(session: Session, ctx: Ctx, background: HttpCache): Promise<void> {
    const inner = this.#inner
    let client: ClientSession | undefined
    let peer: HttpPeer | undefined
    try {
      const p = inner.upstreamPeer(session, ctx)
      peer = isThenable(p) ? await p : p
      client =
        this.#connector.reusedHttpSession(peer) ?? (await this.#connector.newHttpSession(peer))
      const request = session.requestHeader.clone()
      removeHopByHopHeaders(request.headers)
      background.upstreamRequestFilter(request)
      if (inner.upstreamRequestFilter !== undefined) {
        const r = inner.upstreamRequestFilter(session, request, ctx)
        if (isThenable(r)) await r
      }
      if (client.protocol === 'h2') {
        await (client as Http2ClientSession).writeRequestHeader(request, true)
      } else {
        request.setVersion('HTTP/1.1')
        await client.writeRequestHeader(request)
      }
      let response: ResponseHeader
      do response = await client.readResponseHeader()
      while (response.status < 200)
      if (inner.upstreamResponseFilter !== undefined) {
        const r = inner.upstreamResponseFilter(session, response, ctx)
        if (isThenable(r)) await r
      }
      const decide = (header: ResponseHeader): RespCacheable => {
        // The background state answers for the clock and the key; the request is the same.
        const decision = this.#responseCacheable(session, header, ctx)
        return decision
      }
      if (response.status === 304) {
        await drain(client)
        await background.revalidated(response, (merged) => {
          const decision = decide(merged)
          return decision.cacheable ? { meta: decision.meta } : { reason: decision.reason }
        })
      } else if (response.status >= 500) {
        await drain(client)
        background.disable(NoCacheReason.UpstreamError)
      } else {
        const decision = decide(response)
        if (decision.cacheable) {
          background.cacheMiss()
          await background.admit(
            decision.meta,
            this.#varyFilter(ctx)(decision.meta, session.requestHeader),
          )
        } else {
          background.responseUncacheable(decision.reason)
        }
        for (;;) {
          const chunk = client.tryReadResponseBody() ?? (await client.readResponseBody())
          if (chunk === undefined) break
          if (background.enabled) await background.writeBody(Buffer.from(chunk))
        }
        await background.finishFill()
      }
      this.#connector.releaseHttpSession(client, peer)
    } catch {
      client?.shutdown()
      background.disable(NoCacheReason.UpstreamError)
    } finally {
      await background.finish().catch(() => undefined)
      if (cacheChannels.refreshFinished.hasSubscribers) {
        cacheChannels.refreshFinished.publish({
          primary: background.cacheKey?.primary ?? '',
          phase: background.phase,
          reason: background.noCacheReason,
        })
      }
    }
  }
}

/** The canned answer of a purge: empty, not to be stored. */
function purgeResponse(status: number): ResponseHeader {
  const response = ResponseHeader.build(status)
  response.insertHeader('Cache-Control', 'no-store')
  response.setContentLength(0)
  return response
}

/** Whether an error comes from the client's side (it left, or stopped reading). */
function isDownstreamError(error: unknown): boolean {
  return PingoraError.is(error) && error.source === 'downstream'
}

/** Reads and drops the rest of an upstream body, so the connection may be reused. */
async function drain(client: ClientSession): Promise<void> {
  while (!client.isBodyDone()) {
    if (
      client.tryReadResponseBody() === undefined &&
      (await client.readResponseBody()) === undefined
    ) {
      break
    }
  }
}

/**
 * The body of a stored response as the downstream writer reads it. `prime` reads up to
 * {@link PRIME_BYTES} first, so a small hit is written with its header in one write.
 */
class HitBodySource implements ResponseBodySource {
  readonly #hit: HitHandler | undefined
  readonly #range: RangeBodyFilter | undefined
  readonly #queue: Uint8Array[]
  #ended: boolean
  readonly responseTrailers = undefined

  constructor(hit: HitHandler | undefined, range: RangeBodyFilter | undefined) {
    this.#hit = hit
    this.#range = range
    this.#queue = []
    this.#ended = hit === undefined
  }

  /**
   * Reads ahead until the body ends, enough bytes are queued, or (an entry still being
   * filled) the bytes written so far are taken: the header must not wait for the fill.
   */
  async prime(): Promise<void> {
    const hit = this.#hit
    let queued = 0
    while (!this.#ended && queued < PRIME_BYTES && hit?.bodyPending?.() !== true) {
      queued += await this.#pull()
    }
  }

  async #pull(): Promise<number> {
    const hit = this.#hit as HitHandler
    const chunk = await hit.readBody()
    let out: Uint8Array
    if (chunk === undefined) {
      this.#ended = true
      if (this.#range === undefined) return 0
      out = this.#range.filter(EMPTY, true)
    } else {
      // A copy: the writer frees relayed pieces once written (ADR 0009), and the stored chunk
      // serves every other hit.
      out = this.#range === undefined ? Buffer.from(chunk) : this.#range.filter(chunk, false)
    }
    if (out.byteLength > 0) this.#queue.push(out)
    return out.byteLength
  }

  tryReadResponseBody(): Uint8Array | undefined {
    return this.#queue.shift()
  }

  async readResponseBody(): Promise<Uint8Array | undefined> {
    while (this.#queue.length === 0 && !this.#ended) await this.#pull()
    return this.#queue.shift()
  }

  isBodyDone(): boolean {
    return this.#ended && this.#queue.length === 0
  }
}

/**
 * The upstream body on the cache path: `upstreamResponseBodyFilter` (its output is what is
 * stored), a copy of each piece into the fill (one write in flight: the next read waits for
 * it, so a slow storage slows the relay rather than buffering), and the client's range or
 * nothing (HEAD, 304, 416) toward the writer. At the end `upstreamResponseTrailerFilter` runs
 * and the fill is committed. When the client leaves, {@link FillSource.fillDetached} reads the
 * rest into the fill alone.
 */
class FillSource<Ctx> implements ResponseBodySource {
  readonly #inner: ProxyHttp<Ctx>
  readonly #session: Session
  readonly #ctx: Ctx
  readonly #client: ClientSession
  readonly #range: RangeBodyFilter | undefined
  #discard: boolean
  #detached: boolean
  readonly #cache: HttpCache | undefined
  #writing: Promise<void> | undefined
  #ended: boolean
  #held: Uint8Array | undefined
  #tail: Uint8Array | undefined

  constructor(
    inner: ProxyHttp<Ctx>,
    session: Session,
    ctx: Ctx,
    client: ClientSession,
    range: RangeBodyFilter | undefined,
    discard: boolean,
    cache: HttpCache | undefined,
  ) {
    this.#inner = inner
    this.#session = session
    this.#ctx = ctx
    this.#client = client
    this.#range = range
    this.#discard = discard
    this.#detached = false
    this.#cache = cache
    this.#writing = undefined
    this.#ended = false
    this.#held = undefined
    this.#tail = undefined
  }

  get responseTrailers(): ClientSession['responseTrailers'] {
    return this.#client.responseTrailers
  }

  tryReadResponseBody(): Uint8Array | undefined {
    if (this.#writing !== undefined || this.#ended) return this.#takeTail()
    const data = this.#client.tryReadResponseBody()
    if (data === undefined) return undefined
    const out = this.#take(data)
    if (this.#holdsLast()) {
      // The last piece waits for the fill to commit (readResponseBody ends it).
      this.#held = out
      return undefined
    }
    return out.byteLength > 0 ? out : undefined
  }

  async readResponseBody(): Promise<Uint8Array | undefined> {
    for (;;) {
      if (this.#writing !== undefined) {
        await this.#writing
        this.#writing = undefined
      }
      if (this.#ended) return this.#takeTail()
      // Without a client, reading goes on only while the fill does.
      if (this.#detached && this.#cache?.enabled !== true) return undefined
      const client = this.#client
      if (this.#held !== undefined || client.isBodyDone()) {
        await this.#end()
        continue
      }
      let data: Uint8Array | undefined = client.tryReadResponseBody()
      if (data === undefined) data = await client.readResponseBody()
      if (data === undefined) {
        await this.#end()
        continue
      }
      const out = this.#take(data)
      if (this.#holdsLast()) {
        this.#held = out
        continue
      }
      if (out.byteLength > 0) return out
    }
  }

  /**
   * Whether the piece just taken is the last one of a response being stored: it then goes
   * out only once the entry is committed, so a client that saw the whole response finds it
   * in the cache (storages without streaming partial writes show an entry only then).
   */
  #holdsLast(): boolean {
    return this.#client.isBodyDone() && this.#cache?.enabled === true
  }

  isBodyDone(): boolean {
    return this.#ended && this.#tail === undefined
  }

  /**
   * The client left: reads the rest of the upstream body into the fill, sending nothing,
   * until the entry is committed or the cache gives up on it (the detached-fill bound, the
   * size limit, a storage error). An upstream failure rejects (the fill is then aborted).
   */
  async fillDetached(): Promise<void> {
    this.#discard = true
    this.#detached = true
    this.#held = undefined
    while (!this.#ended && this.#cache?.enabled === true) await this.readResponseBody()
  }

  #takeTail(): Uint8Array | undefined {
    const tail = this.#tail
    this.#tail = undefined
    return tail
  }

  /** One upstream piece: filtered, copied into the fill, cut for the client. */
  #take(data: Uint8Array): Uint8Array {
    const inner = this.#inner
    let piece: Uint8Array | undefined = data
    if (inner.upstreamResponseBodyFilter !== undefined) {
      piece = inner.upstreamResponseBodyFilter.call(inner, this.#session, data, false, this.#ctx)
      if (piece === undefined) return EMPTY
    }
    this.#store(piece)
    if (this.#discard) return EMPTY
    return this.#range === undefined ? piece : this.#range.filter(piece, false)
  }

  #store(piece: Uint8Array): void {
    const cache = this.#cache
    if (cache === undefined || !cache.enabled || piece.byteLength === 0) return
    // A copy: the writer may free the read buffer once it is written downstream.
    this.#writing = cache.writeBody(Buffer.from(piece))
  }

  async #end(): Promise<void> {
    const inner = this.#inner
    let last: Uint8Array | undefined
    if (inner.upstreamResponseBodyFilter !== undefined) {
      last = inner.upstreamResponseBodyFilter.call(inner, this.#session, undefined, true, this.#ctx)
      if (last !== undefined) this.#store(last)
    }
    if (this.#writing !== undefined) {
      await this.#writing
      this.#writing = undefined
    }
    const trailers = this.#client.responseTrailers
    if (trailers !== undefined && inner.upstreamResponseTrailerFilter !== undefined) {
      inner.upstreamResponseTrailerFilter.call(inner, this.#session, trailers, this.#ctx)
    }
    const cache = this.#cache
    if (cache?.enabled === true) await cache.finishFill()
    this.#ended = true
    const parts: Uint8Array[] = []
    const held = this.#held
    this.#held = undefined
    if (held !== undefined && held.byteLength > 0) parts.push(held)
    if (!this.#discard) {
      if (last !== undefined && last.byteLength > 0) {
        parts.push(this.#range === undefined ? last : this.#range.filter(last, false))
      }
      if (this.#range !== undefined) parts.push(this.#range.filter(EMPTY, true))
    }
    const tail = parts.length === 1 ? (parts[0] as Uint8Array) : Buffer.concat(parts)
    this.#tail = tail.byteLength > 0 ? tail : undefined
  }
}
