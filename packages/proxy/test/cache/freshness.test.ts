// RFC 9111 section 4.2 (freshness) and 5.1 (Age), through the proxy: a real origin, a real client.
import { describe, expect, it } from 'vitest'
import { cachingProxy, client, countingOrigin, TestClock } from './cache-helpers.ts'

describe('freshness (RFC 9111 section 4.2)', () => {
  it('serves a max-age response from the cache until it expires, with Age', async () => {
    const clock = new TestClock()
    const origin = await countingOrigin((_req, res) => {
      res.writeHead(200, { 'cache-control': 'max-age=60', 'content-type': 'text/plain' })
      res.end(`body ${origin.calls}`)
    })
    const proxy = await cachingProxy(origin.port, { clock })
    const get = client()
    const miss = await get(proxy.url, '/a')
    expect([miss.status, miss.cacheStatus, miss.body]).toEqual([200, 'MISS', 'body 1'])
    clock.advance(30)
    const hit = await get(proxy.url, '/a')
    expect([hit.status, hit.cacheStatus, hit.body, hit.headers.age]).toEqual([
      200,
      'HIT',
      'body 1',
      '30',
    ])
    clock.advance(31)
    const expired = await get(proxy.url, '/a')
    expect([expired.cacheStatus, expired.body]).toEqual(['EXPIRED', 'body 2'])
    expect(origin.calls).toBe(2)
    expect(proxy.logged.map((l) => l.status)).toEqual(['miss', 'hit', 'expired'])
  })

  it('serves a 64 KiB response from the cache again and again, intact', async () => {
    const clock = new TestClock()
    const body = Buffer.alloc(64 * 1024, 'abcdefgh').toString()
    const origin = await countingOrigin((_req, res) => {
      res.writeHead(200, { 'cache-control': 'max-age=60', 'content-length': body.length })
      res.end(body)
    })
    const proxy = await cachingProxy(origin.port, { clock })
    const get = client()
    const replies = []
    for (let i = 0; i < 4; i++) replies.push(await get(proxy.url, '/64k'))
    expect(replies.map((r) => [r.cacheStatus, r.body === body])).toEqual([
      ['MISS', true],
      ['HIT', true],
      ['HIT', true],
      ['HIT', true],
    ])
  })

  it('prefers s-maxage over max-age for a shared cache', async () => {
    const clock = new TestClock()
    const origin = await countingOrigin((_req, res) => {
      res.writeHead(200, { 'cache-control': 'max-age=1, s-maxage=100' })
      res.end('s')
    })
    const proxy = await cachingProxy(origin.port, { clock })
    const get = client()
    await get(proxy.url, '/s')
    clock.advance(50)
    expect((await get(proxy.url, '/s')).cacheStatus).toBe('HIT')
    clock.advance(51)
    expect((await get(proxy.url, '/s')).cacheStatus).toBe('EXPIRED')
    expect(origin.calls).toBe(2)
  })

  it('uses Expires relative to Date when no max-age is given', async () => {
    const clock = new TestClock()
    const origin = await countingOrigin((_req, res) => {
      res.writeHead(200, { date: clock.date(), expires: clock.date(20) })
      res.end('e')
    })
    const proxy = await cachingProxy(origin.port, { clock })
    const get = client()
    await get(proxy.url, '/e')
    clock.advance(19)
    expect((await get(proxy.url, '/e')).cacheStatus).toBe('HIT')
    clock.advance(2)
    expect((await get(proxy.url, '/e')).cacheStatus).toBe('EXPIRED')
  })

  it('gives heuristic freshness (10% of the Last-Modified age) to a 200 without expiry', async () => {
    const clock = new TestClock()
    const origin = await countingOrigin((_req, res) => {
      // Modified 1000 s ago: fresh for 100 s.
      res.writeHead(200, { date: clock.date(), 'last-modified': clock.date(-1000) })
      res.end('h')
    })
    const proxy = await cachingProxy(origin.port, { clock })
    const get = client()
    await get(proxy.url, '/h')
    clock.advance(99)
    expect((await get(proxy.url, '/h')).cacheStatus).toBe('HIT')
    clock.advance(2)
    expect((await get(proxy.url, '/h')).cacheStatus).toBe('EXPIRED')
  })

  it('does not store a response without explicit or heuristic freshness', async () => {
    const clock = new TestClock()
    const origin = await countingOrigin((_req, res) => {
      res.end('plain')
    })
    const proxy = await cachingProxy(origin.port, { clock })
    const get = client()
    await get(proxy.url, '/p')
    const second = await get(proxy.url, '/p')
    expect(second.cacheStatus).toBe('MISS')
    expect(origin.calls).toBe(2)
    expect(proxy.logged[1]?.reason).toBe('OriginNotCache')
  })

  it('subtracts the Age the origin sent from the freshness lifetime', async () => {
    const clock = new TestClock()
    const origin = await countingOrigin((_req, res) => {
      res.writeHead(200, { 'cache-control': 'max-age=60', age: '50' })
      res.end('aged')
    })
    const proxy = await cachingProxy(origin.port, { clock })
    const get = client()
    await get(proxy.url, '/aged')
    clock.advance(5)
    const hit = await get(proxy.url, '/aged')
    expect([hit.cacheStatus, hit.headers.age]).toEqual(['HIT', '55'])
    clock.advance(6)
    expect((await get(proxy.url, '/aged')).cacheStatus).toBe('EXPIRED')
  })
})
