// RFC 9111 section 3 (storing responses) and 4.4 (invalidation), through the proxy.
import { CacheKey } from '@pingora-ts/cache'
import type { Session } from '@pingora-ts/proxy'
import { describe, expect, it } from 'vitest'
import { cachingProxy, client, countingOrigin, TestClock } from './cache-helpers.ts'

describe('storing responses (RFC 9111 section 3)', () => {
  it('never stores no-store', async () => {
    const clock = new TestClock()
    const origin = await countingOrigin((_req, res) => {
      res.writeHead(200, { 'cache-control': 'no-store, max-age=60' })
      res.end('secret')
    })
    const proxy = await cachingProxy(origin.port, { clock })
    const get = client()
    await get(proxy.url, '/ns')
    expect((await get(proxy.url, '/ns')).cacheStatus).toBe('MISS')
    expect(origin.calls).toBe(2)
  })

  it('never stores private responses in the shared cache', async () => {
    const clock = new TestClock()
    const origin = await countingOrigin((_req, res) => {
      res.writeHead(200, { 'cache-control': 'private, max-age=60' })
      res.end('mine')
    })
    const proxy = await cachingProxy(origin.port, { clock })
    const get = client()
    await get(proxy.url, '/private')
    await get(proxy.url, '/private')
    expect(origin.calls).toBe(2)
  })

  it('bypasses the cache for a request with Cache-Control: no-store', async () => {
    const clock = new TestClock()
    const origin = await countingOrigin((_req, res) => {
      res.writeHead(200, { 'cache-control': 'max-age=60' })
      res.end('x')
    })
    const proxy = await cachingProxy(origin.port, { clock })
    const get = client()
    const bypass = await get(proxy.url, '/b', { headers: { 'cache-control': 'no-store' } })
    expect(bypass.cacheStatus).toBe('BYPASS')
    expect((await get(proxy.url, '/b')).cacheStatus).toBe('MISS')
  })

  it('stores a response to an Authorization request only when public', async () => {
    const clock = new TestClock()
    const origin = await countingOrigin((req, res) => {
      res.writeHead(200, {
        'cache-control': req.url === '/public' ? 'public, max-age=60' : 'max-age=60',
      })
      res.end('auth')
    })
    const proxy = await cachingProxy(origin.port, { clock })
    const get = client()
    const auth = { authorization: 'Bearer x' }
    await get(proxy.url, '/plain', { headers: auth })
    expect((await get(proxy.url, '/plain', { headers: auth })).cacheStatus).toBe('MISS')
    await get(proxy.url, '/public', { headers: auth })
    expect((await get(proxy.url, '/public', { headers: auth })).cacheStatus).toBe('HIT')
  })

  it('answers HEAD from a GET entry and fills GET entries from a HEAD miss', async () => {
    const clock = new TestClock()
    const origin = await countingOrigin((req, res) => {
      res.writeHead(200, { 'cache-control': 'max-age=60', 'content-length': 5 })
      res.end(req.method === 'HEAD' ? undefined : 'hello')
    })
    const proxy = await cachingProxy(origin.port, { clock })
    const get = client()
    await get(proxy.url, '/g')
    const head = await get(proxy.url, '/g', { method: 'HEAD' })
    expect([head.status, head.cacheStatus, head.headers['content-length'], head.body]).toEqual([
      200,
      'HIT',
      '5',
      '',
    ])
    const headMiss = await get(proxy.url, '/h', { method: 'HEAD' })
    expect([headMiss.cacheStatus, headMiss.body]).toEqual(['MISS', ''])
    expect(origin.seen[1]?.method).toBe('GET')
    const after = await get(proxy.url, '/h')
    expect([after.cacheStatus, after.body]).toEqual(['HIT', 'hello'])
    expect(origin.calls).toBe(2)
  })

  it('does not store an incomplete response (RFC 9111 section 3.3)', async () => {
    const clock = new TestClock()
    const origin = await countingOrigin((_req, res) => {
      res.writeHead(200, { 'cache-control': 'max-age=60', 'content-length': 100 })
      if (origin.calls === 1) {
        // Half the body, then the connection drops.
        res.write('x'.repeat(50), () => res.socket?.destroy())
        return
      }
      res.end('y'.repeat(100))
    })
    const proxy = await cachingProxy(origin.port, { clock })
    const get = client()
    await expect(get(proxy.url, '/cut')).rejects.toThrow()
    const second = await get(proxy.url, '/cut')
    expect([second.cacheStatus, second.body]).toEqual(['MISS', 'y'.repeat(100)])
    expect((await get(proxy.url, '/cut')).cacheStatus).toBe('HIT')
  })

  it('never answers a request with a body from a GET entry', async () => {
    const clock = new TestClock()
    const origin = await countingOrigin((req, res) => {
      let body = ''
      req.on('data', (chunk: Buffer) => {
        body += chunk
      })
      req.on('end', () => {
        res.writeHead(200, { 'cache-control': 'max-age=60' })
        res.end(`got ${body}`)
      })
    })
    const proxy = await cachingProxy(origin.port, { clock })
    const get = client()
    await get(proxy.url, '/q')
    const withBody = await get(proxy.url, '/q', { method: 'GET', body: 'payload' })
    expect([withBody.cacheStatus, withBody.body]).toEqual(['BYPASS', 'got payload'])
    expect((await get(proxy.url, '/q')).body).toBe('got ')
  })
})

