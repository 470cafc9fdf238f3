// HTTP/2 upstreams through the proxy (h1 -> h2 and h2 -> h2): request translation, trailers
// and their phases (forwarded to HTTP/2 clients, to HTTP/1.1 clients only with TE: trailers),
// refused streams retried on a new connection, read timeout -> 504 with RST_STREAM(CANCEL),
// client resets and truncated upstream responses propagated as resets.
import { once } from 'node:events'
import http2 from 'node:http2'
import net, { type AddressInfo } from 'node:net'
import { HttpPeer } from '@pingora-ts/core'
import type { ProxyHttp } from '@pingora-ts/proxy'
import { describe, expect, it, onTestFinished } from 'vitest'
import { rawExchange, startProxy } from './helpers.ts'

const { NGHTTP2_CANCEL, NGHTTP2_REFUSED_STREAM } = http2.constants

type Handler = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void

async function h2cOrigin(handler: Handler): Promise<{ port: number; sessions: () => number }> {
  const server = http2.createServer()
  const open = new Set<http2.ServerHttp2Session>()
  let sessions = 0
  server.on('session', (session) => {
    sessions++
    open.add(session)
    session.on('close', () => open.delete(session))
    session.on('error', () => {})
  })
  server.on('stream', (stream, headers) => {
    stream.on('error', () => {})
    handler(stream, headers)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  onTestFinished(
    () =>
      new Promise<void>((resolve) => {
        for (const session of open) session.destroy()
        server.close(() => resolve())
      }),
  )
  return { port: (server.address() as AddressInfo).port, sessions: () => sessions }
}

function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve: (value: T) => void = () => {}
  const promise = new Promise<T>((r) => {
    resolve = r
  })
  return { promise, resolve }
}

/** An origin answering like a gRPC server: body, then trailers. */
const withTrailers: Handler = (stream, headers) => {
  const parts: Buffer[] = []
  stream.on('data', (d: Buffer) => parts.push(d))
  stream.on('end', () => {
    stream.respond(
      {
        ':status': 200,
        'x-authority': String(headers[':authority']),
        'x-te': String(headers.te),
        'x-has-connection': String(headers['x-hop'] !== undefined),
      },
      { waitForTrailers: true },
    )
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'x-sum': '42' }))
    stream.end(`${headers[':method']} ${headers[':path']} ${Buffer.concat(parts).length}`)
  })
}

function app(port: number, extra: Partial<ProxyHttp<undefined>> = {}): ProxyHttp<undefined> {
  return {
    newCtx: () => undefined,
    upstreamPeer: () => {
      const peer = new HttpPeer({ address: `127.0.0.1:${port}`, options: { maxH2Streams: 10 } })
      peer.options.setHttpVersion(2, 2)
      return peer
    },
    ...extra,
  }
}

interface H2Response {
  status: number
  headers: http2.IncomingHttpHeaders
  body: string
  trailers: http2.IncomingHttpHeaders | undefined
  rstCode: number
  ended: boolean
}

function h2Fetch(
  client: http2.ClientHttp2Session,
  headers: http2.OutgoingHttpHeaders,
  body?: string,
): Promise<H2Response> {
  return new Promise((resolve) => {
    const stream = client.request(headers, { endStream: body === undefined })
    const out: H2Response = {
      status: 0,
      headers: {},
      body: '',
      trailers: undefined,
      rstCode: 0,
      ended: false,
    }
    stream.setEncoding('utf8')
    stream.on('response', (h) => {
      out.headers = h
      out.status = Number(h[':status'])
    })
    stream.on('trailers', (t) => {
      out.trailers = t
    })
    stream.on('data', (chunk: string) => {
      out.body += chunk
    })
    stream.on('end', () => {
      out.ended = true
    })
    stream.on('error', () => {})
    stream.on('close', () => {
      out.rstCode = stream.rstCode
      resolve(out)
    })
    if (body !== undefined) stream.end(body)
  })
}

