import type { RequestHeader, ResponseHeader } from '@pingora-ts/http'
import { channels, publishStorageError } from './diagnostics.ts'
import { revalidateMergeHeader, upstreamRequestFilter as stripForUpstream } from './filters.ts'
import type { CacheKey, HashHex } from './key.ts'
import type { CacheLock, LockStatus, WritePermit } from './lock.ts'
import { CacheMeta } from './meta.ts'
import { NoCacheReason } from './no-cache-reason.ts'
import type { Predictor } from './predictor.ts'
import type { CacheStorage, HitHandler, MissHandler } from './storage.ts'

/**
 * Where one request is in the cache state machine. Port of `pingora-cache::CachePhase`:
 * - `Disabled`: not using the cache ({@link HttpCache.noCacheReason} says why; `NeverEnabled`
 *   until {@link HttpCache.enable});
 * - `Uninit`: enabled, no key yet; `CacheKey`: key set, not looked up;
 * - `Bypass`: predicted uncacheable, straight to the origin, may still admit the response;
 * - `Hit`: serving a fresh stored response; `Miss`: going to the origin to fill;
 * - `Expired`: found stale, revalidating or refetching; `Stale`: serving a stale copy because
 *   the origin failed (stale-if-error); `StaleUpdating`: serving stale while a background
 *   request refreshes (stale-while-revalidate);
 * - `Revalidated`: the origin answered 304, serving the stored body with merged headers;
 *   `RevalidatedNoCache`: same, but the merged response may not be stored again.
 */
export type CachePhase =
  | 'Disabled'
  | 'Uninit'
  | 'Bypass'
  | 'CacheKey'
  | 'Hit'
  | 'Miss'
  | 'Stale'
  | 'StaleUpdating'
  | 'Expired'
  | 'Revalidated'
  | 'RevalidatedNoCache'

/** How a stored response found by a lookup is to be treated (Pingora's `HitStatus`). */
export type HitStatus = 'Fresh' | 'Expired' | 'ForceFresh' | 'ForceExpired' | 'ForceMiss'

/** What {@link HttpCache.enable} needs. */
export interface HttpCacheOptions {
  /** The storage. */
  storage: CacheStorage
  /** The cache lock shared by all requests, if fills should be coalesced. */
  lock?: CacheLock | undefined
  /** The uncacheable predictor shared by all requests. */
  predictor?: Predictor | undefined
  /** The largest body admitted, in bytes; larger responses are not stored. */
  maxFileSizeBytes?: number | undefined
  /**
   * The largest body a fill keeps storing after its own client left, in bytes: the proxy
   * then reads the rest of the origin's body into the storage (readers streaming the fill or
   * waiting on the lock get the whole response). Past it (or a `Content-Length` over it) the
   * fill is aborted and the upstream connection closed. `0` aborts every fill whose client
   * leaves. @defaultValue `8 MiB` ({@link DETACHED_FILL_MAX_BYTES})
   */
  maxDetachedFillBytes?: number | undefined
  /** The clock, epoch ms. @defaultValue `Date.now` */
  now?: (() => number) | undefined
}

/** The default of {@link HttpCacheOptions.maxDetachedFillBytes}: 8 MiB. */
export const DETACHED_FILL_MAX_BYTES = 8 * 1024 * 1024

/**
 * Computes the variance of a request against a stored meta (the `cacheVaryFilter` phase);
 * `undefined` when the response does not vary for this application.
 */
export type VaryFilter = (meta: CacheMeta, request: RequestHeader) => HashHex | undefined

/** Timings of the cache work of one request, in ms (Pingora's `HttpCacheDigest`). */
export interface HttpCacheDigest {
  /** Time spent in storage lookups. */
  lookupMs: number
  /** Time spent waiting on the cache lock. */
  lockWaitMs: number
}

/**
 * The per-request cache state machine (Pingora's `HttpCache`): the proxy drives it through
 * its cache phases, and it talks to the storage, the lock and the predictor. Allocated once
 * per session; it costs nothing until {@link HttpCache.enable} is called.
 *
 * Typical flow: `enable` -> `setCacheKey` -> `lookup` -> (`cacheFound` | `cacheMiss`) ->
 * on a miss `lockOrWait` -> to the origin -> `admit` / `writeBody` / `finishFill`, or on an
 * expired hit `revalidated` after a 304.
 */
