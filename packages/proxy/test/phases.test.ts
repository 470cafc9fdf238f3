import { createHash } from 'node:crypto'
import type http from 'node:http'
import type { HttpPeer } from '@pingora-ts/core'
import { ErrorType, PingoraError } from '@pingora-ts/error'
import type { RequestHeader, ResponseHeader } from '@pingora-ts/http'
import {
  addForwardedHeaders,
  type HttpModule,
  type HttpModules,
  type ProxyHttp,
  type Session,
} from '@pingora-ts/proxy'
import { Agent, request } from 'undici'
import { describe, expect, it, onTestFinished } from 'vitest'
import { origin, peerFor, rawExchange, startProxy } from './helpers.ts'

function readAll(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => resolve(Buffer.concat(chunks)))
    req.on('error', reject)
  })
}

describe('ProxyHttp phases', () => {
  it('proxies a GET with the body and headers of the origin', async () => {
    const o = await origin((req, res) => {
      res.setHeader('X-Echo-Path', String(req.url))
      res.end('hello')
    })
    const p = await startProxy({ newCtx: () => undefined, upstreamPeer: () => peerFor(o.port) })
    const res = await request(`${p.url}/a/b?c=d`)
    expect(res.statusCode).toBe(200)
    expect(res.headers['x-echo-path']).toBe('/a/b?c=d')
    expect(await res.body.text()).toBe('hello')
  })

  it('runs the phases in Pingora order and passes the same ctx to each', async () => {
    const o = await origin(async (req, res) => {
      await readAll(req)
      res.end('response-body')
    })
    const calls: string[] = []
    interface Ctx {
      id: number
    }
    const ctxs = new Set<Ctx>()
    let next = 0
    const app: ProxyHttp<Ctx> = {
      newCtx: () => {
        calls.push('newCtx')
        return { id: next++ }
      },
      earlyRequestFilter: (_s, ctx) => {
        ctxs.add(ctx)
        calls.push('earlyRequestFilter')
      },
      requestFilter: async (_s, ctx) => {
        ctxs.add(ctx)
        calls.push('requestFilter')
        return false
      },
      proxyUpstreamFilter: (_s, ctx) => {
        ctxs.add(ctx)
        calls.push('proxyUpstreamFilter')
        return true
      },
      upstreamPeer: (_s, ctx) => {
        ctxs.add(ctx)
        calls.push('upstreamPeer')
        return peerFor(o.port)
      },
      connectedToUpstream: (_s, _reused, _peer, _digest, ctx) => {
        ctxs.add(ctx)
        calls.push('connectedToUpstream')
      },
      upstreamRequestFilter: (_s, _r, ctx) => {
        ctxs.add(ctx)
        calls.push('upstreamRequestFilter')
      },
      requestBodyFilter: (_s, body, eos, ctx) => {
        ctxs.add(ctx)
        if (eos) calls.push('requestBodyFilter(eos)')
        return body
      },
      upstreamResponseFilter: (_s, _r, ctx) => {
        ctxs.add(ctx)
        calls.push('upstreamResponseFilter')
      },
      responseFilter: (_s, _r, ctx) => {
        ctxs.add(ctx)
        calls.push('responseFilter')
      },
      upstreamResponseBodyFilter: (_s, body, eos, ctx) => {
        ctxs.add(ctx)
        if (eos) calls.push('upstreamResponseBodyFilter(eos)')
        return body
      },
      responseBodyFilter: (_s, body, eos, ctx) => {
        ctxs.add(ctx)
        if (eos) calls.push('responseBodyFilter(eos)')
        return body
      },
      logging: (_s, error, ctx) => {
        ctxs.add(ctx)
        calls.push(`logging(${error === undefined ? 'ok' : error.type})`)
      },
    }
    const p = await startProxy(app)
    const res = await request(p.url, { method: 'POST', body: 'abc' })
    expect(await res.body.text()).toBe('response-body')
    await expect.poll(() => calls.at(-1)).toBe('logging(ok)')
    expect(calls).toEqual([
      'newCtx',
      'earlyRequestFilter',
      'requestFilter',
      'proxyUpstreamFilter',
      'upstreamPeer',
      'connectedToUpstream',
      'upstreamRequestFilter',
      'requestBodyFilter(eos)',
      'upstreamResponseFilter',
      'responseFilter',
      'upstreamResponseBodyFilter(eos)',
      'responseBodyFilter(eos)',
      'logging(ok)',
    ])
    expect(ctxs.size).toBe(1)
  })

  it('requestFilter returning true answers locally without contacting the upstream', async () => {
    let originHits = 0
    const o = await origin((_req, res) => {
      originHits++
      res.end()
    })
    const logged: (PingoraError | undefined)[] = []
    const p = await startProxy({
      newCtx: () => undefined,
      upstreamPeer: () => peerFor(o.port),
      async requestFilter(session: Session) {
        if (session.requestHeader.path === '/blocked') {
          await session.respondError(403)
          return true
        }
        return false
      },
      logging: (_s, e) => {
        logged.push(e)
      },
    })
    const res = await request(`${p.url}/blocked`)
    expect(res.statusCode).toBe(403)
    expect(res.headers['content-length']).toBe('0')
    await res.body.dump()
    expect(originHits).toBe(0)
    const ok = await request(`${p.url}/open`)
    expect(ok.statusCode).toBe(200)
    await ok.body.dump()
    expect(originHits).toBe(1)
    await expect.poll(() => logged.length).toBe(2)
    expect(logged).toEqual([undefined, undefined])
  })

  it('a throwing requestFilter becomes a 500 and logging receives the error', async () => {
    let logged: PingoraError | undefined
    const p = await startProxy({
      newCtx: () => undefined,
      upstreamPeer: () => peerFor(1),
      requestFilter() {
        throw new TypeError('boom')
      },
      logging: (_s, e) => {
        logged = e
      },
    })
    const res = await request(p.url)
    expect(res.statusCode).toBe(500)
    await res.body.dump()
    await expect.poll(() => logged?.type).toBe('InternalError')
    expect(logged?.source).toBe('internal')
    expect(logged?.cause).toBeInstanceOf(TypeError)
  })

  it('an HTTPStatus error from upstreamPeer answers with its status', async () => {
    const p = await startProxy({
      newCtx: () => undefined,
      upstreamPeer(session: Session): HttpPeer {
        const status = Number(session.requestHeader.path.slice(1))
        throw PingoraError.explain(ErrorType.HTTPStatus(status), 'no healthy upstream')
      },
    })
    for (const status of [502, 503, 429]) {
      const res = await request(`${p.url}/${status}`)
      expect(res.statusCode).toBe(status)
      expect(res.headers['cache-control']).toBe('private, no-store')
      await res.body.dump()
    }
  })

  it('proxyUpstreamFilter returning false answers 502 unless a response was written', async () => {
    const p = await startProxy({
      newCtx: () => undefined,
      upstreamPeer: () => peerFor(1),
      async proxyUpstreamFilter(session: Session) {
        if (session.requestHeader.path === '/custom') {
          await session.respondErrorWithBody(418, Buffer.from('teapot'))
        }
        return false
      },
    })
    const res = await request(`${p.url}/x`)
    expect(res.statusCode).toBe(502)
    await res.body.dump()
    const custom = await request(`${p.url}/custom`)
    expect(custom.statusCode).toBe(418)
    expect(await custom.body.text()).toBe('teapot')
  })

  it('upstreamRequestFilter changes what the origin receives; addForwardedHeaders adds XFF and Via', async () => {
    let seen: http.IncomingHttpHeaders = {}
    const o = await origin((req, res) => {
      seen = req.headers
      res.end()
    })
    const p = await startProxy({
      newCtx: () => undefined,
      upstreamPeer: () => peerFor(o.port),
      upstreamRequestFilter(session: Session, upstreamRequest: RequestHeader) {
        upstreamRequest.insertHeader('Host', 'example.test')
        upstreamRequest.insertHeader('X-Added', 'yes')
        addForwardedHeaders(session, upstreamRequest, { via: 'pingora-ts' })
      },
    })
    const res = await request(p.url, { headers: { 'x-forwarded-for': '203.0.113.9' } })
    await res.body.dump()
    expect(seen.host).toBe('example.test')
    expect(seen['x-added']).toBe('yes')
    expect(seen['x-forwarded-for']).toBe('203.0.113.9, 127.0.0.1')
    expect(seen.via).toBe('1.1 pingora-ts')
  })

  it('responseFilter and upstreamResponseFilter change the response header', async () => {
    const o = await origin((_req, res) => {
      res.setHeader('X-Secret', 'x')
      res.end('ok')
    })
    const p = await startProxy({
      newCtx: () => undefined,
      upstreamPeer: () => peerFor(o.port),
      upstreamResponseFilter(_s: Session, r: ResponseHeader) {
        r.removeHeader('X-Secret')
      },
      responseFilter(_s: Session, r: ResponseHeader) {
        r.insertHeader('X-Proxy', 'pingora-ts')
        r.setStatus(201)
      },
    })
    const res = await request(p.url)
    expect(res.statusCode).toBe(201)
    expect(res.headers['x-proxy']).toBe('pingora-ts')
    expect(res.headers['x-secret']).toBeUndefined()
    expect(await res.body.text()).toBe('ok')
  })

  it('a response body filter that changes the length drops Content-Length and sends chunked', async () => {
    const o = await origin((_req, res) => {
      res.setHeader('Content-Length', '5')
      res.end('hello')
    })
    const p = await startProxy({
      newCtx: () => undefined,
      upstreamPeer: () => peerFor(o.port),
      responseBodyFilter(_s, body, eos) {
        if (eos) return Buffer.from(' world!')
        return body === undefined
          ? undefined
          : Buffer.from(Buffer.from(body).toString().toUpperCase())
      },
    })
    const raw = await rawExchange(p.port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
    const split = raw.indexOf('\r\n\r\n')
    const head = raw.slice(0, split)
    const body = raw.slice(split + 4)
    expect(head).toMatch(/^HTTP\/1\.1 200 OK\r\n/)
    expect(head.toLowerCase()).not.toContain('content-length')
    expect(head).toContain('Transfer-Encoding: chunked')
    expect(body).toBe('5\r\nHELLO\r\n7\r\n world!\r\n0\r\n\r\n')
  })

  it('calls body filters as methods of a class-based proxy', async () => {
    const o = await origin((_req, res) => {
      res.end('abc')
    })
    class Counting implements ProxyHttp<undefined> {
      #chunks = 0
      readonly port: number
      constructor(port: number) {
        this.port = port
      }
      newCtx() {
        return undefined
      }
      upstreamPeer() {
        return peerFor(this.port)
      }
      responseBodyFilter(_s: Session, body: Uint8Array | undefined, eos: boolean) {
        this.#chunks++
        return eos ? Buffer.from(`|chunks=${this.#chunks}`) : body
      }
    }
    const p = await startProxy(new Counting(o.port))
    const res = await request(p.url)
    expect(await res.body.text()).toMatch(/^abc\|chunks=\d+$/)
  })

  it('cuts the connection when a body filter fails after the response started', async () => {
    const o = await origin((_req, res) => {
      res.write('first')
      setImmediate(() => res.end('second'))
    })
    const p = await startProxy({
      newCtx: () => undefined,
      upstreamPeer: () => peerFor(o.port),
      responseBodyFilter(_s, body) {
        if (body !== undefined && Buffer.from(body).toString() === 'second') {
          throw new Error('filter failed')
        }
        return body
      },
    })
    const raw = await rawExchange(p.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n')
    expect(raw).toMatch(/^HTTP\/1\.1 200 OK\r\n/)
    expect(raw).toContain('Transfer-Encoding: chunked')
    expect(raw.endsWith('0\r\n\r\n')).toBe(false)
  })

  it('keeps Content-Length on HEAD responses when a body filter exists', async () => {
    const o = await origin((_req, res) => {
      res.setHeader('Content-Length', '42')
      res.end()
    })
    const p = await startProxy({
      newCtx: () => undefined,
      upstreamPeer: () => peerFor(o.port),
      responseBodyFilter: (_s, body) => body,
    })
    const raw = await rawExchange(p.port, 'HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
    expect(raw).toContain('Content-Length: 42\r\n')
    expect(raw).not.toContain('chunked')
  })

  it('requestBodyFilter rewrites the request body and the upstream request is chunked', async () => {
    let received = ''
    let te: string | undefined
    const o = await origin(async (req, res) => {
      te = req.headers['transfer-encoding']
      received = (await readAll(req)).toString()
      res.end()
    })
    const p = await startProxy({
      newCtx: () => undefined,
      upstreamPeer: () => peerFor(o.port),
      requestBodyFilter(_s, body) {
        return body === undefined
          ? undefined
          : Buffer.from(Buffer.from(body).toString().toUpperCase())
      },
    })
    const res = await request(p.url, { method: 'POST', body: 'make me loud' })
    await res.body.dump()
    expect(received).toBe('MAKE ME LOUD')
    expect(te).toBe('chunked')
  })

  it('streams a large upload and download intact', async () => {
    const size = 8 * 1024 * 1024
    const payload = Buffer.alloc(size)
    for (let i = 0; i < size; i++) payload[i] = (i * 31) & 0xff
    const digest = createHash('sha256').update(payload).digest('hex')
    const o = await origin(async (req, res) => {
      const body = await readAll(req)
      res.setHeader('X-Upload-Sha', createHash('sha256').update(body).digest('hex'))
      res.end(body)
    })
    const p = await startProxy({ newCtx: () => undefined, upstreamPeer: () => peerFor(o.port) })
    const res = await request(p.url, { method: 'PUT', body: payload })
    await expect(res.headers['x-upload-sha']).toBe(digest)
    const back = Buffer.from(await res.body.arrayBuffer())
    expect(createHash('sha256').update(back).digest('hex')).toBe(digest)
  })

  it('carries persisted context to the next request on the same connection', async () => {
    const o = await origin((_req, res) => {
      res.end('x')
    })
    const previous: unknown[] = []
    let n = 0
    const p = await startProxy<{ n: number }>({
      newCtx: () => ({ n: ++n }),
      upstreamPeer: () => peerFor(o.port),
      persistConnectionContext: (_s, ctx) => `request ${ctx.n}`,
      onConnectionReuse: (_s, _ctx, prev) => {
        previous.push(prev)
      },
    })
    const agent = new Agent({ connections: 1 })
    onTestFinished(() => agent.close())
    for (let i = 0; i < 3; i++) {
      const res = await request(p.url, { dispatcher: agent })
      await res.body.dump()
    }
    expect(previous).toEqual(['request 1', 'request 2'])
  })

  it('downstream modules run on proxied and locally written responses', async () => {
    const o = await origin((_req, res) => {
      res.end('proxied')
    })
    class StampModule implements HttpModule {
      stamp = 'default'
      requestHeaderFilter(request: RequestHeader) {
        this.stamp = request.getHeader('x-stamp') ?? 'none'
      }
      responseHeaderFilter(response: ResponseHeader) {
        response.insertHeader('X-Stamp', this.stamp)
      }
    }
    const p = await startProxy({
      newCtx: () => undefined,
      upstreamPeer: () => peerFor(o.port),
      initDownstreamModules(modules: HttpModules) {
        modules.addModule({ init: () => new StampModule() })
      },
      async requestFilter(session: Session) {
        const m = session.downstreamModulesCtx.get(StampModule)
        if (m === undefined) throw new Error('module missing')
        if (session.requestHeader.path === '/local') {
          await session.respondError(404)
          return true
        }
        return false
      },
    })
    const proxied = await request(p.url, { headers: { 'x-stamp': 'a' } })
    expect(proxied.headers['x-stamp']).toBe('a')
    expect(await proxied.body.text()).toBe('proxied')
    const local = await request(`${p.url}/local`, { headers: { 'x-stamp': 'b' } })
    expect(local.statusCode).toBe(404)
    expect(local.headers['x-stamp']).toBe('b')
    await local.body.dump()
  })

  it('HEAD responses carry no body', async () => {
    const o = await origin((_req, res) => {
      res.setHeader('Content-Length', '11')
      res.end()
    })
    const p = await startProxy({ newCtx: () => undefined, upstreamPeer: () => peerFor(o.port) })
    const raw = await rawExchange(p.port, 'HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
    expect(raw).toMatch(/^HTTP\/1\.1 200 OK\r\n/)
    expect(raw).toContain('Content-Length: 11\r\n')
    expect(raw.endsWith('\r\n\r\n')).toBe(true)
  })

  it('refuses CONNECT with 405', async () => {
    const p = await startProxy({ newCtx: () => undefined, upstreamPeer: () => peerFor(1) })
    const raw = await rawExchange(
      p.port,
      'CONNECT example.test:443 HTTP/1.1\r\nHost: example.test:443\r\n\r\n',
    )
    expect(raw).toMatch(/^HTTP\/1\.1 405 /)
    expect(raw).toContain('Connection: close\r\n')
  })

  it('answers malformed requests with 400 before any phase runs', async () => {
    let ctxs = 0
    const p = await startProxy({
      newCtx: () => {
        ctxs++
      },
      upstreamPeer: () => peerFor(1),
    })
    const raw = await rawExchange(
      p.port,
      'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n',
    )
    expect(raw).toMatch(/^HTTP\/1\.1 400 /)
    expect(ctxs).toBe(0)
  })
})
