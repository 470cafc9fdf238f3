// Vary (RFC 9111 section 4.1), the cache lock, Range from the cache (RFC 9110 section 14),
// the maximum object size, stale-while-revalidate and stale-if-error (RFC 5861), purge.
import diagnosticsChannel from 'node:diagnostics_channel'
import { CHANNEL_NAMES as CACHE_CHANNELS, type RefreshFinishedMessage } from '@pingora-ts/cache'
import type { Session } from '@pingora-ts/proxy'
import { describe, expect, it, onTestFinished } from 'vitest'
import { peerFor, startProxy } from '../helpers.ts'
import { cachingProxy, client, countingOrigin, TestClock } from './cache-helpers.ts'

function nextRefresh(): Promise<RefreshFinishedMessage> {
  return new Promise((resolve) => {
    const listener = (message: unknown) => {
      diagnosticsChannel.unsubscribe(CACHE_CHANNELS.refreshFinished, listener)
      resolve(message as RefreshFinishedMessage)
    }
    diagnosticsChannel.subscribe(CACHE_CHANNELS.refreshFinished, listener)
    onTestFinished(() => {
      diagnosticsChannel.unsubscribe(CACHE_CHANNELS.refreshFinished, listener)
    })
  })
}

describe('Vary (RFC 9111 section 4.1)', () => {
  it('stores one variant per value of the fields Vary names', async () => {
    const clock = new TestClock()
    const origin = await countingOrigin((req, res) => {
      res.writeHead(200, { 'cache-control': 'max-age=60', vary: 'Accept-Language' })
      res.end(`lang ${req.headers['accept-language'] ?? 'none'}`)
    })
    const proxy = await cachingProxy(origin.port, { clock })
    const get = client()
    const en = { 'accept-language': 'en' }
    const fr = { 'accept-language': 'fr' }
    expect((await get(proxy.url, '/v', { headers: en })).body).toBe('lang en')
    expect((await get(proxy.url, '/v', { headers: fr })).body).toBe('lang fr')
    const enHit = await get(proxy.url, '/v', { headers: en })
    const frHit = await get(proxy.url, '/v', { headers: fr })
    expect([enHit.cacheStatus, enHit.body, frHit.cacheStatus, frHit.body]).toEqual([
      'HIT',
      'lang en',
      'HIT',
      'lang fr',
    ])
    expect((await get(proxy.url, '/v')).body).toBe('lang none')
    expect(origin.calls).toBe(3)
  })

  it('never stores Vary: *', async () => {
    const clock = new TestClock()
    const origin = await countingOrigin((_req, res) => {
      res.writeHead(200, { 'cache-control': 'max-age=60', vary: '*' })
      res.end('star')
    })
    const proxy = await cachingProxy(origin.port, { clock })
    const get = client()
    await get(proxy.url, '/star')
    await get(proxy.url, '/star')
    expect(origin.calls).toBe(2)
  })
})

describe('cache lock', () => {
  it('sends N concurrent requests for a cold key to the origin once', async () => {
    const clock = new TestClock()
    const n = 20
    let release: (() => void) | undefined
    const held = new Promise<void>((resolve) => {
      release = resolve
    })
    const origin = await countingOrigin((_req, res) => {
      void held.then(() => {
        res.writeHead(200, { 'cache-control': 'max-age=60', 'content-length': 4 })
        res.end('once')
      })
    })
    // Every request reports its miss just before it takes (or waits on) the lock; the origin
    // answers once all of them did, so the waiters are parked on the lock by then.
    let misses = 0
    const proxy = await cachingProxy(origin.port, {
      clock,
      phases: {
        cacheMissFilter(session: Session) {
          session.cache.cacheMiss()
          if (++misses === n) setImmediate(() => release?.())
        },
      },
    })
    const get = client(n)
    const replies = await Promise.all(Array.from({ length: n }, () => get(proxy.url, '/cold')))
    expect(replies.map((r) => r.body)).toEqual(Array(n).fill('once'))
    expect(origin.calls).toBe(1)
    expect(replies.filter((r) => r.cacheStatus === 'MISS').length).toBe(1)
  })
})