describe('invalidation (RFC 9111 section 4.4)', () => {
  for (const method of ['POST', 'PUT', 'DELETE']) {
    it(`a successful ${method} invalidates the target and its Location`, async () => {
      const clock = new TestClock()
      let version = 1
      const origin = await countingOrigin((req, res) => {
        if (req.method !== 'GET') {
          version++
          req.resume()
          res.writeHead(200, { location: '/other' })
          res.end()
          return
        }
        res.writeHead(200, { 'cache-control': 'max-age=600' })
        res.end(`${req.url} v${version}`)
      })
      const proxy = await cachingProxy(origin.port, { clock })
      const get = client()
      await get(proxy.url, '/item')
      await get(proxy.url, '/other')
      expect((await get(proxy.url, '/item')).cacheStatus).toBe('HIT')
      const unsafe = await get(proxy.url, '/item', { method, body: 'x' })
      expect([unsafe.status, unsafe.cacheStatus]).toEqual([200, 'BYPASS'])
      const item = await get(proxy.url, '/item')
      const other = await get(proxy.url, '/other')
      expect([item.cacheStatus, item.body]).toEqual(['MISS', '/item v2'])
      expect([other.cacheStatus, other.body]).toEqual(['MISS', '/other v2'])
    })
  }

  it('an unsafe request that fails invalidates nothing', async () => {
    const clock = new TestClock()
    const origin = await countingOrigin((req, res) => {
      req.resume()
      if (req.method === 'POST') {
        res.writeHead(500)
        res.end()
        return
      }
      res.writeHead(200, { 'cache-control': 'max-age=600' })
      res.end('kept')
    })
    const proxy = await cachingProxy(origin.port, { clock })
    const get = client()
    await get(proxy.url, '/kept')
    await get(proxy.url, '/kept', { method: 'POST', body: 'x' })
    expect((await get(proxy.url, '/kept')).cacheStatus).toBe('HIT')
  })

  it('with a custom cacheKeyCallback, invalidates the same-origin targets keyed by it', async () => {
    const clock = new TestClock()
    let version = 1
    const origin = await countingOrigin((req, res) => {
      if (req.method !== 'GET') {
        version++
        req.resume()
        // Content-Location on this origin; Location on another one (ignored).
        res.writeHead(201, {
          'content-location': '/other?x=1',
          location: 'http://elsewhere.test/third',
        })
        res.end()
        return
      }
      res.writeHead(200, { 'cache-control': 'max-age=600' })
      res.end(`${req.headers['x-tenant']} ${req.url} v${version}`)
    })
    const keyed: string[] = []
    const proxy = await cachingProxy(origin.port, {
      clock,
      phases: {
        // Keyed by tenant (a request field) and path; the host does not count.
        cacheKeyCallback: (_session, _ctx, request) => {
          keyed.push(`${request.method} ${request.uri}`)
          return new CacheKey(request.getHeader('x-tenant') ?? '', request.uri)
        },
      },
    })
    const get = client()
    const tenant = (name: string) => ({ headers: { 'x-tenant': name } })
    for (const name of ['a', 'b']) {
      for (const path of ['/item', '/other?x=1', '/third']) await get(proxy.url, path, tenant(name))
    }
    expect((await get(proxy.url, '/other?x=1', tenant('a'))).cacheStatus).toBe('HIT')
    const unsafe = await get(proxy.url, '/item', { method: 'POST', body: 'x', ...tenant('a') })
    expect(unsafe.status).toBe(201)
    expect(keyed.slice(-2)).toEqual(['POST /item', 'GET /other?x=1'])
    const after = async (name: string, path: string) => {
      const reply = await get(proxy.url, path, tenant(name))
      return `${reply.cacheStatus} ${reply.body}`
    }
    expect(await after('a', '/item')).toBe('MISS a /item v2')
    expect(await after('a', '/other?x=1')).toBe('MISS a /other?x=1 v2')
    expect(await after('a', '/third')).toBe('HIT a /third v1')
    expect(await after('b', '/other?x=1')).toBe('HIT b /other?x=1 v1')
  })

  it('skips a target whose key a callback cannot derive (it ignores the request argument)', async () => {
    const clock = new TestClock()
    let version = 1
    const origin = await countingOrigin((req, res) => {
      if (req.method !== 'GET') {
        version++
        req.resume()
        res.writeHead(200, { location: '/other' })
        res.end()
        return
      }
      res.writeHead(200, { 'cache-control': 'max-age=600' })
      res.end(`${req.url} v${version}`)
    })
    const proxy = await cachingProxy(origin.port, {
      clock,
      phases: {
        cacheKeyCallback: (session: Session) => new CacheKey('', session.requestHeader.uri),
      },
    })
    const get = client()
    await get(proxy.url, '/item')
    await get(proxy.url, '/other')
    await get(proxy.url, '/item', { method: 'PUT', body: 'x' })
    expect((await get(proxy.url, '/item')).cacheStatus).toBe('MISS')
    expect((await get(proxy.url, '/other')).cacheStatus).toBe('HIT')
  })

  it('a Location with another scheme is another origin', async () => {
    const clock = new TestClock()
    let version = 1
    const origin = await countingOrigin((req, res) => {
      if (req.method !== 'GET') {
        version++
        req.resume()
        res.writeHead(200, { location: `https://${req.headers.host}/other` })
        res.end()
        return
      }
      res.writeHead(200, { 'cache-control': 'max-age=600' })
      res.end(`${req.url} v${version}`)
    })
    const proxy = await cachingProxy(origin.port, { clock })
    const get = client()
    await get(proxy.url, '/item')
    await get(proxy.url, '/other')
    await get(proxy.url, '/item', { method: 'DELETE' })
    expect((await get(proxy.url, '/item')).cacheStatus).toBe('MISS')
    expect((await get(proxy.url, '/other')).cacheStatus).toBe('HIT')
  })
})
