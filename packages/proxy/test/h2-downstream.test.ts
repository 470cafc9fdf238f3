// HTTP/2 clients through the proxy to HTTP/1.1 origins (h2 -> h1): the same ProxyHttp phases serve
// both protocols. The downgrade translates :authority to Host, joins cookies, drops what HTTP/1
// cannot carry, and a request nghttp2 or the session refuses never reaches the origin.
import type http from 'node:http'
import http2 from 'node:http2'
import { type H2Engine, HttpPeer } from '@pingora-ts/core'
import type { ProxyHttp } from '@pingora-ts/proxy'
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest'
import { origin, startProxy } from './helpers.ts'

/** The downstream HTTP/2 engine the running describe block tests (set in its beforeAll). */
let engine: H2Engine = 'node'

interface Seen {
  method: string
  url: string
  httpVersion: string
  headers: http.IncomingHttpHeaders
  body: string
}

async function recordingOrigin(seen: Seen[]) {
  return origin((req, res) => {
    const parts: Buffer[] = []
    req.on('data', (chunk: Buffer) => parts.push(chunk))
    req.on('end', () => {
      const body = Buffer.concat(parts).toString()
      seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        httpVersion: req.httpVersion,
        headers: req.headers,
        body,
      })
      res.setHeader('x-origin', 'h1')
      res.setHeader('connection', 'keep-alive')
      res.setHeader('keep-alive', 'timeout=5')
      res.end(`origin saw ${req.method} ${req.url} ${body.length}`)
    })
  })
}

function app(port: number): ProxyHttp<undefined> {
  return {
    newCtx: () => undefined,
    upstreamPeer: () => new HttpPeer({ address: `127.0.0.1:${port}` }),
  }
}

function h2Request(
  client: http2.ClientHttp2Session,
  headers: http2.OutgoingHttpHeaders,
  body?: string,
): Promise<{ headers: http2.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const stream = client.request(headers, { endStream: body === undefined })
    let responseHeaders: http2.IncomingHttpHeaders = {}
    let text = ''
    stream.setEncoding('utf8')
    stream.on('response', (h) => {
      responseHeaders = h
    })
    stream.on('data', (chunk: string) => {
      text += chunk
    })
    stream.on('end', () => resolve({ headers: responseHeaders, body: text }))
    stream.on('error', reject)
    if (body !== undefined) stream.end(body)
  })
}

async function h2cClient(port: number): Promise<http2.ClientHttp2Session> {
  const client = http2.connect(`http://127.0.0.1:${port}`)
  onTestFinished(() => client.destroy())
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve())
    client.once('error', reject)
  })
  return client
}

describe.each<H2Engine>(['node', 'native'])(
  'h2 -> h1 through the proxy (%s h2 engine)',
  (tested) => {
    beforeAll(() => {
      engine = tested
    })

    it('proxies concurrent h2c streams to an HTTP/1.1 origin with Host from :authority', async () => {
      const seen: Seen[] = []
      const upstream = await recordingOrigin(seen)
      const proxy = await startProxy(
        app(upstream.port),
        {},
        { serverOptions: { h2c: true, h2: { engine } } },
      )
      const client = await h2cClient(proxy.port)
      const responses = await Promise.all(
        [1, 2, 3, 4, 5].map((i) =>
          h2Request(client, {
            ':path': `/item/${i}?q=${i}`,
            ':authority': 'shop.example',
            cookie: [`a=${i}`, 'b=2'],
          }),
        ),
      )
      for (let i = 0; i < responses.length; i++) {
        const response = responses[i] as { headers: http2.IncomingHttpHeaders; body: string }
        expect(response.headers[':status']).toBe(200)
        expect(response.body).toBe(`origin saw GET /item/${i + 1}?q=${i + 1} 0`)
        expect(response.headers['x-origin']).toBe('h1')
        // Hop-by-hop fields of the HTTP/1 origin never reach the HTTP/2 client.
        expect(response.headers.connection).toBeUndefined()
        expect(response.headers['keep-alive']).toBeUndefined()
      }
      expect(seen).toHaveLength(5)
      for (const request of seen) {
        expect(request.httpVersion).toBe('1.1')
        expect(request.headers.host).toBe('shop.example')
        expect(request.headers.cookie).toMatch(/^a=\d; b=2$/)
      }
    })

    it('forwards a request body from an h2 client to the HTTP/1.1 origin, framed', async () => {
      const seen: Seen[] = []
      const upstream = await recordingOrigin(seen)
      const proxy = await startProxy(
        app(upstream.port),
        {},
        { serverOptions: { h2c: true, h2: { engine } } },
      )
      const client = await h2cClient(proxy.port)
      const payload = 'x'.repeat(300_000)
      const response = await h2Request(
        client,
        { ':path': '/upload', ':method': 'POST', ':authority': 'up.example' },
        payload,
      )
      expect(response.headers[':status']).toBe(200)
      expect(response.body).toBe(`origin saw POST /upload ${payload.length}`)
      expect(seen[0]?.body).toBe(payload)
    })

    it('keeps serving HTTP/1.1 clients on the same h2c-enabled port', async () => {
      const seen: Seen[] = []
      const upstream = await recordingOrigin(seen)
      const proxy = await startProxy(
        app(upstream.port),
        {},
        { serverOptions: { h2c: true, h2: { engine } } },
      )
      const response = await fetch(`${proxy.url}/plain`)
      expect(response.status).toBe(200)
      expect(await response.text()).toBe('origin saw GET /plain 0')
    })

    it('refuses :authority and host that disagree with 400; the origin receives nothing', async () => {
      const seen: Seen[] = []
      const upstream = await recordingOrigin(seen)
      const proxy = await startProxy(
        app(upstream.port),
        {},
        { serverOptions: { h2c: true, h2: { engine } } },
      )
      const client = await h2cClient(proxy.port)
      const response = await h2Request(client, {
        ':path': '/smuggle',
        ':authority': 'good.example',
        host: 'evil.example',
      })
      expect(response.headers[':status']).toBe(400)
      // The connection survives: a clean request after it still works.
      const clean = await h2Request(client, { ':path': '/after', ':authority': 'good.example' })
      expect(clean.headers[':status']).toBe(200)
      expect(seen.map((request) => request.url)).toEqual(['/after'])
    })
  },
)
