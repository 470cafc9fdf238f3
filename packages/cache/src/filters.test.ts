import { HeaderMap, RequestHeader, ResponseHeader } from '@pingora-ts/http'
import { describe, expect, it } from 'vitest'
import { CacheControl } from './cache-control.ts'
import {
  requestCacheable,
  respCacheable,
  revalidateMergeHeader,
  storedHeader,
  upstreamRequestFilter,
  varyNames,
} from './filters.ts'
import { formatHttpDate } from './http-date.ts'
import { CacheMeta, CacheMetaDefaults } from './meta.ts'

const NOW = Date.UTC(2026, 11, 6, 12, 0, 0)
const none = new CacheMetaDefaults(() => undefined)
const tenSeconds = new CacheMetaDefaults((status) => (status === 200 ? 10 : undefined), 5, 60)

function response(status: number, fields: Record<string, string | string[]>): ResponseHeader {
  const header = ResponseHeader.build(status)
  for (const [name, value] of Object.entries(fields)) {
    for (const v of Array.isArray(value) ? value : [value]) header.appendHeader(name, v)
  }
  return header
}

function decide(header: ResponseHeader, defaults = none, authorization = false) {
  return respCacheable(
    CacheControl.fromHeaders(header.headers),
    header,
    authorization,
    defaults,
    NOW,
  )
}

function freshSec(header: ResponseHeader, defaults = none): number | undefined {
  const result = decide(header, defaults)
  return result.cacheable ? (result.meta.freshUntilMs - NOW) / 1000 : undefined
}

describe('requestCacheable', () => {
  it('allows GET and HEAD only, and not with no-store', () => {
    expect(requestCacheable(RequestHeader.build('GET', '/'))).toBe(true)
    expect(requestCacheable(RequestHeader.build('HEAD', '/'))).toBe(true)
    expect(requestCacheable(RequestHeader.build('POST', '/'))).toBe(false)
    const noStore = RequestHeader.build('GET', '/')
    noStore.insertHeader('Cache-Control', 'no-store')
    expect(requestCacheable(noStore)).toBe(false)
  })
})

