import type { RequestHeader, ResponseHeader } from '@pingora-ts/http'
import { CacheControl } from './cache-control.ts'
import { parseHttpDate } from './http-date.ts'
import { CacheMeta, type CacheMetaDefaults } from './meta.ts'
import { NoCacheReason } from './no-cache-reason.ts'

/** The outcome of {@link respCacheable}: a meta to store, or why not. */
export type RespCacheable =
  | { readonly cacheable: true; readonly meta: CacheMeta }
  | { readonly cacheable: false; readonly reason: NoCacheReason }

/**
 * Statuses a cache may give heuristic freshness to (RFC 9110 section 15.1), when the response
 * carries no explicit expiration.
 */
export const HEURISTICALLY_CACHEABLE = new Set([
  200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501,
])

/** The fraction of the time since `Last-Modified` used as heuristic freshness (RFC 9111 4.2.2). */
export const HEURISTIC_FRACTION = 0.1

/** The largest heuristic freshness lifetime, in seconds (one day). */
export const HEURISTIC_MAX_SEC = 86_400

// Fields a cache never stores (RFC 9111 section 3.1) or that describe the wire, not the body.
const NOT_STORED = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authentication-info',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
])

/**
 * Whether a request may be answered from the cache or fill it: `GET` and `HEAD` only (HEAD
 * shares GET's entries), and not with `Cache-Control: no-store`. Port of
 * `pingora-cache::filters::request_cacheable`.
 * @param request - the downstream request header
 */
export function requestCacheable(request: RequestHeader): boolean {
  const method = request.method
  if (method !== 'GET' && method !== 'HEAD') return false
  const cc = CacheControl.fromHeaders(request.headers)
  return cc === undefined || !cc.noStore
}

/**
 * Decides whether a shared cache may store a response and computes its {@link CacheMeta}
 * (RFC 9111 sections 3, 4.2 and 5.2): `no-store` and unqualified `private` refuse; a request
 * with `Authorization` needs `public`, `s-maxage` or `must-revalidate`; `Vary: *` refuses;
 * freshness comes from `s-maxage`, then `max-age`, then `Expires` (one valid field, relative to
 * `Date`), then `defaults` by status, then 10 % of the time since `Last-Modified` for the
 * heuristically cacheable statuses; an unqualified `no-cache` stores with zero freshness
 * (revalidate on each use). The `Age` the response arrived with is subtracted. `must-revalidate`,
 * `proxy-revalidate` and `s-maxage` turn off serving stale.
 * @param cc - the response's parsed `Cache-Control`, if any
 * @param header - the response header (not modified; the meta stores a cleaned copy)
 * @param authorizationPresent - whether the request carried `Authorization`
 * @param defaults - freshness and serve-stale defaults
 * @param nowMs - the current time, epoch ms
 */
export function respCacheable(
  cc: CacheControl | undefined,
  header: ResponseHeader,
  authorizationPresent: boolean,
  defaults: CacheMetaDefaults,
  nowMs = Date.now(),
): RespCacheable {
  const status = header.status
  if (status < 200 || status === 206) return no(NoCacheReason.OriginNotCache)
  if (cc !== undefined && cc.isCacheable() === 'no') return no(NoCacheReason.OriginNotCache)
  if (authorizationPresent && (cc === undefined || !cc.allowCachingAuthorizedRequest())) {
    return no(NoCacheReason.OriginNotCache)
  }
  if (varyNames(header) === '*') return no(NoCacheReason.OriginNotCache)

  const dateMs = parseHttpDate(header.getHeader('date'), nowMs)
  let freshSec: number | undefined
  if (cc?.noCache) freshSec = 0
  else freshSec = cc?.freshSeconds()
  if (freshSec === undefined) freshSec = expiresFreshSec(header, dateMs ?? nowMs, nowMs)
  if (freshSec === undefined) freshSec = defaults.freshSec(status)
  if (freshSec === undefined && HEURISTICALLY_CACHEABLE.has(status)) {
    freshSec = heuristicFreshSec(header, dateMs ?? nowMs, nowMs)
  }
  if (freshSec === undefined) return no(NoCacheReason.OriginNotCache)

  const initialAgeMs = initialAge(header, dateMs, nowMs)
  const createdMs = nowMs - initialAgeMs
  let swr = defaults.staleWhileRevalidateSec
  let sie = defaults.staleIfErrorSec
  const ccSwr = cc?.staleWhileRevalidate
  if (typeof ccSwr === 'number') swr = ccSwr
  const ccSie = cc?.staleIfError
  if (typeof ccSie === 'number') sie = ccSie
  if (
    cc !== undefined &&
    (cc.mustRevalidate || cc.proxyRevalidate || cc.has('s-maxage') || cc.noCache)
  ) {
    swr = 0
    sie = 0
  }
  const meta = new CacheMeta({
    createdMs,
    updatedMs: nowMs,
    freshUntilMs: createdMs + freshSec * 1000,
    staleWhileRevalidateSec: swr,
    staleIfErrorSec: sie,
    header: storedHeader(header, cc),
  })
  return { cacheable: true, meta }
}

