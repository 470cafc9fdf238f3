// RFC 9111 section 4.3 (validation) and RFC 9110 section 13 (conditional requests), through
// the proxy: 304 revalidation with the stored validators, the header merge, and 304 answers
// to the client's own conditionals from a stored response.
import { describe, expect, it } from 'vitest'
import { cachingProxy, client, countingOrigin, TestClock } from './cache-helpers.ts'

describe('validation (RFC 9111 section 4.3)', () => {
  it('revalidates an expired response with If-None-Match and merges the 304 header', async () => {
    const clock = new TestClock()
    const origin = await countingOrigin((req, res) => {
      if (req.headers['if-none-match'] === '"v1"') {
        res.writeHead(304, { etag: '"v1"', 'cache-control': 'max-age=10', 'x-version': 'two' })
        res.end()
        return
      }
      res.writeHead(200, {
        etag: '"v1"',
        'cache-control': 'max-age=10',
        'x-version': 'one',
        'content-type': 'text/plain',
      })
      res.end('stored body')
    })
    const proxy = await cachingProxy(origin.port, { clock })
    const get = client()
    await get(proxy.url, '/v')
    clock.advance(11)
    const revalidated = await get(proxy.url, '/v')
    expect([
      revalidated.status,
      revalidated.cacheStatus,
      revalidated.body,
      revalidated.headers['x-version'],
      revalidated.headers['content-type'],
    ]).toEqual([200, 'REVALIDATED', 'stored body', 'two', 'text/plain'])
    expect(origin.seen[1]?.headers['if-none-match']).toBe('"v1"')
    // The merged header is stored with a new freshness lifetime.
    clock.advance(5)
    const hit = await get(proxy.url, '/v')
    expect([hit.cacheStatus, hit.headers['x-version'], hit.body]).toEqual([
      'HIT',
      'two',
      'stored body',
    ])
    expect(origin.calls).toBe(2)
  })

  it('revalidates with If-Modified-Since from Last-Modified', async () => {
    const clock = new TestClock()
    const lastModified = clock.date(-3600)
    const origin = await countingOrigin((req, res) => {
      if (req.headers['if-modified-since'] === lastModified) {
        res.writeHead(304, { 'cache-control': 'max-age=10' })
        res.end()
        return
      }
      res.writeHead(200, { 'last-modified': lastModified, 'cache-control': 'max-age=10' })
      res.end('lm')
    })
    const proxy = await cachingProxy(origin.port, { clock })
    const get = client()
    await get(proxy.url, '/lm')
    clock.advance(11)
    const second = await get(proxy.url, '/lm')
    expect([second.cacheStatus, second.body]).toEqual(['REVALIDATED', 'lm'])
    expect(origin.seen[1]?.headers['if-modified-since']).toBe(lastModified)
  })

  it('replaces the stored response when the origin answers the revalidation with a 200', async () => {
    const clock = new TestClock()
    let version = 1
    const origin = await countingOrigin((_req, res) => {
      res.writeHead(200, { etag: `"v${version}"`, 'cache-control': 'max-age=10' })
      res.end(`version ${version}`)
    })
    const proxy = await cachingProxy(origin.port, { clock })
    const get = client()
    await get(proxy.url, '/r')
    version = 2
    clock.advance(11)
    expect((await get(proxy.url, '/r')).body).toBe('version 2')
    const hit = await get(proxy.url, '/r')
    expect([hit.cacheStatus, hit.body]).toEqual(['HIT', 'version 2'])
  })

  it("answers the client's If-None-Match with a 304 from a stored response", async () => {
    const clock = new TestClock()
    const origin = await countingOrigin((_req, res) => {
      res.writeHead(200, { etag: 'W/"tag"', 'cache-control': 'max-age=60' })
      res.end('conditional')
    })
    const proxy = await cachingProxy(origin.port, { clock })
    const get = client()
    // On the miss too: the response being stored answers the conditional.
    const first = await get(proxy.url, '/c', { headers: { 'if-none-match': '"tag"' } })
    expect([first.status, first.body]).toEqual([304, ''])
    const hit = await get(proxy.url, '/c', { headers: { 'if-none-match': '"other", "tag"' } })
    expect([hit.status, hit.cacheStatus, hit.body]).toEqual([304, 'HIT', ''])
    const full = await get(proxy.url, '/c', { headers: { 'if-none-match': '"other"' } })
    expect([full.status, full.body]).toEqual([200, 'conditional'])
    // The origin saw no conditional: the proxy stripped it to fill the cache.
    expect(origin.seen[0]?.headers['if-none-match']).toBeUndefined()
    expect(origin.calls).toBe(1)
  })

  it('answers If-Modified-Since with a 304 when the stored Last-Modified is not newer', async () => {
    const clock = new TestClock()
    const origin = await countingOrigin((_req, res) => {
      res.writeHead(200, { 'last-modified': clock.date(-100), 'cache-control': 'max-age=60' })
      res.end('ims')
    })
    const proxy = await cachingProxy(origin.port, { clock })
    const get = client()
    await get(proxy.url, '/ims')
    const notModified = await get(proxy.url, '/ims', {
      headers: { 'if-modified-since': clock.date(-50) },
    })
    expect(notModified.status).toBe(304)
    const modified = await get(proxy.url, '/ims', {
      headers: { 'if-modified-since': clock.date(-200) },
    })
    expect([modified.status, modified.body]).toEqual([200, 'ims'])
  })

  it('revalidates a must-revalidate response and never serves it stale on error', async () => {
    const clock = new TestClock()
    let fail = false
    const origin = await countingOrigin((_req, res) => {
      if (fail) {
        res.writeHead(503)
        res.end('down')
        return
      }
      res.writeHead(200, {
        'cache-control': 'max-age=10, must-revalidate, stale-if-error=600',
      })
      res.end('strict')
    })
    const proxy = await cachingProxy(origin.port, { clock })
    const get = client()
    await get(proxy.url, '/mr')
    clock.advance(11)
    fail = true
    const answer = await get(proxy.url, '/mr')
    expect([answer.status, answer.body]).toEqual([503, 'down'])
  })

  it('revalidates a no-cache response on every use', async () => {
    const clock = new TestClock()
    const origin = await countingOrigin((req, res) => {
      if (req.headers['if-none-match'] === '"nc"') {
        res.writeHead(304, { etag: '"nc"', 'cache-control': 'no-cache' })
        res.end()
        return
      }
      res.writeHead(200, { etag: '"nc"', 'cache-control': 'no-cache' })
      res.end('always check')
    })
    const proxy = await cachingProxy(origin.port, { clock })
    const get = client()
    await get(proxy.url, '/nc')
    const second = await get(proxy.url, '/nc')
    const third = await get(proxy.url, '/nc')
    expect([second.cacheStatus, second.body]).toEqual(['REVALIDATED', 'always check'])
    expect(third.cacheStatus).toBe('REVALIDATED')
    expect(origin.calls).toBe(3)
  })
})