describe('Range (RFC 9110 section 14) from the cache', () => {
  it('serves single and multiple ranges, If-Range and 416 from a stored response', async () => {
    const clock = new TestClock()
    const origin = await countingOrigin((_req, res) => {
      res.writeHead(200, {
        'cache-control': 'max-age=60',
        etag: '"r"',
        'content-type': 'text/plain',
        'content-length': 26,
      })
      res.end('abcdefghijklmnopqrstuvwxyz')
    })
    const proxy = await cachingProxy(origin.port, { clock })
    const get = client()
    // A range on the miss: the origin is asked for the whole body, the client gets its range.
    const miss = await get(proxy.url, '/r', { headers: { range: 'bytes=0-2' } })
    expect([miss.status, miss.body, miss.headers['content-range']]).toEqual([
      206,
      'abc',
      'bytes 0-2/26',
    ])
    expect(origin.seen[0]?.headers.range).toBeUndefined()
    const single = await get(proxy.url, '/r', { headers: { range: 'bytes=3-5' } })
    expect([single.status, single.cacheStatus, single.body]).toEqual([206, 'HIT', 'def'])
    const suffix = await get(proxy.url, '/r', { headers: { range: 'bytes=-3' } })
    expect(suffix.body).toBe('xyz')
    const multi = await get(proxy.url, '/r', { headers: { range: 'bytes=0-0,25-25' } })
    expect(multi.status).toBe(206)
    expect(String(multi.headers['content-type'])).toMatch(/^multipart\/byteranges; boundary=/)
    expect(multi.body).toContain('Content-Range: bytes 0-0/26\r\n\r\na')
    expect(multi.body).toContain('Content-Range: bytes 25-25/26\r\n\r\nz')
    const ifRangeStale = await get(proxy.url, '/r', {
      headers: { range: 'bytes=0-0', 'if-range': '"old"' },
    })
    expect([ifRangeStale.status, ifRangeStale.body.length]).toEqual([200, 26])
    const unsatisfiable = await get(proxy.url, '/r', { headers: { range: 'bytes=30-40' } })
    expect([unsatisfiable.status, unsatisfiable.headers['content-range']]).toEqual([
      416,
      'bytes */26',
    ])
    expect(origin.calls).toBe(1)
  })
  it('answers a Range request on a miss with 206 and stores the whole response', async () => {
    const clock = new TestClock()
    const origin = await countingOrigin((_req, res) => {
      res.writeHead(200, { 'cache-control': 'max-age=60', etag: '"v1"', 'content-length': 26 })
      res.end('abcdefghijklmnopqrstuvwxyz')
    })
    const proxy = await cachingProxy(origin.port, { clock })
    const get = client()
    const partial = await get(proxy.url, '/m', { headers: { range: 'bytes=2-4' } })
    expect([
      partial.status,
      partial.cacheStatus,
      partial.headers['content-range'],
      partial.body,
    ]).toEqual([206, 'MISS', 'bytes 2-4/26', 'cde'])
    // The origin was asked for the whole response, which is now stored.
    expect(origin.seen[0]?.headers.range).toBeUndefined()
    const whole = await get(proxy.url, '/m')
    expect([whole.status, whole.cacheStatus, whole.body]).toEqual([
      200,
      'HIT',
      'abcdefghijklmnopqrstuvwxyz',
    ])
    expect(origin.calls).toBe(1)
  })
})

describe('a proxy without a cache', () => {
  it('never builds the cache state: no status, no HttpCache, every request upstream', async () => {
    const origin = await countingOrigin((_req, res) => {
      res.writeHead(200, { 'cache-control': 'max-age=600' })
      res.end('fresh')
    })
    const seen: unknown[] = []
    const proxy = await startProxy<undefined>({
      newCtx: () => undefined,
      upstreamPeer: () => peerFor(origin.port),
      logging(session: Session) {
        seen.push([session.cacheStatus, session.cacheIfUsed])
      },
    })
    onTestFinished(proxy.close)
    const get = client()
    expect((await get(proxy.url, '/n')).body).toBe('fresh')
    expect((await get(proxy.url, '/n')).body).toBe('fresh')
    expect(origin.calls).toBe(2)
    expect(seen).toEqual([
      [undefined, undefined],
      [undefined, undefined],
    ])
  })
})

describe('maximum object size', () => {
  it('aborts the fill past the limit but completes the response', async () => {
    const clock = new TestClock()
    const big = 'x'.repeat(64 * 1024)
    const origin = await countingOrigin((req, res) => {
      // Chunked: the size is only known while streaming.
      res.writeHead(200, { 'cache-control': 'max-age=60' })
      if (req.url === '/big') {
        res.write(big)
        res.end(big)
      } else res.end('small')
    })
    const proxy = await cachingProxy(origin.port, { clock, maxFileSizeBytes: 100 * 1024 })
    const get = client()
    const first = await get(proxy.url, '/big')
    expect(first.body.length).toBe(128 * 1024)
    expect(proxy.logged[0]?.reason).toBe('ResponseTooLarge')
    const second = await get(proxy.url, '/big')
    expect(second.body.length).toBe(128 * 1024)
    expect(second.cacheStatus).not.toBe('HIT')
    await get(proxy.url, '/small')
    expect((await get(proxy.url, '/small')).cacheStatus).toBe('HIT')
  })

  it('does not store a response whose Content-Length is over the limit', async () => {
    const clock = new TestClock()
    const origin = await countingOrigin((_req, res) => {
      res.writeHead(200, { 'cache-control': 'max-age=60', 'content-length': 2000 })
      res.end('y'.repeat(2000))
    })
    const proxy = await cachingProxy(origin.port, { clock, maxFileSizeBytes: 1000 })
    const get = client()
    expect((await get(proxy.url, '/cl')).body.length).toBe(2000)
    expect((await get(proxy.url, '/cl')).body.length).toBe(2000)
    expect(origin.calls).toBe(2)
  })
})