/**
 * The copy of a response header a cache stores: without hop-by-hop and proxy-authentication
 * fields (RFC 9111 section 3.1), the fields `Connection` lists, and the fields named by a
 * qualified `private` or `no-cache`.
 * @param header - the response header
 * @param cc - its parsed `Cache-Control`
 */
export function storedHeader(header: ResponseHeader, cc: CacheControl | undefined): ResponseHeader {
  const stored = header.clone()
  const drop = new Set(NOT_STORED)
  for (const value of header.getHeaderAll('connection')) {
    for (const name of value.split(',')) drop.add(name.trim().toLowerCase())
  }
  if (cc !== undefined) for (const name of cc.strippedFieldNames()) drop.add(name)
  for (const name of drop) if (name.length > 0) stored.removeHeader(name)
  return stored
}

/**
 * The lowercased field names of a response's `Vary`, `'*'` when it varies on everything, or
 * `undefined` when it does not vary.
 * @param header - the response header
 */
export function varyNames(header: ResponseHeader): string[] | '*' | undefined {
  const values = header.getHeaderAll('vary')
  if (values.length === 0) return undefined
  const names: string[] = []
  for (const value of values) {
    for (const part of value.split(',')) {
      const name = part.trim().toLowerCase()
      if (name === '*') return '*'
      if (name.length > 0 && !names.includes(name)) names.push(name)
    }
  }
  return names.length === 0 ? undefined : names
}

function no(reason: NoCacheReason): RespCacheable {
  return { cacheable: false, reason }
}

// Expires relative to Date; several Expires fields or an invalid one mean "already expired"
// (RFC 9111 section 5.3).
function expiresFreshSec(
  header: ResponseHeader,
  dateMs: number,
  nowMs: number,
): number | undefined {
  const values = header.getHeaderAll('expires')
  if (values.length === 0) return undefined
  if (values.length > 1) return 0
  const expiresMs = parseHttpDate(values[0], nowMs)
  if (expiresMs === undefined) return 0
  return Math.max(0, Math.floor((expiresMs - dateMs) / 1000))
}

function heuristicFreshSec(
  header: ResponseHeader,
  dateMs: number,
  nowMs: number,
): number | undefined {
  const lastModifiedMs = parseHttpDate(header.getHeader('last-modified'), nowMs)
  if (lastModifiedMs === undefined || lastModifiedMs > dateMs) return undefined
  return Math.min(
    HEURISTIC_MAX_SEC,
    Math.floor(((dateMs - lastModifiedMs) / 1000) * HEURISTIC_FRACTION),
  )
}

// RFC 9111 section 4.2.3, with the response received now (no request/response delay known).
function initialAge(header: ResponseHeader, dateMs: number | undefined, nowMs: number): number {
  const apparentMs = dateMs === undefined ? 0 : Math.max(0, nowMs - dateMs)
  const ageText = header.getHeader('age')
  let ageMs = 0
  if (ageText !== undefined && /^[0-9]{1,10}$/.test(ageText.trim())) {
    ageMs = Math.min(Number(ageText.trim()), 2_147_483_648) * 1000
  }
  return Math.max(apparentMs, ageMs)
}

/**
 * Prepares the request a cache sends upstream (Pingora's `filters::upstream::request_filter`):
 * `HEAD` becomes `GET` so the body can be stored; `Range` and the downstream's own
 * conditionals are removed (the cache answers those itself); when revalidating a stored
 * response, `If-None-Match` and `If-Modified-Since` are set from its validators.
 * @param request - the upstream request header, modified in place
 * @param revalidating - the stored meta when revalidating an expired response
 */
export function upstreamRequestFilter(request: RequestHeader, revalidating?: CacheMeta): void {
  if (request.method === 'HEAD') request.setMethod('GET')
  for (const name of [
    'range',
    'if-range',
    'if-none-match',
    'if-modified-since',
    'if-match',
    'if-unmodified-since',
  ]) {
    request.removeHeader(name)
  }
  if (revalidating === undefined) return
  const etag = revalidating.header.getHeader('etag')
  if (etag !== undefined) request.insertHeader('If-None-Match', etag)
  const lastModified = revalidating.header.getHeader('last-modified')
  if (lastModified !== undefined) request.insertHeader('If-Modified-Since', lastModified)
}

/**
 * Merges a `304 Not Modified`'s fields into a stored response header (RFC 9111 sections 3.2
 * and 4.3.4): each field the 304 carries replaces the stored field of that name, except
 * `Content-Length` and the fields a cache never stores. Returns a new header.
 * @param stored - the stored response header
 * @param notModified - the 304 received on revalidation
 */
export function revalidateMergeHeader(
  stored: ResponseHeader,
  notModified: ResponseHeader,
): ResponseHeader {
  const merged = stored.clone()
  const headers = notModified.headers
  const replaced = new Set<string>()
  for (let i = 0; i < headers.size; i++) {
    const name = headers.lowerNameAt(i)
    if (name === 'content-length' || NOT_STORED.has(name)) continue
    if (!replaced.has(name)) {
      merged.removeHeader(name)
      replaced.add(name)
    }
    merged.appendHeader(headers.nameAt(i), headers.valueAt(i))
  }
  return merged
}
