// The HTTP/2 upstream: h2c with prior knowledge and h2 over TLS by ALPN (with the HTTP/1.1
// answer remembered), the multiplexed pool (capacity, sharing, GOAWAY, refused streams), and
// the stream resets of cancel and read timeout, against real node:http2 and node:https servers.
import { once } from 'node:events'
import fs from 'node:fs'
import http2 from 'node:http2'
import https from 'node:https'
import type { AddressInfo } from 'node:net'
import { PingoraError } from '@pingora-ts/error'
import { RequestHeader } from '@pingora-ts/http'
import { certs } from '@pingora-ts/test-utils'
import { ALPN } from '@pingora-ts/tls'
import { describe, expect, it, onTestFinished } from 'vitest'
import { HttpConnector } from '../../src/connectors/http-connector.ts'
import type { ClientSession } from '../../src/protocols/http/client-session.ts'
import { Http2ClientSession } from '../../src/protocols/http2/client.ts'
import { HttpPeer } from '../../src/upstreams/http-peer.ts'
import type { PeerOptionsInit } from '../../src/upstreams/peer-options.ts'

const { NGHTTP2_CANCEL, NGHTTP2_REFUSED_STREAM } = http2.constants

type Handler = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void

async function h2cOrigin(
  handler: Handler,
  settings: http2.Settings = {},
): Promise<{ port: number; server: http2.Http2Server; sessions: () => number }> {
  const server = http2.createServer({ settings })
  let sessions = 0
  const open = new Set<http2.ServerHttp2Session>()
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
  onTestFinished(() => {
    for (const session of open) session.destroy()
    return closeServer(server)
  })
  return { port: (server.address() as AddressInfo).port, server, sessions: () => sessions }
}

function closeServer(server: http2.Http2Server | http2.Http2SecureServer | https.Server) {
  return new Promise<void>((resolve) => {
    server.close(() => resolve())
    ;(server as { closeAllConnections?: () => void }).closeAllConnections?.()
  })
}

function h2cPeer(port: number, options: PeerOptionsInit = {}): HttpPeer {
  const peer = new HttpPeer({ address: `127.0.0.1:${port}`, options })
  peer.options.setHttpVersion(2, 2)
  return peer
}

function request(method: string, path: string): RequestHeader {
  const req = RequestHeader.build(method, path)
  req.insertHeader('Host', 'origin.test')
  return req
}

async function readAll(session: ClientSession): Promise<string> {
  const parts: Buffer[] = []
  for (;;) {
    const chunk = await session.readResponseBody()
    if (chunk === undefined) break
    parts.push(chunk)
  }
  return Buffer.concat(parts).toString()
}

function echo(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
  const parts: Buffer[] = []
  stream.on('data', (d: Buffer) => parts.push(d))
  stream.on('end', () => {
    stream.respond(
      { ':status': 200, 'x-path': String(headers[':path']) },
      { waitForTrailers: true },
    )
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'x-n': '1' }))
    stream.end(
      `${headers[':method']} ${headers[':authority']} ${headers[':scheme']} ${Buffer.concat(parts).length}`,
    )
  })
}

function connector(): HttpConnector {
  const c = new HttpConnector()
  onTestFinished(() => c.closeIdle())
  return c
}