async function h2Client(port: number): Promise<http2.ClientHttp2Session> {
  const client = http2.connect(`http://127.0.0.1:${port}`)
  client.on('error', () => {})
  onTestFinished(() => {
    client.destroy()
  })
  await once(client, 'remoteSettings')
  return client
}

describe('h1 client -> proxy -> h2c origin', () => {
  it('translates Host to :authority, drops hop-by-hop, keeps te: trailers, relays the body', async () => {
    const origin = await h2cOrigin(withTrailers)
    const proxy = await startProxy(app(origin.port))
    const raw = await rawExchange(
      proxy.port,
      'POST /echo?x=1 HTTP/1.1\r\nHost: a.test\r\nTE: trailers\r\nConnection: close, TE, x-hop\r\n' +
        'x-hop: 1\r\nContent-Length: 5\r\n\r\nhello',
    )
    expect(raw).toMatch(/^HTTP\/1\.1 200/)
    expect(raw).toMatch(/x-authority: a\.test\r\n/)
    expect(raw).toMatch(/x-te: trailers\r\n/)
    expect(raw).toMatch(/x-has-connection: false\r\n/)
    expect(raw).toContain('POST /echo?x=1 5')
  })

  it('sends trailers in the last chunk only to a client that sent TE: trailers', async () => {
    const origin = await h2cOrigin(withTrailers)
    const proxy = await startProxy(app(origin.port))
    const asked = await rawExchange(
      proxy.port,
      'GET /t HTTP/1.1\r\nHost: a.test\r\nTE: trailers\r\nConnection: close, TE\r\n\r\n',
    )
    expect(asked).toMatch(/transfer-encoding: chunked/i)
    expect(asked).toMatch(/0\r\ngrpc-status: 0\r\nx-sum: 42\r\n\r\n$/)
    const notAsked = await rawExchange(
      proxy.port,
      'GET /t HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n',
    )
    expect(notAsked).toMatch(/GET \/t 0\r\n0\r\n\r\n$/)
    expect(notAsked).not.toMatch(/grpc-status/)
  })

  it('runs upstreamResponseTrailerFilter then responseTrailerFilter, whose bytes end the body', async () => {
    const origin = await h2cOrigin(withTrailers)
    const order: string[] = []
    const proxy = await startProxy(
      app(origin.port, {
        upstreamResponseTrailerFilter(_session, trailers) {
          order.push(`upstream ${trailers.get('x-sum')}`)
          trailers.insert('x-sum', '43')
        },
        responseTrailerFilter(_session, trailers) {
          order.push(`response ${trailers.get('x-sum')}`)
          return Buffer.from(` [sum=${trailers.get('x-sum')}]`)
        },
      }),
    )
    const response = await fetch(`${proxy.url}/p`)
    expect(await response.text()).toBe('GET /p 0 [sum=43]')
    expect(order).toEqual(['upstream 42', 'response 43'])
  })

  it('retries a refused stream on a new connection by itself', async () => {
    let n = 0
    const origin = await h2cOrigin((stream) => {
      n++
      if (n === 1) {
        stream.close(NGHTTP2_REFUSED_STREAM)
        return
      }
      stream.respond({ ':status': 200 })
      stream.end('served')
    })
    const proxy = await startProxy(app(origin.port))
    const response = await fetch(`${proxy.url}/`)
    expect(response.status).toBe(200)
    expect(await response.text()).toBe('served')
    expect(n).toBe(2)
    expect(origin.sessions()).toBe(2)
  })

  it('maps an upstream read timeout to 504 and resets the upstream stream with CANCEL', async () => {
    const rst = deferred<number>()
    const origin = await h2cOrigin((stream) => {
      stream.on('close', () => rst.resolve(stream.rstCode))
    })
    const proxy = await startProxy({
      newCtx: () => undefined,
      upstreamPeer: () => {
        const peer = new HttpPeer({
          address: `127.0.0.1:${origin.port}`,
          options: { readTimeoutMs: 100 },
        })
        peer.options.setHttpVersion(2, 2)
        return peer
      },
    })
    const response = await fetch(`${proxy.url}/slow`)
    expect(response.status).toBe(504)
    expect(await rst.promise).toBe(NGHTTP2_CANCEL)
  })

  it('a client gone during an upload resets the upstream stream with CANCEL, never END_STREAM', async () => {
    const seen = deferred<{ code: number | undefined; ended: boolean; bytes: number }>()
    const firstBytes = deferred<void>()
    const origin = await h2cOrigin((stream) => {
      let bytes = 0
      let ended = false
      let aborted = false
      stream.on('aborted', () => {
        aborted = true
      })
      stream.on('data', (d: Buffer) => {
        bytes += d.length
        firstBytes.resolve()
      })
      // node:http2 ends the readable side after a reset too, but only after 'aborted'.
      stream.on('end', () => {
        if (!aborted) ended = true
      })
      stream.on('close', () => seen.resolve({ code: stream.rstCode, ended, bytes }))
    })
    const proxy = await startProxy(app(origin.port))
    // An HTTP/1.1 upload that stops half way: the client connection goes away.
    const socket = net.connect(proxy.port, '127.0.0.1')
    await once(socket, 'connect')
    socket.write(
      `POST /upload HTTP/1.1\r\nHost: example\r\nContent-Length: 100000\r\n\r\n${'x'.repeat(1000)}`,
    )
    await firstBytes.promise
    socket.destroy()
    const result = await seen.promise
    expect(result.code).toBe(NGHTTP2_CANCEL)
    expect(result.ended).toBe(false)
    expect(result.bytes).toBeLessThan(100000)
  })
})

