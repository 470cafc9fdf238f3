// The HTTP/2 server engine: ALPN h2 and h2c (prior knowledge, beside HTTP/1.1 on one port) served
// through the same HttpServerApp/ServerSession interface as HTTP/1, checked with node:http2.
// Every test runs on both engines (H2Options.engine: node:http2, and our own frame layer).
import http2 from 'node:http2'
import { HeaderMap, ResponseHeader } from '@pingora-ts/http'
import { TlsSettings } from '@pingora-ts/tls'
import { request } from 'undici'
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest'
import type { HttpServerApp, HttpServerOptions } from '../../src/apps/http-app.ts'
import type { ReusedHttpStream } from '../../src/protocols/http/reused-http-stream.ts'
import type { ServerSession } from '../../src/protocols/http/server-session.ts'
import type { H2Engine } from '../../src/protocols/http2/connection.ts'
import { ListeningService } from '../../src/services/listening.ts'
import { portOf, startServer } from '../server/helpers.ts'
import { certs, readPem } from '../tls/helpers.ts'

/** The engine the running describe block tests (set in its beforeAll). */
let engine: H2Engine = 'node'

/** Server options on the engine under test. */
function onEngine(options?: HttpServerOptions): HttpServerOptions {
  return { ...options, h2: { ...options?.h2, engine } }
}

/** Echoes method, path, protocol and the request body; remembers the connections it saw. */
function echoApp(seen: ReusedHttpStream[], options?: HttpServerOptions): HttpServerApp {
  return {
    async processNewHttp(session: ServerSession) {
      if (!(await session.readRequest())) return undefined
      seen.push(session.connection)
      const parts: Buffer[] = []
      for (;;) {
        const chunk = await session.readRequestBody()
        if (chunk === undefined) break
        parts.push(chunk)
      }
      const request = session.requestHeader
      const body = Buffer.concat(parts)
      const response = ResponseHeader.build(200)
      response.insertHeader('x-method', request.method)
      response.insertHeader('x-path', request.uri)
      response.insertHeader('x-h2', String(session.isHttp2()))
      response.insertHeader('x-host', request.getHeader('host') ?? '')
      response.insertHeader('x-body-length', String(body.length))
      response.insertHeader('connection', 'keep-alive')
      if (request.uri === '/trailers') {
        await session.writeResponseHeader(response, false)
        await session.writeResponseBody(Buffer.from('with trailers'), false)
        await session.writeResponseTrailers(
          new HeaderMap([
            ['Grpc-Status', '0'],
            ['X-Sum', String(body.length)],
            ['Connection', 'close'],
          ]),
        )
        await session.writeResponseBody(undefined, true)
      } else {
        await session.writeResponse(response, body.length > 0 ? body : Buffer.from('hello'))
      }
      return session.finish()
    },
    serverOptions: () => onEngine(options),
  }
}

interface H2Response {
  headers: http2.IncomingHttpHeaders
  body: Buffer
  trailers: http2.IncomingHttpHeaders | undefined
}

function h2Request(
  client: http2.ClientHttp2Session,
  headers: http2.OutgoingHttpHeaders,
  body?: Buffer,
): Promise<H2Response> {
  return new Promise((resolve, reject) => {
    const stream = client.request(headers, { endStream: body === undefined })
    let responseHeaders: http2.IncomingHttpHeaders = {}
    let trailers: http2.IncomingHttpHeaders | undefined
    const parts: Buffer[] = []
    stream.on('response', (h) => {
      responseHeaders = h
    })
    stream.on('trailers', (t) => {
      trailers = t
    })
    stream.on('data', (chunk: Buffer) => parts.push(chunk))
    stream.on('end', () =>
      resolve({ headers: responseHeaders, body: Buffer.concat(parts), trailers }),
    )
    stream.on('error', reject)
    if (body !== undefined) stream.end(body)
  })
}

function connectH2(
  url: string,
  options?: http2.SecureClientSessionOptions,
): Promise<http2.ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const client = http2.connect(url, options)
    onTestFinished(() => client.destroy())
    client.once('connect', () => resolve(client))
    client.once('error', reject)
  })
}

async function tlsService(
  seen: ReusedHttpStream[],
  options?: HttpServerOptions,
): Promise<ListeningService> {
  const service = new ListeningService('h2-tls', echoApp(seen, options))
  const settings = TlsSettings.intermediate(certs.localhost.cert, certs.localhost.key)
  settings.enableH2()
  service.addTlsWithSettings('127.0.0.1:0', undefined, settings)
  await startServer([service])
  return service
}