describe('h2c with prior knowledge', () => {
  it('sends requests with :authority from Host, reads body and trailers, reuses the connection', async () => {
    const origin = await h2cOrigin(echo)
    const conn = connector()
    const peer = h2cPeer(origin.port)

    const [first, reused] = await conn.getHttpSession(peer)
    expect(first).toBeInstanceOf(Http2ClientSession)
    expect(first.protocol).toBe('h2')
    expect(reused).toBe(false)
    await first.writeRequestHeader(request('POST', '/up'))
    await first.writeBody(Buffer.alloc(70_000, 1))
    await first.finishBody()
    const response = await first.readResponseHeader()
    expect(response.status).toBe(200)
    expect(response.getHeader('x-path')).toBe('/up')
    expect(await readAll(first)).toBe('POST origin.test http 70000')
    expect(first.isBodyDone()).toBe(true)
    expect(first.responseTrailers?.get('grpc-status')).toBe('0')
    expect(first.responseTrailers?.get('x-n')).toBe('1')
    conn.releaseHttpSession(first, peer)

    const [second, reusedAgain] = await conn.getHttpSession(peer)
    expect(reusedAgain).toBe(true)
    expect(second.reused).toBe(true)
    await (second as Http2ClientSession).writeRequestHeader(request('GET', '/again'), true)
    expect((await second.readResponseHeader()).status).toBe(200)
    expect(await readAll(second)).toBe('GET origin.test http 0')
    conn.releaseHttpSession(second, peer)
    expect(origin.sessions()).toBe(1)
    const stats = conn.h2Stats()
    expect(stats.connections).toBe(1)
    expect(stats.streams).toBe(2)
    expect(stats.reusedStreams).toBe(1)
  })

  it('shares connections up to min(maxH2Streams, server limit): 20 streams, limit 4, 5 connections', async () => {
    const held: http2.ServerHttp2Stream[] = []
    let release: () => void = () => {}
    const all = new Promise<void>((resolve) => {
      release = resolve
    })
    const origin = await h2cOrigin(
      (stream) => {
        held.push(stream)
        if (held.length === 20) release()
      },
      { maxConcurrentStreams: 4 },
    )
    const conn = connector()
    const peer = h2cPeer(origin.port, { maxH2Streams: 10 })
    const calls = Array.from({ length: 20 }, async (_, i) => {
      const [session] = await conn.getHttpSession(peer)
      await (session as Http2ClientSession).writeRequestHeader(request('GET', `/${i}`), true)
      const response = await session.readResponseHeader()
      const body = await readAll(session)
      conn.releaseHttpSession(session, peer)
      return `${response.status} ${body}`
    })
    await all
    expect(conn.h2Stats().activeStreams).toBe(20)
    for (const stream of held) {
      stream.respond({ ':status': 200 })
      stream.end('ok')
    }
    const results = await Promise.all(calls)
    expect(results.every((r) => r === '200 ok')).toBe(true)
    expect(origin.sessions()).toBe(5)
    expect(conn.h2Stats().connections).toBe(5)
  })

  it('retries nothing itself but marks a refused stream retryable and the connection draining', async () => {
    let n = 0
    const origin = await h2cOrigin((stream) => {
      n++
      if (n === 1) {
        stream.close(NGHTTP2_REFUSED_STREAM)
        return
      }
      stream.respond({ ':status': 200 })
      stream.end('second')
    })
    const conn = connector()
    const peer = h2cPeer(origin.port, { maxH2Streams: 5 })
    const [session] = await conn.getHttpSession(peer)
    await (session as Http2ClientSession).writeRequestHeader(request('GET', '/'), true)
    const error = await session.readResponseHeader().catch((e: unknown) => e)
    expect(PingoraError.is(error)).toBe(true)
    expect((error as PingoraError).retry).toBe(true)
    conn.releaseHttpSession(session, peer)
    // The refusing connection takes no new stream: the retry goes on a new one.
    const [again, reused] = await conn.getHttpSession(peer)
    expect(reused).toBe(false)
    await (again as Http2ClientSession).writeRequestHeader(request('GET', '/'), true)
    expect((await again.readResponseHeader()).status).toBe(200)
    expect(await readAll(again)).toBe('second')
    expect(origin.sessions()).toBe(2)
  })

  it('a GOAWAY marks the connection draining; the next request opens a new one', async () => {
    const origin = await h2cOrigin((stream) => {
      stream.respond({ ':status': 200 })
      stream.end('x')
      stream.session?.goaway(0)
    })
    const conn = connector()
    const peer = h2cPeer(origin.port, { maxH2Streams: 5 })
    for (let i = 0; i < 2; i++) {
      const [session] = await conn.getHttpSession(peer)
      await (session as Http2ClientSession).writeRequestHeader(request('GET', '/'), true)
      expect((await session.readResponseHeader()).status).toBe(200)
      expect(await readAll(session)).toBe('x')
      conn.releaseHttpSession(session, peer)
      // The GOAWAY frame follows the response on the wire: wait until the client saw it.
      while (conn.h2Stats().draining + conn.h2Stats().connections - conn.h2Stats().open === i) {
        await new Promise((r) => setImmediate(r))
      }
    }
    expect(origin.sessions()).toBe(2)
  })

  it('a read timeout resets the stream with CANCEL and fails with ReadTimedout', async () => {
    const rst = deferred<number>()
    const { port } = await h2cOrigin((stream) => {
      stream.on('close', () => rst.resolve(stream.rstCode))
    })
    const conn = connector()
    const peer = h2cPeer(port, { readTimeoutMs: 50 })
    const [session] = await conn.getHttpSession(peer)
    await (session as Http2ClientSession).writeRequestHeader(request('GET', '/'), true)
    const error = await session.readResponseHeader().catch((e: unknown) => e)
    expect((error as PingoraError).type).toBe('ReadTimedout')
    expect(await rst.promise).toBe(NGHTTP2_CANCEL)
  })

  it('a response cut by RST_STREAM is an error, never a complete body', async () => {
    const origin = await h2cOrigin((stream) => {
      stream.respond({ ':status': 200 })
      stream.write('partial', () => stream.destroy(new Error('cut')))
    })
    const conn = connector()
    const peer = h2cPeer(origin.port)
    const [session] = await conn.getHttpSession(peer)
    await (session as Http2ClientSession).writeRequestHeader(request('GET', '/'), true)
    expect((await session.readResponseHeader()).status).toBe(200)
    const error = await readAll(session).catch((e: unknown) => e)
    expect(PingoraError.is(error)).toBe(true)
    expect((error as PingoraError).source).toBe('upstream')
  })

  it('shutdown during the upload resets the stream without END_STREAM', async () => {
    const seen = deferred<{ ended: boolean; rst: number; bytes: number }>()
    const got = deferred<void>()
    const { port } = await h2cOrigin((stream) => {
      let ended = false
      let aborted = false
      let bytes = 0
      stream.on('data', (d: Buffer) => {
        bytes += d.length
        if (bytes >= 1000) got.resolve()
      })
      // node:http2 also ends the readable side after a RST_STREAM(CANCEL), but only after
      // 'aborted': an 'end' before it is an END_STREAM from the client.
      stream.on('aborted', () => {
        aborted = true
      })
      stream.on('end', () => {
        if (!aborted) ended = true
      })
      stream.on('close', () => seen.resolve({ ended, rst: stream.rstCode, bytes }))
    })
    const conn = connector()
    const peer = h2cPeer(port)
    const [session] = await conn.getHttpSession(peer)
    await session.writeRequestHeader(request('POST', '/'))
    await session.writeBody(Buffer.alloc(1000))
    await got.promise
    session.shutdown()
    const result = await seen.promise
    expect(result.ended).toBe(false)
    expect(result.rst).toBe(http2.constants.NGHTTP2_CANCEL)
  })
})

