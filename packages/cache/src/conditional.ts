import type { RequestHeader, ResponseHeader } from '@pingora-ts/http'
import { parseHttpDate } from './http-date.ts'

/**
 * Whether a cached (or cache-bound) response answers the downstream's conditional request
 * with `304 Not Modified` (RFC 9110 section 13.2.2): only `GET`/`HEAD` and a `200`;
 * `If-None-Match` decides when present (weak comparison, `*` matches any), otherwise
 * `If-Modified-Since` against `Last-Modified`. The default of `cacheNotModifiedFilter`; port of
 * `pingora-cache::conditional_filter::not_modified_filter`.
 * @param request - the downstream request header
 * @param response - the response header about to be sent
 */
export function notModifiedFilter(request: RequestHeader, response: ResponseHeader): boolean {
  if (response.status !== 200) return false
  const method = request.method
  if (method !== 'GET' && method !== 'HEAD') return false
  const ifNoneMatch = request.getHeaderAll('if-none-match')
  if (ifNoneMatch.length > 0) {
    const etag = response.getHeader('etag')
    return etag !== undefined && etagListMatchesWeak(ifNoneMatch, etag)
  }
  const ifModifiedSince = parseHttpDate(request.getHeader('if-modified-since'))
  if (ifModifiedSince === undefined) return false
  const lastModified = parseHttpDate(response.getHeader('last-modified'))
  if (lastModified === undefined) return false
  return lastModified <= ifModifiedSince
}

/**
 * Turns a `200` header into the `304` that answers a conditional request: status 304, and
 * without the fields that describe a body (`Content-Length`, `Content-Type`,
 * `Transfer-Encoding`, `Content-Range`). Modifies `response` in place.
 * @param response - the response header
 */
export function toNotModified(response: ResponseHeader): void {
  response.setStatus(304)
  for (const name of ['content-length', 'content-type', 'transfer-encoding', 'content-range']) {
    response.removeHeader(name)
  }
}

/**
 * Whether an `If-None-Match` list matches an entity tag with the weak comparison (RFC 9110
 * section 8.8.3.2): `W/` prefixes are ignored; `*` matches.
 * @param values - the `If-None-Match` field values
 * @param etag - the response's `ETag`
 */
export function etagListMatchesWeak(values: readonly string[], etag: string): boolean {
  const target = opaqueTag(etag.trim())
  for (const value of values) {
    for (const tag of splitEtags(value)) {
      if (tag === '*') return true
      if (opaqueTag(tag) === target) return true
    }
  }
  return false
}

/**
 * Splits an entity-tag list on commas outside quotes.
 * @param value - the field value
 */
export function splitEtags(value: string): string[] {
  const tags: string[] = []
  let start = 0
  let quoted = false
  for (let i = 0; i <= value.length; i++) {
    const c = value.charCodeAt(i)
    if (i === value.length || (c === 0x2c && !quoted)) {
      const tag = value.slice(start, i).trim()
      if (tag.length > 0) tags.push(tag)
      start = i + 1
    } else if (c === 0x22) quoted = !quoted
  }
  return tags
}

function opaqueTag(tag: string): string {
  return tag.startsWith('W/') ? tag.slice(2) : tag
}