describe('respCacheable', () => {
  it('takes s-maxage over max-age over Expires', () => {
    const date = formatHttpDate(NOW)
    const expires = formatHttpDate(NOW + 300_000)
    expect(
      freshSec(response(200, { 'cache-control': 'max-age=60, s-maxage=90', date, expires })),
    ).toBe(90)
    expect(freshSec(response(200, { 'cache-control': 'max-age=60', date, expires }))).toBe(60)
    expect(freshSec(response(200, { date, expires }))).toBe(300)
  })

  it('computes Expires relative to Date, not to the local clock', () => {
    const date = formatHttpDate(NOW - 3_600_000) // origin clock one hour behind
    const expires = formatHttpDate(NOW - 3_600_000 + 120_000)
    // Freshness lifetime 120 s; the apparent age (one hour) makes it already stale.
    const result = decide(response(200, { date, expires }))
    expect(result.cacheable).toBe(true)
    if (result.cacheable) {
      expect(result.meta.freshSec()).toBe(120)
      expect(result.meta.isFresh(NOW)).toBe(false)
    }
  })

  it('treats an invalid or repeated Expires as already expired', () => {
    expect(freshSec(response(200, { expires: '0' }))).toBe(0)
    expect(
      freshSec(response(200, { expires: [formatHttpDate(NOW + 1e6), formatHttpDate(NOW + 2e6)] })),
    ).toBe(0)
  })

  it('subtracts the Age the response arrived with', () => {
    const result = decide(response(200, { 'cache-control': 'max-age=100', age: '30' }))
    expect(result.cacheable && result.meta.freshUntilMs - NOW).toBe(70_000)
    expect(result.cacheable && result.meta.ageSec(NOW)).toBe(30)
  })

  it('refuses no-store, private and Vary: *', () => {
    for (const fields of [
      { 'cache-control': 'no-store, max-age=10' },
      { 'cache-control': 'private, max-age=10' },
      { 'cache-control': 'max-age=10', vary: 'Accept, *' },
    ] as Record<string, string>[]) {
      const result = decide(response(200, fields))
      expect(result.cacheable, JSON.stringify(fields)).toBe(false)
      expect(!result.cacheable && result.reason).toBe('OriginNotCache')
    }
  })

  it('stores no-cache responses with zero freshness so each use revalidates', () => {
    const result = decide(
      response(200, { 'cache-control': 'no-cache, max-age=100, stale-while-revalidate=10' }),
    )
    expect(result.cacheable).toBe(true)
    if (result.cacheable) {
      expect(result.meta.isFresh(NOW)).toBe(false)
      expect(result.meta.serveStaleWhileRevalidate(NOW)).toBe(false)
    }
  })

  it('caches a response to an authorized request only with public, s-maxage or must-revalidate', () => {
    expect(decide(response(200, { 'cache-control': 'max-age=10' }), none, true).cacheable).toBe(
      false,
    )
    expect(
      decide(response(200, { 'cache-control': 'public, max-age=10' }), none, true).cacheable,
    ).toBe(true)
    expect(decide(response(200, { 'cache-control': 's-maxage=10' }), none, true).cacheable).toBe(
      true,
    )
    expect(
      decide(response(200, { 'cache-control': 'must-revalidate, max-age=10' }), none, true)
        .cacheable,
    ).toBe(true)
  })

  it('falls back to the defaults by status, 304 sharing the 200 lifetime', () => {
    expect(freshSec(response(200, {}), tenSeconds)).toBe(10)
    expect(freshSec(response(304, {}), tenSeconds)).toBe(10)
    expect(freshSec(response(500, {}), tenSeconds)).toBeUndefined()
    const result = decide(response(200, {}), tenSeconds)
    expect(
      result.cacheable && [result.meta.staleWhileRevalidateSec, result.meta.staleIfErrorSec],
    ).toEqual([5, 60])
  })

  it('gives heuristic freshness from Last-Modified only to the statuses RFC 9110 allows', () => {
    const date = formatHttpDate(NOW)
    const lastModified = formatHttpDate(NOW - 1_000_000)
    expect(freshSec(response(200, { date, 'last-modified': lastModified }))).toBe(100)
    expect(freshSec(response(404, { date, 'last-modified': lastModified }))).toBe(100)
    expect(freshSec(response(302, { date, 'last-modified': lastModified }))).toBeUndefined()
    expect(freshSec(response(500, { date, 'last-modified': lastModified }))).toBeUndefined()
    expect(freshSec(response(200, { date }))).toBeUndefined()
  })

  it('never stores 206 or informational responses', () => {
    expect(decide(response(206, { 'cache-control': 'max-age=10' })).cacheable).toBe(false)
    expect(decide(response(103, { 'cache-control': 'max-age=10' })).cacheable).toBe(false)
  })

  it('turns serving stale off for must-revalidate, proxy-revalidate and s-maxage', () => {
    for (const value of ['must-revalidate', 'proxy-revalidate', 's-maxage=5']) {
      const result = decide(
        response(200, { 'cache-control': `max-age=5, ${value}, stale-if-error=100` }),
      )
      expect(result.cacheable && result.meta.staleIfErrorSec, value).toBe(0)
    }
    const lenient = decide(
      response(200, { 'cache-control': 'max-age=5, stale-if-error=100, stale-while-revalidate=7' }),
    )
    expect(
      lenient.cacheable && [lenient.meta.staleIfErrorSec, lenient.meta.staleWhileRevalidateSec],
    ).toEqual([100, 7])
  })

  it('stores a copy without hop-by-hop, Connection-listed and private-qualified fields', () => {
    const header = response(200, {
      'cache-control': 'max-age=10, private="x-user"',
      connection: 'x-hop',
      'x-hop': '1',
      'x-user': 'alice',
      'keep-alive': 'timeout=5',
      'transfer-encoding': 'chunked',
      'x-kept': 'yes',
    })
    const result = decide(header)
    expect(result.cacheable).toBe(true)
    if (result.cacheable) {
      const stored = result.meta.header
      expect(stored.getHeader('x-kept')).toBe('yes')
      for (const name of ['x-user', 'x-hop', 'connection', 'keep-alive', 'transfer-encoding']) {
        expect(stored.getHeader(name), name).toBeUndefined()
      }
    }
    expect(header.getHeader('x-user')).toBe('alice')
    expect(storedHeader(header, undefined).getHeader('x-user')).toBe('alice')
  })
})