function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve: (value: T) => void = () => {}
  const promise = new Promise<T>((r) => {
    resolve = r
  })
  return { promise, resolve }
}

describe('h2 over TLS by ALPN', () => {
  it('speaks h2 when the server chooses it in ALPN', async () => {
    const server = http2.createSecureServer({
      cert: fs.readFileSync(certs.localhost.cert),
      key: fs.readFileSync(certs.localhost.key),
    })
    server.on('stream', echo)
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    onTestFinished(() => closeServer(server))
    const conn = connector()
    const peer = new HttpPeer({
      address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
      tls: true,
      sni: 'localhost',
      options: { ca: fs.readFileSync(certs.ca), alpn: ALPN.H2H1 },
    })
    const [session] = await conn.getHttpSession(peer)
    expect(session.protocol).toBe('h2')
    expect(session.digest.tls?.alpn).toBe('h2')
    await (session as Http2ClientSession).writeRequestHeader(request('GET', '/tls'), true)
    expect((await session.readResponseHeader()).status).toBe(200)
    expect(await readAll(session)).toBe('GET origin.test https 0')
    conn.releaseHttpSession(session, peer)
  })

  it('falls back to HTTP/1.1 when the server answers http/1.1, and remembers it', async () => {
    const alpns: string[] = []
    const server = https.createServer(
      {
        cert: fs.readFileSync(certs.localhost.cert),
        key: fs.readFileSync(certs.localhost.key),
        ALPNProtocols: ['http/1.1'],
      },
      (req, res) => {
        res.end(`h1 ${req.httpVersion}`)
      },
    )
    server.on('secureConnection', (socket) => alpns.push(String(socket.alpnProtocol)))
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    onTestFinished(() => closeServer(server))
    const conn = connector()
    const peer = new HttpPeer({
      address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
      tls: true,
      sni: 'localhost',
      options: { ca: fs.readFileSync(certs.ca), alpn: ALPN.H2H1, idleTimeoutMs: 0 },
    })
    for (let i = 0; i < 2; i++) {
      const [session] = await conn.getHttpSession(peer)
      expect(session.protocol).toBe('h1')
      await session.writeRequestHeader(request('GET', '/'))
      await session.finishBody()
      expect((await session.readResponseHeader()).status).toBe(200)
      expect(await readAll(session)).toBe('h1 1.1')
      conn.releaseHttpSession(session, peer)
    }
    expect(alpns).toEqual(['http/1.1', 'http/1.1'])
    expect(conn.h2Stats().connections).toBe(0)
  })
})