describe('h2 client -> proxy -> h2c origin', () => {
  it('forwards the response and its trailers; many streams share one upstream connection', async () => {
    const origin = await h2cOrigin(withTrailers)
    const proxy = await startProxy(app(origin.port), {}, { serverOptions: { h2c: true } })
    const client = await h2Client(proxy.port)
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        h2Fetch(
          client,
          { ':method': 'POST', ':path': `/s${i}`, te: 'trailers' },
          'x'.repeat(i * 1000),
        ),
      ),
    )
    for (let i = 0; i < 10; i++) {
      const r = results[i] as H2Response
      expect(r.status).toBe(200)
      expect(r.body).toBe(`POST /s${i} ${i * 1000}`)
      expect(r.trailers?.['grpc-status']).toBe('0')
      expect(r.trailers?.['x-sum']).toBe('42')
      expect(r.rstCode).toBe(0)
    }
    expect(origin.sessions()).toBe(1)
    expect(proxy.proxy.clientUpstream.h2Stats().streams).toBe(10)
  })

  it('a client reset reaches the upstream stream as a reset', async () => {
    const rst = deferred<number>()
    const arrived = deferred<void>()
    const origin = await h2cOrigin((stream) => {
      arrived.resolve()
      stream.on('close', () => rst.resolve(stream.rstCode))
    })
    const proxy = await startProxy(app(origin.port), {}, { serverOptions: { h2c: true } })
    const client = await h2Client(proxy.port)
    const stream = client.request({ ':method': 'GET', ':path': '/wait' }, { endStream: true })
    stream.on('error', () => {})
    await arrived.promise
    stream.close(NGHTTP2_CANCEL)
    expect(await rst.promise).not.toBe(0)
  })

  it('a truncated upstream response reaches the client as a reset, never as complete', async () => {
    const origin = await h2cOrigin((stream) => {
      stream.respond({ ':status': 200 })
      stream.write('partial', () => stream.destroy(new Error('cut')))
    })
    const proxy = await startProxy(app(origin.port), {}, { serverOptions: { h2c: true } })
    const client = await h2Client(proxy.port)
    const r = await h2Fetch(client, { ':method': 'GET', ':path': '/cut' })
    expect(r.status).toBe(200)
    expect(r.ended).toBe(false)
    expect(r.rstCode).not.toBe(0)
  })
})