describe.each<H2Engine>(['node', 'native'])('HTTP/2 server (%s engine)', (tested) => {
  beforeAll(() => {
    engine = tested
  })

  it('serves concurrent streams of one ALPN h2 connection through the ServerSession interface', async () => {
    const seen: ReusedHttpStream[] = []
    const service = await tlsService(seen)
    const client = await connectH2(`https://localhost:${portOf(service)}`, {
      ca: readPem(certs.ca),
      host: '127.0.0.1',
    } as http2.SecureClientSessionOptions)
    const responses = await Promise.all(
      ['/a', '/b', '/c', '/d'].map((path) => h2Request(client, { ':path': path })),
    )
    expect(responses.map((r) => r.headers['x-path'])).toEqual(['/a', '/b', '/c', '/d'])
    for (const response of responses) {
      expect(response.headers[':status']).toBe(200)
      expect(response.headers['x-h2']).toBe('true')
      expect(response.headers['x-host']).toBe(`localhost:${portOf(service)}`)
      // Connection-specific fields never go out on HTTP/2 (RFC 9113 §8.2.2); Date is added.
      expect(response.headers.connection).toBeUndefined()
      expect(typeof response.headers.date).toBe('string')
      expect(response.body.toString()).toBe('hello')
    }
    // One connection, shared by its streams.
    expect(new Set(seen).size).toBe(1)
    expect(service.connectionCount).toBe(1)
  })

  it('streams a 4 MiB request body in and out with flow control', async () => {
    const seen: ReusedHttpStream[] = []
    const service = await tlsService(seen)
    const client = await connectH2(`https://localhost:${portOf(service)}`, {
      ca: readPem(certs.ca),
      host: '127.0.0.1',
    } as http2.SecureClientSessionOptions)
    const body = Buffer.alloc(4 * 1024 * 1024)
    for (let i = 0; i < body.length; i++) body[i] = i % 251
    const response = await h2Request(client, { ':path': '/upload', ':method': 'POST' }, body)
    expect(response.headers['x-body-length']).toBe(String(body.length))
    expect(response.body.equals(body)).toBe(true)
  })

  it('echoes 8 concurrent 1 MiB bodies on one h2c connection, past the client 64 KiB connection window, each intact', async () => {
    // The responses wait for the connection window in turn (node:http2 clients open 64 KiB);
    // large DATA goes out as views of the app's buffers, several streams' frames in one write.
    const seen: ReusedHttpStream[] = []
    const service = new ListeningService('h2c-large', echoApp(seen, { h2c: true }))
    service.addTcp('127.0.0.1:0')
    await startServer([service])
    const client = await connectH2(`http://127.0.0.1:${portOf(service)}`)
    const bodies = Array.from({ length: 8 }, (_, n) => {
      const body = Buffer.alloc(1024 * 1024 + n * 4099)
      for (let i = 0; i < body.length; i++) body[i] = (i * (n + 3)) % 253
      return body
    })
    const responses = await Promise.all(
      bodies.map((body, n) => h2Request(client, { ':path': `/big${n}`, ':method': 'POST' }, body)),
    )
    responses.forEach((response, n) => {
      expect(response.headers[':status']).toBe(200)
      expect(response.body.length).toBe(bodies[n]?.length)
      expect(response.body.equals(bodies[n] as Buffer)).toBe(true)
    })
    expect(new Set(seen).size).toBe(1)
  })

  it('sends response trailers after the body', async () => {
    const seen: ReusedHttpStream[] = []
    const service = await tlsService(seen)
    const client = await connectH2(`https://localhost:${portOf(service)}`, {
      ca: readPem(certs.ca),
      host: '127.0.0.1',
    } as http2.SecureClientSessionOptions)
    const response = await h2Request(
      client,
      { ':path': '/trailers', ':method': 'POST' },
      Buffer.from('12345'),
    )
    expect(response.body.toString()).toBe('with trailers')
    expect(response.trailers?.['grpc-status']).toBe('0')
    expect(response.trailers?.['x-sum']).toBe('5')
    // Connection-specific fields are not allowed in HTTP/2 trailers either.
    expect(response.trailers?.connection).toBeUndefined()
  })

  it('serves h2c with prior knowledge and HTTP/1.1 on the same plaintext port', async () => {
    const seen: ReusedHttpStream[] = []
    const service = new ListeningService('h2c', echoApp(seen, { h2c: true }))
    service.addTcp('127.0.0.1:0')
    await startServer([service])
    const port = portOf(service)
    const client = await connectH2(`http://127.0.0.1:${port}`)
    const h2 = await h2Request(client, { ':path': '/over-h2c' })
    expect(h2.headers['x-h2']).toBe('true')
    expect(h2.headers['x-path']).toBe('/over-h2c')
    const h1 = await request(`http://127.0.0.1:${port}/over-h1`)
    expect(h1.statusCode).toBe(200)
    expect(h1.headers['x-h2']).toBe('false')
    expect(h1.headers['x-path']).toBe('/over-h1')
    await h1.body.text()
  })

  it('answers 400 when :authority and host disagree, without calling past readRequest', async () => {
    const seen: ReusedHttpStream[] = []
    const service = new ListeningService('h2c-authority', echoApp(seen, { h2c: true }))
    service.addTcp('127.0.0.1:0')
    await startServer([service])
    const client = await connectH2(`http://127.0.0.1:${portOf(service)}`)
    const response = await h2Request(client, {
      ':path': '/',
      ':authority': 'a.example',
      host: 'b.example',
    })
    expect(response.headers[':status']).toBe(400)
    expect(seen).toEqual([])
  })

  it('drains gracefully on shutdown: GOAWAY, and the stream in flight completes', async () => {
    let release: () => void = () => {}
    const gate = new Promise<void>((resolve) => {
      release = resolve
    })
    let started: () => void = () => {}
    const inFlight = new Promise<void>((resolve) => {
      started = resolve
    })
    const app: HttpServerApp = {
      async processNewHttp(session) {
        if (!(await session.readRequest())) return undefined
        started()
        await gate
        await session.writeResponse(ResponseHeader.build(200), Buffer.from('late but whole'))
        return session.finish()
      },
      serverOptions: () => onEngine({ h2c: true }),
    }
    const service = new ListeningService('h2c-drain', app)
    service.addTcp('127.0.0.1:0')
    const server = await startServer([service])
    const client = await connectH2(`http://127.0.0.1:${portOf(service)}`)
    const goaway = new Promise<number>((resolve) => client.once('goaway', (code) => resolve(code)))
    const pending = h2Request(client, { ':path': '/slow' })
    await inFlight
    const stopped = server.shutdown({ graceful: true })
    expect(await goaway).toBe(http2.constants.NGHTTP2_NO_ERROR)
    release()
    const response = await pending
    expect(response.headers[':status']).toBe(200)
    expect(response.body.toString()).toBe('late but whole')
    await stopped
  })
})
