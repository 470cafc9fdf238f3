import type http from 'node:http'
import { startOrigin } from '@pingora-ts/test-utils'
import { describe, expect, it, onTestFinished } from 'vitest'
import { CacheKey } from '../src/key.ts'
import { CacheLock } from '../src/lock.ts'
import { MemoryStorage } from '../src/memory-storage.ts'
import { CacheMetaDefaults } from '../src/meta.ts'
import { Predictor } from '../src/predictor.ts'
import { type FrontOptions, get, startCacheFront } from './cache-front.ts'

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void

interface Setup {
  url: string
  origin: { url: string; close: () => Promise<void> }
  seen: http.IncomingHttpHeaders[]
  clock: { now: number }
  logs: string[]
}

async function setup(handler: Handler, options: Partial<FrontOptions> = {}): Promise<Setup> {
  const seen: http.IncomingHttpHeaders[] = []
  const origin = await startOrigin((req, res) => {
    seen.push(req.headers as http.IncomingHttpHeaders)
    handler(req as http.IncomingMessage, res as http.ServerResponse)
  })
  onTestFinished(origin.close)
  const clock = { now: Date.now() }
  const logs: string[] = []
  const front = await startCacheFront({
    origin: origin.url,
    storage: new MemoryStorage({ maxBytes: 10_000_000 }),
    lock: new CacheLock(),
    now: () => clock.now,
    onLog: (phase, reason) => logs.push(reason === undefined ? phase : `${phase}:${reason}`),
    ...options,
  })
  onTestFinished(front.close)
  return { url: front.url, origin, seen, clock, logs }
}

// No automatic Date: the front's clock is injected, and a real Date would age the response.
const body =
  (text: string, headers: Record<string, string>): Handler =>
  (_req, res) => {
    res.sendDate = false
    res.writeHead(200, { 'content-length': Buffer.byteLength(text), ...headers })
    res.end(text)
  }