describe('serving stale (RFC 5861)', () => {
  it('stale-while-revalidate: serves the stale copy and refreshes it in the background', async () => {
    const clock = new TestClock()
    let version = 1
    const origin = await countingOrigin((_req, res) => {
      res.writeHead(200, { 'cache-control': 'max-age=10, stale-while-revalidate=60' })
      res.end(`v${version}`)
    })
    const proxy = await cachingProxy(origin.port, {
      clock,
      phases: { shouldServeStale: () => true },
    })
    const get = client()
    await get(proxy.url, '/swr')
    version = 2
    clock.advance(15)
    const refreshed = nextRefresh()
    const stale = await get(proxy.url, '/swr')
    expect([stale.cacheStatus, stale.body]).toEqual(['UPDATING', 'v1'])
    expect((await refreshed).reason).toBeUndefined()
    const fresh = await get(proxy.url, '/swr')
    expect([fresh.cacheStatus, fresh.body]).toEqual(['HIT', 'v2'])
    expect(origin.calls).toBe(2)
  })

  it('stale-while-revalidate is off by default (shouldServeStale)', async () => {
    const clock = new TestClock()
    const origin = await countingOrigin((_req, res) => {
      res.writeHead(200, { 'cache-control': 'max-age=10, stale-while-revalidate=60' })
      res.end(`n${origin.calls}`)
    })
    const proxy = await cachingProxy(origin.port, { clock })
    const get = client()
    await get(proxy.url, '/off')
    clock.advance(15)
    const second = await get(proxy.url, '/off')
    expect([second.cacheStatus, second.body]).toEqual(['EXPIRED', 'n2'])
  })

  it('stale-if-error: serves the stale copy when the origin answers 5xx', async () => {
    const clock = new TestClock()
    let fail = false
    const origin = await countingOrigin((_req, res) => {
      if (fail) {
        res.writeHead(502)
        res.end('bad gateway')
        return
      }
      res.writeHead(200, { 'cache-control': 'max-age=10, stale-if-error=60' })
      res.end('good')
    })
    const proxy = await cachingProxy(origin.port, { clock })
    const get = client()
    await get(proxy.url, '/sie')
    clock.advance(20)
    fail = true
    const stale = await get(proxy.url, '/sie')
    expect([stale.status, stale.cacheStatus, stale.body]).toEqual([200, 'STALE', 'good'])
    clock.advance(60)
    const tooOld = await get(proxy.url, '/sie')
    expect([tooOld.status, tooOld.body]).toEqual([502, 'bad gateway'])
  })

  it('stale-if-error: serves the stale copy when the origin cannot be reached', async () => {
    const clock = new TestClock()
    const origin = await countingOrigin((_req, res) => {
      res.writeHead(200, { 'cache-control': 'max-age=10, stale-if-error=60' })
      res.end('cached')
    })
    let down = false
    const proxy = await cachingProxy(origin.port, {
      clock,
      // Port 1 on loopback refuses connections.
      phases: { upstreamPeer: () => peerFor(down ? 1 : origin.port) },
    })
    const get = client()
    await get(proxy.url, '/down')
    clock.advance(20)
    down = true
    const stale = await get(proxy.url, '/down')
    expect([stale.status, stale.cacheStatus, stale.body]).toEqual([200, 'STALE', 'cached'])
  })
})

describe('purge', () => {
  it('is off by default: PURGE goes to the origin', async () => {
    const clock = new TestClock()
    const origin = await countingOrigin((req, res) => {
      req.resume()
      res.writeHead(req.method === 'PURGE' ? 405 : 200, { 'cache-control': 'max-age=60' })
      res.end()
    })
    const proxy = await cachingProxy(origin.port, { clock })
    const get = client()
    await get(proxy.url, '/p')
    expect((await get(proxy.url, '/p', { method: 'PURGE' })).status).toBe(405)
    expect(origin.seen.map((r) => r.method)).toEqual(['GET', 'PURGE'])
    expect((await get(proxy.url, '/p')).cacheStatus).toBe('HIT')
  })

  it('removes the stored response when isPurge says so, with purgeResponseFilter', async () => {
    const clock = new TestClock()
    const origin = await countingOrigin((_req, res) => {
      res.writeHead(200, { 'cache-control': 'max-age=60' })
      res.end(`p${origin.calls}`)
    })
    const proxy = await cachingProxy(origin.port, {
      clock,
      phases: {
        isPurge: (session: Session) => session.requestHeader.method === 'PURGE',
        purgeResponseFilter: (_session, _ctx, status, response) => {
          response.insertHeader('X-Purge', status)
        },
      },
    })
    const get = client()
    await get(proxy.url, '/p')
    const purged = await get(proxy.url, '/p', { method: 'PURGE' })
    expect([purged.status, purged.headers['x-purge']]).toEqual([200, 'Found'])
    const again = await get(proxy.url, '/p', { method: 'PURGE' })
    expect([again.status, again.headers['x-purge']]).toEqual([404, 'NotFound'])
    expect((await get(proxy.url, '/p')).body).toBe('p2')
    expect(origin.seen.map((r) => r.method)).toEqual(['GET', 'GET'])
  })
})