describe('varyNames', () => {
  it('lists lowercased names, or * for everything', () => {
    expect(
      varyNames(response(200, { vary: ['Accept-Encoding, accept-language', 'Accept-Encoding'] })),
    ).toEqual(['accept-encoding', 'accept-language'])
    expect(varyNames(response(200, { vary: '*' }))).toBe('*')
    expect(varyNames(response(200, {}))).toBeUndefined()
  })
})

describe('upstreamRequestFilter', () => {
  it('turns HEAD into GET and strips Range and downstream conditionals', () => {
    const request = RequestHeader.build('HEAD', '/x')
    for (const name of ['Range', 'If-Range', 'If-None-Match', 'If-Modified-Since'])
      request.insertHeader(name, 'v')
    upstreamRequestFilter(request)
    expect(request.method).toBe('GET')
    expect(request.headers.size).toBe(0)
  })

  it('adds the stored validators when revalidating', () => {
    const request = RequestHeader.build('GET', '/x')
    request.insertHeader('If-None-Match', '"client"')
    const meta = new CacheMeta({
      createdMs: NOW,
      updatedMs: NOW,
      freshUntilMs: NOW,
      staleWhileRevalidateSec: 0,
      staleIfErrorSec: 0,
      header: response(200, { etag: '"v1"', 'last-modified': formatHttpDate(NOW - 1000) }),
    })
    upstreamRequestFilter(request, meta)
    expect(request.getHeader('if-none-match')).toBe('"v1"')
    expect(request.getHeader('if-modified-since')).toBe(formatHttpDate(NOW - 1000))
  })
})

describe('revalidateMergeHeader', () => {
  it('replaces fields the 304 carries, keeps the rest and never the Content-Length', () => {
    const stored = response(200, {
      'content-length': '5',
      etag: '"a"',
      'cache-control': 'max-age=1',
      'x-old': '1',
    })
    const notModified = response(304, {
      'cache-control': 'max-age=100',
      'content-length': '0',
      'x-new': ['a', 'b'],
      connection: 'close',
    })
    const merged = revalidateMergeHeader(stored, notModified)
    expect(merged.status).toBe(200)
    expect(merged.getHeader('content-length')).toBe('5')
    expect(merged.getHeaderAll('cache-control')).toEqual(['max-age=100'])
    expect(merged.getHeaderAll('x-new')).toEqual(['a', 'b'])
    expect(merged.getHeader('x-old')).toBe('1')
    expect(merged.getHeader('connection')).toBeUndefined()
    expect(stored.getHeader('cache-control')).toBe('max-age=1')
  })
})

describe('CacheMeta serialisation', () => {
  it('round-trips every field, header order and latin1 bytes', () => {
    const header = ResponseHeader.fromRaw(
      203,
      'Custom Reason',
      'HTTP/1.1',
      HeaderMap.fromRaw(['X-B', 'x-a', 'X-B'], ['1', 'caf\u00e9', '2']),
    )
    const meta = new CacheMeta({
      createdMs: 1,
      updatedMs: 2,
      freshUntilMs: 3,
      staleWhileRevalidateSec: 4,
      staleIfErrorSec: 5,
      header,
      variance: 'ab',
    })
    const back = CacheMeta.deserialize(meta.serialize())
    expect([
      back.createdMs,
      back.updatedMs,
      back.freshUntilMs,
      back.staleWhileRevalidateSec,
      back.staleIfErrorSec,
      back.variance,
    ]).toEqual([1, 2, 3, 4, 5, 'ab'])
    expect(back.header.status).toBe(203)
    expect(back.header.reasonPhrase).toBe('Custom Reason')
    expect(back.header.toH1String()).toBe(header.toH1String())
  })

  it('rejects corrupt bytes with a typed error', () => {
    for (const bad of ['', '{', '{"v":2}', '{"v":1,"createdMs":"x"}', 'null']) {
      try {
        CacheMeta.deserialize(Buffer.from(bad))
        expect.unreachable(bad)
      } catch (error) {
        expect((error as { type: string }).type).toBe('InternalError')
      }
    }
  })
})