export class HttpCache {
  #phase: CachePhase
  #reason: NoCacheReason | undefined
  #storage: CacheStorage | undefined
  #lock: CacheLock | undefined
  #predictor: Predictor | undefined
  #maxFileSizeBytes: number
  #maxDetachedFillBytes: number
  #detached: boolean
  #now: () => number
  #key: CacheKey | undefined
  #meta: CacheMeta | undefined
  #hit: HitHandler | undefined
  #permit: WritePermit | undefined
  #miss: MissHandler | undefined
  #written: number
  #digest: HttpCacheDigest
  #options: HttpCacheOptions | undefined

  /** Creates a disabled cache state (`Disabled`, reason `NeverEnabled`). */
  constructor() {
    this.#phase = 'Disabled'
    this.#reason = NoCacheReason.NeverEnabled
    this.#storage = undefined
    this.#lock = undefined
    this.#predictor = undefined
    this.#maxFileSizeBytes = Number.POSITIVE_INFINITY
    this.#maxDetachedFillBytes = DETACHED_FILL_MAX_BYTES
    this.#detached = false
    this.#now = Date.now
    this.#key = undefined
    this.#meta = undefined
    this.#hit = undefined
    this.#permit = undefined
    this.#miss = undefined
    this.#written = 0
    this.#digest = { lookupMs: 0, lockWaitMs: 0 }
    this.#options = undefined
  }

  /** The current phase. */
  get phase(): CachePhase {
    return this.#phase
  }

  /** Why the cache is disabled (or the response not re-stored), when it is. */
  get noCacheReason(): NoCacheReason | undefined {
    return this.#reason
  }

  /** Whether the cache is in use for this request (any phase but `Disabled`). */
  get enabled(): boolean {
    return this.#phase !== 'Disabled'
  }

  /** The key, once set. */
  get cacheKey(): CacheKey | undefined {
    return this.#key
  }

  /** The meta of the stored response found (or being admitted). */
  get meta(): CacheMeta | undefined {
    return this.#meta
  }

  /** The body reader of the stored response found. */
  get hitHandler(): HitHandler | undefined {
    return this.#hit
  }

  /** Lookup and lock timings. */
  get digest(): Readonly<HttpCacheDigest> {
    return this.#digest
  }

  /** The storage, once enabled. */
  get storage(): CacheStorage | undefined {
    return this.#storage
  }

  /** The predictor, once enabled. */
  get predictor(): Predictor | undefined {
    return this.#predictor
  }

  /** Whether this request holds the write lock of its key (or no lock is configured). */
  get isWriter(): boolean {
    return this.#permit !== undefined || this.#lock === undefined
  }

  /** The current time on this cache's clock (the `now` option), epoch ms. */
  now(): number {
    return this.#now()
  }

  /** The largest body admitted, in bytes. */
  get maxFileSizeBytes(): number {
    return this.#maxFileSizeBytes
  }

  /** Whether a fill is in progress (admitted, not yet committed or aborted). */
  get isFilling(): boolean {
    return this.#miss !== undefined
  }