describe('HttpCache through a caching front (RFC 9111, real origin and client)', () => {
  it('stores a fresh response and serves it with Age (5.1, 4.2)', async () => {
    const { url, seen, clock } = await setup(body('hello', { 'cache-control': 'max-age=60' }))
    const first = await get(url, '/a')
    expect([first.status, first.headers['x-cache-status'], first.body.toString()]).toEqual([
      200,
      'Miss',
      'hello',
    ])
    clock.now += 5000
    const second = await get(url, '/a')
    expect([second.status, second.headers['x-cache-status'], second.body.toString()]).toEqual([
      200,
      'Hit',
      'hello',
    ])
    expect(second.headers.age).toBe('5')
    expect(seen.length).toBe(1)
  })

  it('counts the Age the origin sent (4.2.3)', async () => {
    const { url } = await setup(body('x', { 'cache-control': 'max-age=60', age: '30' }))
    await get(url, '/')
    const hit = await get(url, '/')
    expect(hit.headers['x-cache-status']).toBe('Hit')
    expect(Number(hit.headers.age)).toBeGreaterThanOrEqual(30)
  })

  it('sends a cold key under 1000 concurrent requests to the origin once (cache lock)', async () => {
    const lock = new CacheLock({ ageTimeoutMs: 30_000 })
    let release: () => void = () => undefined
    const released = new Promise<void>((resolve) => {
      release = resolve
    })
    const { url, seen } = await setup(
      (_req, res) => {
        void released.then(() => body('herd', { 'cache-control': 'max-age=60' })(_req, res))
      },
      { lock },
    )
    const key = new CacheKey('', 'example.test/herd')
    const all = Array.from({ length: 1000 }, () => get(url, '/herd'))
    await expect.poll(() => lock.waiters(key), { timeout: 60_000, interval: 20 }).toBe(999)
    release()
    const responses = await Promise.all(all)
    expect(responses.every((r) => r.status === 200 && r.body.toString() === 'herd')).toBe(true)
    expect(seen.length).toBe(1)
  }, 120_000)

  it('keeps Vary variants apart (4.1)', async () => {
    const { url, seen } = await setup((req, res) =>
      body(`enc=${req.headers['accept-encoding']}`, {
        'cache-control': 'max-age=60',
        vary: 'Accept-Encoding',
      })(req, res),
    )
    const gzip1 = await get(url, '/v', { 'accept-encoding': 'gzip' })
    const br1 = await get(url, '/v', { 'accept-encoding': 'br' })
    const gzip2 = await get(url, '/v', { 'accept-encoding': 'gzip' })
    const br2 = await get(url, '/v', { 'accept-encoding': 'br' })
    expect([gzip1, br1, gzip2, br2].map((r) => `${r.headers['x-cache-status']} ${r.body}`)).toEqual(
      ['Miss enc=gzip', 'Miss enc=br', 'Hit enc=gzip', 'Hit enc=br'],
    )
    expect(seen.length).toBe(2)
  })

  it('revalidates an expired response with its validators and merges the 304 (4.3)', async () => {
    let version = 0
    const { url, seen, clock } = await setup((req, res) => {
      if (req.headers['if-none-match'] === '"v1"') {
        res.writeHead(304, { 'cache-control': 'max-age=100', 'x-revalidated': String(++version) })
        res.end()
        return
      }
      body('stored body', { 'cache-control': 'max-age=10', etag: '"v1"' })(req, res)
    })
    await get(url, '/r')
    clock.now += 20_000
    const revalidated = await get(url, '/r')
    expect(seen[1]?.['if-none-match']).toBe('"v1"')
    expect([
      revalidated.headers['x-cache-status'],
      revalidated.body.toString(),
      revalidated.headers['x-revalidated'],
    ]).toEqual(['Revalidated', 'stored body', '1'])
    clock.now += 50_000
    const hit = await get(url, '/r')
    expect([hit.headers['x-cache-status'], hit.headers['x-revalidated']]).toEqual(['Hit', '1'])
    expect(seen.length).toBe(2)
  })

  it('refetches an expired response without validators', async () => {
    let n = 0
    const { url, clock } = await setup((req, res) =>
      body(`v${++n}`, { 'cache-control': 'max-age=10' })(req, res),
    )
    await get(url, '/e')
    clock.now += 20_000
    const refetched = await get(url, '/e')
    expect([refetched.headers['x-cache-status'], refetched.body.toString()]).toEqual([
      'Expired',
      'v2',
    ])
    expect((await get(url, '/e')).body.toString()).toBe('v2')
  })

  it('serves stale while revalidating in the background (RFC 5861)', async () => {
    let n = 0
    let backgroundDone: () => void = () => undefined
    const done = new Promise<void>((resolve) => {
      backgroundDone = resolve
    })
    const { url, clock, seen } = await setup(
      (req, res) =>
        body(`v${++n}`, { 'cache-control': 'max-age=1, stale-while-revalidate=60' })(req, res),
      { serveStaleWhileRevalidate: true, onBackgroundDone: () => backgroundDone() },
    )
    await get(url, '/swr')
    clock.now += 5000
    const stale = await get(url, '/swr')
    expect([stale.headers['x-cache-status'], stale.body.toString()]).toEqual([
      'StaleUpdating',
      'v1',
    ])
    await done
    const fresh = await get(url, '/swr')
    expect([fresh.headers['x-cache-status'], fresh.body.toString()]).toEqual(['Hit', 'v2'])
    expect(seen.length).toBe(2)
  })

  it('serves stale on a 5xx and on a connect failure within stale-if-error (RFC 5861)', async () => {
    let fail = false
    const { url, clock, origin } = await setup((req, res) => {
      if (fail) {
        res.writeHead(503)
        res.end()
        return
      }
      body('good', { 'cache-control': 'max-age=1, stale-if-error=600' })(req, res)
    })
    await get(url, '/sie')
    clock.now += 5000
    fail = true
    const on5xx = await get(url, '/sie')
    expect([on5xx.status, on5xx.headers['x-cache-status'], on5xx.body.toString()]).toEqual([
      200,
      'Stale',
      'good',
    ])
    await origin.close()
    const onRefused = await get(url, '/sie')
    expect([
      onRefused.status,
      onRefused.headers['x-cache-status'],
      onRefused.body.toString(),
    ]).toEqual([200, 'Stale', 'good'])
    clock.now += 1_000_000
    expect((await get(url, '/sie')).status).toBe(502)
  })

  it('does not serve stale past must-revalidate (5.2.2.2)', async () => {
    let fail = false
    const { url, clock } = await setup((req, res) => {
      if (fail) {
        res.writeHead(500)
        res.end()
        return
      }
      body('strict', { 'cache-control': 'max-age=1, must-revalidate, stale-if-error=600' })(
        req,
        res,
      )
    })
    await get(url, '/mr')
    clock.now += 5000
    fail = true
    expect((await get(url, '/mr')).status).toBe(500)
  })

  it('never stores no-store or private responses, and predicts the next one uncacheable (3, 5.2.2.5, 5.2.2.7)', async () => {
    for (const directive of ['no-store', 'private, max-age=60']) {
      const { url, seen, logs } = await setup(body('secret', { 'cache-control': directive }), {
        predictor: new Predictor(),
      })
      expect((await get(url, '/p')).headers['x-cache-status']).toBe('Disabled')
      expect((await get(url, '/p')).headers['x-cache-status']).toBe('Disabled')
      expect(seen.length, directive).toBe(2)
      expect(logs).toEqual(['Disabled:OriginNotCache', 'Disabled:OriginNotCache'])
    }
  })

  it('marks a predicted-uncacheable request Bypass, and a cacheable answer clears it', async () => {
    let cacheable = false
    const predictor = new Predictor()
    const { url } = await setup(
      (req, res) => body('x', { 'cache-control': cacheable ? 'max-age=60' : 'no-store' })(req, res),
      { predictor },
    )
    await get(url, '/pred')
    cacheable = true
    expect((await get(url, '/pred')).headers['x-cache-status']).toBe('Bypass')
    expect((await get(url, '/pred')).headers['x-cache-status']).toBe('Hit')
  })

  it('stores no-cache responses but revalidates each use (5.2.2.4)', async () => {
    const { url, seen } = await setup((req, res) => {
      if (req.headers['if-none-match'] === '"nc"') {
        res.writeHead(304, { 'cache-control': 'no-cache' })
        res.end()
        return
      }
      body('nc body', { 'cache-control': 'no-cache', etag: '"nc"' })(req, res)
    })
    await get(url, '/nc')
    const second = await get(url, '/nc')
    expect([second.headers['x-cache-status'], second.body.toString()]).toEqual([
      'Revalidated',
      'nc body',
    ])
    expect(seen[1]?.['if-none-match']).toBe('"nc"')
    expect(seen.length).toBe(2)
  })

  it('gives heuristic freshness from Last-Modified (4.2.2)', async () => {
    const { url, clock } = await setup((req, res) =>
      body('old page', {
        date: new Date(clock.now).toUTCString(),
        'last-modified': new Date(clock.now - 1_000_000).toUTCString(),
      })(req, res),
    )
    await get(url, '/h')
    clock.now += 50_000 // within 10 % of 1000 s
    expect((await get(url, '/h')).headers['x-cache-status']).toBe('Hit')
    clock.now += 60_000
    expect((await get(url, '/h')).headers['x-cache-status']).toBe('Expired')
  })

  it('does not store an incomplete response (3.3)', async () => {
    let n = 0
    const { url } = await setup((_req, res) => {
      n++
      res.writeHead(200, { 'content-length': '100', 'cache-control': 'max-age=60' })
      if (n === 1) {
        res.write('only half')
        res.socket?.destroy()
        return
      }
      res.end('x'.repeat(100))
    })
    await get(url, '/inc').catch(() => undefined)
    const next = await get(url, '/inc')
    expect([next.headers['x-cache-status'], next.body.length]).toEqual(['Miss', 100])
  })

  it('refuses responses to authorized requests unless public (3.5)', async () => {
    const { url, seen } = await setup((req, res) =>
      body('auth', { 'cache-control': req.url === '/pub' ? 'public, max-age=60' : 'max-age=60' })(
        req,
        res,
      ),
    )
    await get(url, '/priv', { authorization: 'Bearer x' })
    await get(url, '/priv', { authorization: 'Bearer x' })
    expect(seen.length).toBe(2)
    await get(url, '/pub', { authorization: 'Bearer x' })
    expect((await get(url, '/pub', { authorization: 'Bearer x' })).headers['x-cache-status']).toBe(
      'Hit',
    )
  })

  it('answers a conditional request from the cache with 304', async () => {
    const { url } = await setup(body('cond', { 'cache-control': 'max-age=60', etag: '"c1"' }))
    await get(url, '/c')
    const conditional = await get(url, '/c', { 'if-none-match': '"c1"' })
    expect([conditional.status, conditional.body.length, conditional.headers.etag]).toEqual([
      304,
      0,
      '"c1"',
    ])
    expect((await get(url, '/c', { 'if-none-match': '"other"' })).status).toBe(200)
  })

  it('serves ranges on a miss and from the cache, with 416 when unsatisfiable', async () => {
    const text = '0123456789abcdefghij'
    const { url, seen } = await setup(
      body(text, { 'cache-control': 'max-age=60', 'content-type': 'text/plain' }),
    )
    const onMiss = await get(url, '/range', { range: 'bytes=2-5' })
    expect([onMiss.status, onMiss.body.toString(), onMiss.headers['content-range']]).toEqual([
      206,
      '2345',
      'bytes 2-5/20',
    ])
    const full = await get(url, '/range')
    expect([full.headers['x-cache-status'], full.body.toString()]).toEqual(['Hit', text])
    const onHit = await get(url, '/range', { range: 'bytes=-3' })
    expect([onHit.status, onHit.body.toString()]).toEqual([206, 'hij'])
    const multi = await get(url, '/range', { range: 'bytes=0-0,19-19' })
    expect(multi.status).toBe(206)
    expect(multi.body.toString()).toContain('Content-Range: bytes 19-19/20\r\n\r\nj')
    const bad = await get(url, '/range', { range: 'bytes=50-60' })
    expect([bad.status, bad.headers['content-range']]).toEqual([416, 'bytes */20'])
    expect(seen.length).toBe(1)
    expect(seen[0]?.range).toBeUndefined()
  })

  it('shares entries between HEAD and GET', async () => {
    const { url, seen } = await setup(body('shared', { 'cache-control': 'max-age=60' }))
    const head = await get(url, '/hg', {}, 'HEAD')
    expect([head.status, head.body.length]).toEqual([200, 0])
    const got = await get(url, '/hg')
    expect([got.headers['x-cache-status'], got.body.toString()]).toEqual(['Hit', 'shared'])
    const headHit = await get(url, '/hg', {}, 'HEAD')
    expect([headHit.headers['x-cache-status'], headHit.body.length]).toEqual(['Hit', 0])
    expect(seen.length).toBe(1)
  })

  it('purges with PURGE (200, then 404)', async () => {
    const { url, seen } = await setup(
      body('p', { 'cache-control': 'max-age=60', vary: 'Accept' }),
      { purge: true },
    )
    await get(url, '/pg', { accept: 'a' })
    expect((await get(url, '/pg', {}, 'PURGE')).status).toBe(200)
    expect((await get(url, '/pg', {}, 'PURGE')).status).toBe(404)
    expect((await get(url, '/pg', { accept: 'a' })).headers['x-cache-status']).toBe('Miss')
    expect(seen.length).toBe(2)
  })

  it('invalidates the target and Location after a successful unsafe method (4.4)', async () => {
    const { url } = await setup((req, res) => {
      if (req.method === 'POST') {
        res.writeHead(201, { location: '/other', 'content-length': 0 })
        res.end()
        return
      }
      body('doc', { 'cache-control': 'max-age=60' })(req, res)
    })
    await get(url, '/doc')
    await get(url, '/other')
    expect((await get(url, '/doc')).headers['x-cache-status']).toBe('Hit')
    expect((await get(url, '/doc', {}, 'POST')).status).toBe(201)
    expect((await get(url, '/doc')).headers['x-cache-status']).toBe('Miss')
    expect((await get(url, '/other')).headers['x-cache-status']).toBe('Miss')
  })

  it('does not store a body past the size limit and predicts it too large', async () => {
    const predictor = new Predictor()
    const { url, logs } = await setup(
      (_req, res) => {
        res.writeHead(200, { 'cache-control': 'max-age=60' })
        res.end('x'.repeat(5000))
      },
      { maxFileSizeBytes: 1000, predictor },
    )
    const first = await get(url, '/big')
    expect(first.body.length).toBe(5000)
    expect(logs).toEqual(['Disabled:ResponseTooLarge'])
    expect((await get(url, '/big')).headers['x-cache-status']).toBe('Bypass')
  })

  it('streams a fill in progress to a second client, and finishes the fill after the first client left', async () => {
    let finish: () => void = () => undefined
    const finished = new Promise<void>((resolve) => {
      finish = resolve
    })
    let calls = 0
    const { url, seen } = await setup(
      (_req, res) => {
        calls++
        res.writeHead(200, { 'cache-control': 'max-age=60', 'content-length': 10 })
        res.write('first')
        void finished.then(() => res.end('-last'))
      },
      { lock: new CacheLock({ ageTimeoutMs: 30_000 }) },
    )
    const firstDone = get(url, '/stream')
    // A second client arriving mid-fill gets the first half before the origin sends the rest.
    const second = await new Promise<{ early: string; all: Promise<string> }>((resolve, reject) => {
      import('node:http').then(({ default: http }) => {
        const request = http.request(`${url}/stream`, {
          headers: { host: 'example.test' },
          agent: false,
        })
        request.on('response', (response) => {
          let text = ''
          let first = true
          const all = new Promise<string>((done) => response.on('end', () => done(text)))
          response.on('data', (chunk: Buffer) => {
            text += chunk.toString()
            if (first) {
              first = false
              resolve({ early: text, all })
            }
          })
        })
        request.on('error', reject)
        request.end()
      }, reject)
    })
    expect(second.early).toBe('first')
    finish()
    expect(await second.all).toBe('first-last')
    expect((await firstDone).body.toString()).toBe('first-last')
    expect(calls).toBe(1)
    expect(seen.length).toBe(1)
  })
})

describe('CacheMetaDefaults through the front', () => {
  it('caches by status when the origin says nothing', async () => {
    const { url } = await setup(body('d', {}), {
      defaults: new CacheMetaDefaults((status) => (status === 200 ? 30 : undefined)),
    })
    await get(url, '/d')
    expect((await get(url, '/d')).headers['x-cache-status']).toBe('Hit')
  })
})