  /**
   * The request's client left during a fill: the fill goes on without it while the body stays
   * within {@link HttpCacheOptions.maxDetachedFillBytes} (checked now against the bytes
   * written and the stored `Content-Length`, and on every later {@link HttpCache.writeBody}),
   * else it is aborted (`DetachedFillTooLarge`). Returns whether the fill continues.
   */
  detach(): boolean {
    if (this.#miss === undefined) return false
    this.#detached = true
    const length = this.#meta?.header.getHeader('content-length')
    const expected = length === undefined ? this.#written : Number(length)
    if (expected > this.#maxDetachedFillBytes || this.#written > this.#maxDetachedFillBytes) {
      this.disable(NoCacheReason.DetachedFillTooLarge)
      return false
    }
    return true
  }

  /**
   * Turns the cache on for this request (from `requestCacheFilter`); phase `Uninit`. Only
   * the first call counts: a cache disabled later stays disabled.
   * @param options - storage, lock, predictor, size limit, clock
   */
  enable(options: HttpCacheOptions): void {
    if (this.#phase !== 'Disabled' || this.#reason !== NoCacheReason.NeverEnabled) return
    this.#options = options
    this.#storage = options.storage
    this.#lock = options.lock
    this.#predictor = options.predictor
    this.#maxFileSizeBytes = options.maxFileSizeBytes ?? Number.POSITIVE_INFINITY
    this.#maxDetachedFillBytes = options.maxDetachedFillBytes ?? DETACHED_FILL_MAX_BYTES
    this.#now = options.now ?? Date.now
    this.#phase = 'Uninit'
    this.#reason = undefined
  }

  /**
   * Sets the key (from `cacheKeyCallback`); phase `CacheKey`.
   * @param key - the key
   */
  setCacheKey(key: CacheKey): void {
    this.#key = key
    if (this.#phase === 'Uninit') this.#phase = 'CacheKey'
  }

  /**
   * Whether the predictor expects this key to be uncacheable (then call {@link HttpCache.bypass}).
   */
  predictedUncacheable(): boolean {
    const key = this.#key
    return (
      key !== undefined &&
      this.#predictor !== undefined &&
      !this.#predictor.cacheablePrediction(key)
    )
  }

  /** Skips lookup and lock, straight to the origin; phase `Bypass`. */
  bypass(): void {
    if (this.#phase === 'Disabled') return
    this.#phase = 'Bypass'
  }

  /**
   * Stops using the cache for this request; phase `Disabled`. A write in progress is aborted
   * and its lock released with `GiveUp`, so waiters go to the origin themselves.
   * @param reason - why
   */
  disable(reason: NoCacheReason): void {
    if (this.#phase === 'Disabled') return
    this.#phase = 'Disabled'
    this.#reason = reason
    const miss = this.#miss
    this.#miss = undefined
    if (miss !== undefined) this.#quiet(miss.abort(), 'abort')
    this.#releaseLock(
      reason === NoCacheReason.StorageError || reason === NoCacheReason.UpstreamError
        ? 'TransientError'
        : 'GiveUp',
    )
    this.#releaseHit()
  }

  /**
   * Looks the key up, following a `Vary` index to the request's variant. Resolves with the
   * stored meta and body reader, or `undefined` on a miss (storage failures are misses). The
   * phase is unchanged: call {@link HttpCache.cacheFound} or {@link HttpCache.cacheMiss}.
   * @param request - the downstream request, for the variance
   * @param varyFilter - the `cacheVaryFilter` phase, if the application has one
   */
  async lookup(
    request: RequestHeader,
    varyFilter?: VaryFilter,
  ): Promise<{ meta: CacheMeta; hit: HitHandler } | undefined> {
    const storage = this.#storage
    const key = this.#key
    if (storage === undefined || key === undefined) return undefined
    const started = performance.now()
    try {
      key.setVariance(undefined)
      const primary = await storage.lookup(key)
      if (primary === undefined) return undefined
      if (primary.meta.variance === undefined) return primary
      // The primary slot holds a Vary index: find this request's variant.
      await primary.hit.finish()
      const variance = varyFilter?.(primary.meta, request)
      if (variance === undefined) return undefined
      key.setVariance(variance)
      return await storage.lookup(key)
    } catch (error) {
      publishStorageError(channels.storageError, 'http-cache', 'lookup', error)
      return undefined
    } finally {
      this.#digest.lookupMs += performance.now() - started
    }
  }

  /**
   * Records a found response: phase `Hit` for `Fresh`/`ForceFresh`, `Expired` for
   * `Expired`/`ForceExpired`; `ForceMiss` behaves like {@link HttpCache.cacheMiss}.
   * @param meta - the stored meta
   * @param hit - its body reader
   * @param status - freshness (see {@link HttpCache.hitStatus})
   */
  cacheFound(meta: CacheMeta, hit: HitHandler, status: HitStatus): void {
    if (status === 'ForceMiss') {
      this.#quiet(hit.finish(), 'finish')
      this.cacheMiss()
      return
    }
    this.#meta = meta
    this.#hit = hit
    this.#phase = status === 'Fresh' || status === 'ForceFresh' ? 'Hit' : 'Expired'
  }

  /**
   * The freshness of a stored meta now: `Fresh` or `Expired`.
   * @param meta - the stored meta
   */
  hitStatus(meta: CacheMeta): HitStatus {
    return meta.isFresh(this.#now()) ? 'Fresh' : 'Expired'
  }

  /** Records a miss; phase `Miss`. */
  cacheMiss(): void {
    if (this.#phase === 'Disabled') return
    this.#releaseHit()
    this.#meta = undefined
    this.#phase = 'Miss'
  }

  /**
   * Takes the key's write lock for a miss or an expired hit. Resolves with `'write'` when this
   * request fills the key (also when no lock is configured), or with how another request's
   * lock ended: `Done`, `TransientError`, `Dangling`, `AgeTimeout` (look up again), `GiveUp`
   * (disable with `CacheLockGiveUp` and go to the origin) or `WaitTimeout` (disable with
   * `CacheLockTimeout`).
   */
  async lockOrWait(): Promise<'write' | LockStatus> {
    const lock = this.#lock
    const key = this.#key
    if (lock === undefined || key === undefined || this.#permit !== undefined) return 'write'
    const locked = lock.lock(key)
    if (locked.kind === 'write') {
      this.#permit = locked.permit
      return 'write'
    }
    const started = performance.now()
    const status = await locked.lock.wait()
    this.#digest.lockWaitMs += performance.now() - started
    return status
  }

  /**
   * Hands the write lock over (to a background stale-while-revalidate request).
   * @returns the permit, or `undefined` when this request holds none
   */
  takeWritePermit(): WritePermit | undefined {
    const permit = this.#permit
    this.#permit = undefined
    return permit
  }

  /**
   * Adopts a write lock handed over by {@link HttpCache.takeWritePermit}.
   * @param permit - the permit
   */
  adoptWritePermit(permit: WritePermit | undefined): void {
    this.#permit = permit
  }

  /**
   * Creates the cache state of a background request that refreshes the expired response this
   * request found (stale-while-revalidate): same storage and key, the stored meta, phase
   * `Expired`, and this request's write lock handed over. This request moves to
   * `StaleUpdating` and serves the stale copy.
   */
  spawnBackgroundRefresh(): HttpCache {
    const background = new HttpCache()
    const options = this.#options
    const key = this.#key
    if (options === undefined || key === undefined || this.#meta === undefined) return background
    background.enable(options)
    const copy = key.primaryKey()
    copy.setVariance(key.variance)
    background.setCacheKey(copy)
    background.#meta = this.#meta
    background.#phase = 'Expired'
    background.#permit = this.takeWritePermit()
    this.#phase = 'StaleUpdating'
    return background
  }

  /** Whether the expired response found may be served while it is refreshed in the background. */
  canServeStaleUpdating(): boolean {
    return (
      this.#phase === 'Expired' &&
      this.#meta !== undefined &&
      this.#meta.serveStaleWhileRevalidate(this.#now())
    )
  }

  /** Whether the expired response found may be served because the origin failed. */
  canServeStaleError(): boolean {
    return (
      this.#meta !== undefined &&
      this.#hit !== undefined &&
      this.#meta.serveStaleIfError(this.#now())
    )
  }

  /** Serves the expired response while a background request refreshes it; phase `StaleUpdating`. */
  setStaleUpdating(): void {
    this.#phase = 'StaleUpdating'
  }

  /** Serves the expired response because the origin failed; phase `Stale`. */
  setStale(): void {
    this.#phase = 'Stale'
    this.#releaseLock('TransientError')
  }

  /**
   * Prepares the upstream request: `HEAD` -> `GET`, no `Range` or downstream conditionals, and
   * the stored validators when revalidating an expired response.
   * @param request - the upstream request header, modified in place
   */
  upstreamRequestFilter(request: RequestHeader): void {
    stripForUpstream(request, this.#phase === 'Expired' ? this.#meta : undefined)
  }

  /**
   * Handles a `304` to a revalidation: merges its fields into the stored header and, when
   * `cacheable` gives a new meta, stores it (phase `Revalidated`); otherwise the stored body
   * is served once more but not kept fresh (phase `RevalidatedNoCache`). Releases the lock.
   * Returns the merged header to serve.
   * @param notModified - the origin's 304
   * @param cacheable - `responseCacheFilter` on the merged header: a meta, or why not
   */
  async revalidated(
    notModified: ResponseHeader,
    cacheable: (merged: ResponseHeader) => { meta: CacheMeta } | { reason: NoCacheReason },
  ): Promise<ResponseHeader> {
    const stored = this.#meta
    const key = this.#key
    const storage = this.#storage
    if (stored === undefined || key === undefined || storage === undefined) return notModified
    const merged = revalidateMergeHeader(stored.header, notModified)
    const decision = cacheable(merged)
    if ('meta' in decision) {
      const meta = decision.meta
      meta.variance = stored.variance
      this.#meta = meta
      this.#phase = 'Revalidated'
      const ok = await storage.updateMeta(key, meta).catch((error: unknown) => {
        publishStorageError(channels.storageError, 'http-cache', 'update-meta', error)
        return false
      })
      this.#releaseLock(ok ? 'Done' : 'TransientError')
    } else {
      this.#meta = new CacheMeta({
        createdMs: stored.createdMs,
        updatedMs: this.#now(),
        freshUntilMs: stored.freshUntilMs,
        staleWhileRevalidateSec: 0,
        staleIfErrorSec: 0,
        header: merged,
        variance: stored.variance,
      })
      this.#phase = 'RevalidatedNoCache'
      this.#reason = decision.reason
      this.#releaseLock('GiveUp')
    }
    return merged
  }

  /**
   * Starts storing an origin response (after `responseCacheFilter` said it is cacheable). With
   * a variance, the response is stored as that variant and the primary slot gets the `Vary`
   * index. A `Content-Length` over the size limit disables the cache (`ResponseTooLarge`).
   * Storages with streaming partial writes release the lock at once, so waiters stream the
   * fill. Resolves with whether the write started.
   * @param meta - the meta from `respCacheable`
   * @param variance - the variance from `cacheVaryFilter`, if the response varies
   */
  async admit(meta: CacheMeta, variance?: HashHex): Promise<boolean> {
    const storage = this.#storage
    const key = this.#key
    if (storage === undefined || key === undefined || this.#phase === 'Disabled') return false
    const length = meta.header.getHeader('content-length')
    if (length !== undefined && Number(length) > this.#maxFileSizeBytes) {
      this.#predictor?.markUncacheable(key, NoCacheReason.ResponseTooLarge)
      this.disable(NoCacheReason.ResponseTooLarge)
      return false
    }
    try {
      if (variance !== undefined) {
        const index = meta.clone()
        index.variance = variance
        key.setVariance(undefined)
        const marker = await storage.getMissHandler(key, index)
        await marker.finish()
        key.setVariance(variance)
        meta.variance = variance
      } else {
        key.setVariance(undefined)
        meta.variance = undefined
      }
      this.#miss = await storage.getMissHandler(key, meta)
    } catch (error) {
      publishStorageError(channels.storageError, 'http-cache', 'admit', error)
      this.disable(NoCacheReason.StorageError)
      return false
    }
    this.#meta = meta
    this.#written = 0
    if (storage.supportsStreamingPartialWrite) this.#releaseLock('Done')
    return true
  }

  /**
   * Appends a body chunk to the fill. Past the size limit the fill is aborted, the key is
   * remembered as too large, and the cache is disabled (`ResponseTooLarge`); the response
   * itself continues. Storage failures disable the cache (`StorageError`).
   * @param chunk - body bytes
   */
  async writeBody(chunk: Uint8Array): Promise<void> {
    const miss = this.#miss
    if (miss === undefined) return
    this.#written += chunk.byteLength
    if (this.#written > this.#maxFileSizeBytes) {
      const key = this.#key
      if (key !== undefined) this.#predictor?.markUncacheable(key, NoCacheReason.ResponseTooLarge)
      this.disable(NoCacheReason.ResponseTooLarge)
      return
    }
    if (this.#detached && this.#written > this.#maxDetachedFillBytes) {
      this.disable(NoCacheReason.DetachedFillTooLarge)
      return
    }
    try {
      await miss.writeBody(chunk)
    } catch (error) {
      publishStorageError(channels.storageError, 'http-cache', 'write', error)
      this.disable(NoCacheReason.StorageError)
    }
  }

  /** Commits the fill, releases the lock (`Done`) and clears any uncacheable prediction. */
  async finishFill(): Promise<void> {
    const miss = this.#miss
    if (miss === undefined) return
    this.#miss = undefined
    try {
      await miss.finish()
      const key = this.#key
      if (key !== undefined) this.#predictor?.markCacheable(key)
      this.#releaseLock('Done')
    } catch (error) {
      publishStorageError(channels.storageError, 'http-cache', 'finish', error)
      this.disable(NoCacheReason.StorageError)
    }
  }

  /**
   * Records that the origin's response is not cacheable: remembers it in the predictor (for
   * the reasons it keeps) and disables the cache, waking waiters with `GiveUp`.
   * @param reason - why
   */
  responseUncacheable(reason: NoCacheReason): void {
    const key = this.#key
    if (key !== undefined) this.#predictor?.markUncacheable(key, reason)
    this.disable(reason)
  }

  /**
   * Removes the key's stored response (the primary slot, and the request's variant when the
   * primary is a `Vary` index). Resolves with whether anything was removed.
   * @param request - the purge request, for the variance
   * @param varyFilter - the `cacheVaryFilter` phase
   */
  async purge(request: RequestHeader, varyFilter?: VaryFilter): Promise<boolean> {
    const storage = this.#storage
    const key = this.#key
    if (storage === undefined || key === undefined) return false
    let removed = false
    const found = await this.lookup(request, varyFilter)
    if (found !== undefined) await found.hit.finish()
    if (key.variance !== undefined) removed = (await storage.purge(key, 'invalidation')) || removed
    key.setVariance(undefined)
    removed = (await storage.purge(key, 'invalidation')) || removed
    return removed
  }

  /**
   * The header to send for a stored response: a copy of the stored header with `Age` set
   * (RFC 9111 section 5.1).
   */
  responseHeader(): ResponseHeader | undefined {
    const meta = this.#meta
    if (meta === undefined) return undefined
    const header = meta.header.clone()
    header.insertHeader('Age', String(meta.ageSec(this.#now())))
    return header
  }

  /** Releases the body reader of a hit (after the last chunk, or when the client left). */
  async finishHit(): Promise<void> {
    const hit = this.#hit
    this.#hit = undefined
    if (hit !== undefined) await hit.finish()
  }

  /**
   * Ends the request's use of the cache: aborts an unfinished fill, releases the lock
   * (`TransientError` if still held, so waiters compete again) and the body reader.
   */
  async finish(): Promise<void> {
    const miss = this.#miss
    this.#miss = undefined
    if (miss !== undefined) await miss.abort().catch(() => undefined)
    this.#releaseLock('TransientError')
    await this.finishHit()
  }

  #releaseLock(status: Exclude<LockStatus, 'Waiting'>): void {
    const permit = this.#permit
    if (permit === undefined) return
    this.#permit = undefined
    permit.release(status)
  }

  #releaseHit(): void {
    const hit = this.#hit
    this.#hit = undefined
    if (hit !== undefined) this.#quiet(hit.finish(), 'finish')
  }

  #quiet(promise: Promise<unknown>, operation: string): void {
    promise.catch((error: unknown) =>
      publishStorageError(channels.storageError, 'http-cache', operation, error),
    )
  }
}

/** Methods RFC 9110 defines as safe: responses to the others invalidate stored responses. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE'])

/**
 * The request targets whose stored responses an unsafe request invalidates (RFC 9111
 * section 4.4): after a non-error (2xx or 3xx) response to a method that is not safe, the
 * target URI, and the `Location` and `Content-Location` URIs when they have the same origin
 * (scheme, host and port) as the target URI. Returns the request's own target first, then
 * the others as paths with query (`/a?b`), to be turned into keys the way `cacheKeyCallback`
 * does. Empty when nothing is to be invalidated.
 * @param request - the downstream request
 * @param response - the response to it
 * @param scheme - the scheme the client used (`https` over TLS). @defaultValue `'http'`
 */
export function invalidationTargets(
  request: RequestHeader,
  response: ResponseHeader,
  scheme: 'http' | 'https' = 'http',
): string[] {
  if (SAFE_METHODS.has(request.method)) return []
  if (response.status < 200 || response.status >= 400) return []
  const targets = [request.uri]
  let base: URL
  try {
    // Origin-form (`/a`) under the Host; absolute-form (`http://h/a`) as it is.
    base = request.uri.startsWith('/')
      ? new URL(request.uri, `${scheme}://${request.getHeader('host') ?? ''}`)
      : new URL(request.uri)
  } catch {
    return targets
  }
  for (const name of ['location', 'content-location']) {
    const value = response.getHeader(name)
    if (value === undefined) continue
    let url: URL
    try {
      url = new URL(value, base)
    } catch {
      continue // an unparsable URI invalidates nothing
    }
    if (url.origin !== base.origin) continue
    const target = `${url.pathname}${url.search}`
    if (target !== base.pathname + base.search && !targets.includes(target)) targets.push(target)
  }
  return targets
}
