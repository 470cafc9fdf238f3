// Request bodies read by phases before the upstream request (issue 17, Pingora's issue #575):
// Session.bufferRequestBody and reads with Session.readRequestBody in requestFilter reach the
// origin byte-exact (HTTP/1 and HTTP/2 on either side), 413 past the bound with nothing sent to
// the origin, and a retried attempt sends the body again.
import { createHash, randomBytes } from 'node:crypto'
import { once } from 'node:events'
import http from 'node:http'
import http2 from 'node:http2'
import type { AddressInfo } from 'node:net'
import { HttpPeer } from '@pingora-ts/core'
import type { PingoraError } from '@pingora-ts/error'
import type { ProxyHttp, Session } from '@pingora-ts/proxy'
import { describe, expect, it, onTestFinished } from 'vitest'
import { origin, peerFor, rawClient, rawExchange, startProxy } from './helpers.ts'

/** What a recording origin received for one request. */
interface Received {
  method: string
  headers: http.IncomingHttpHeaders
  body: Buffer
}

/**
 * An HTTP/1.1 origin that records every request it receives (head and whole body) and answers
 * with the body's length and SHA-256. `slow` makes it read in small steps (one piece per event
 * loop turn), so the proxy's writes to it wait on backpressure.
 */
async function recordingOrigin(slow = false) {
  const received: Received[] = []
  let connections = 0
  const o = await origin((req, res) => {
    const parts: Buffer[] = []
    if (slow) {
      req.pause()
      const step = (): void => {
        const piece = req.read(4096) ?? req.read()
        if (piece !== null) parts.push(piece)
        if (!req.readableEnded) setImmediate(step)
      }
      req.on('readable', () => {})
      setImmediate(step)
    } else {
      req.on('data', (d: Buffer) => parts.push(d))
    }
    req.on('end', () => {
      const body = Buffer.concat(parts)
      received.push({ method: req.method ?? '', headers: req.headers, body })
      res.end(`${body.length} ${sha(body)}`)
    })
  })
  o.server.on('connection', () => {
    connections++
  })
  return { ...o, received, connections: () => connections }
}

function sha(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex')
}

/** POSTs `body` with node:http (chunked unless `length` is set) and resolves status and text. */
function post(
  port: number,
  body: Buffer,
  headers: http.OutgoingHttpHeaders = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ port, host: '127.0.0.1', method: 'POST', path: '/up', headers })
    req.on('response', (res) => {
      let text = ''
      res.setEncoding('latin1')
      res.on('data', (d: string) => {
        text += d
      })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }))
    })
    req.on('error', reject)
    // Several writes: the proxy receives the body in more than one piece.
    const step = 16 * 1024
    for (let i = 0; i < body.length; i += step) req.write(body.subarray(i, i + step))
    req.end()
  })
}

/** Reads the whole body with readRequestBody, as an app would without the buffering API. */
async function readAll(session: Session): Promise<Buffer> {
  const parts: Buffer[] = []
  for (;;) {
    const piece = await session.readRequestBody()
    if (piece === undefined) return Buffer.concat(parts)
    parts.push(piece)
  }
}

describe('a body read in requestFilter reaches the origin', () => {
  it('with readRequestBody, a small Content-Length body, byte-exact and framed the same', async () => {
    const o = await recordingOrigin()
    let seen = ''
    const p = await startProxy({
      newCtx: () => undefined,
      async requestFilter(session: Session) {
        seen = (await readAll(session)).toString()
        return false
      },
      upstreamPeer: () => peerFor(o.port),
    })
    const res = await post(p.port, Buffer.from('hello body'), { 'Content-Length': '10' })
    expect(res.status).toBe(200)
    expect(seen).toBe('hello body')
    expect(o.received).toHaveLength(1)
    expect(o.received[0]?.body.toString()).toBe('hello body')
    expect(o.received[0]?.headers['content-length']).toBe('10')
  })

  it('with bufferRequestBody, a chunked body goes up with its Content-Length', async () => {
    const o = await recordingOrigin()
    const body = Buffer.from('first,second,third')
    let inFilter: Buffer | undefined
    let inLogging: Buffer | undefined
    const p = await startProxy({
      newCtx: () => undefined,
      async requestFilter(session: Session) {
        inFilter = await session.bufferRequestBody()
        return false
      },
      upstreamPeer: () => peerFor(o.port),
      logging(session: Session) {
        inLogging = session.requestBody
      },
    })
    const client = await rawClient(p.port)
    client.socket.write(
      'POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n6\r\nfirst,\r\n',
    )
    client.socket.write('7\r\nsecond,\r\n')
    client.socket.write('5\r\nthird\r\n0\r\n\r\n')
    await client.waitFor(`${body.length} ${sha(body)}`)
    expect(inFilter?.toString()).toBe(body.toString())
    await expect.poll(() => inLogging?.toString()).toBe(body.toString())
    const got = o.received[0] as Received
    expect(got.body.toString()).toBe(body.toString())
    expect(got.headers['content-length']).toBe(String(body.length))
    expect(got.headers['transfer-encoding']).toBeUndefined()
  })

  it('1 MiB read piece by piece reaches a slow origin byte-exact (backpressure)', async () => {
    const o = await recordingOrigin(true)
    const body = randomBytes(1024 * 1024)
    let pieces = 0
    const p = await startProxy({
      newCtx: () => undefined,
      async requestFilter(session: Session) {
        for (;;) {
          const piece = await session.readRequestBody()
          if (piece === undefined) return false
          pieces++
        }
      },
      upstreamPeer: () => peerFor(o.port),
    })
    const res = await post(p.port, body)
    expect(res.status).toBe(200)
    expect(pieces).toBeGreaterThan(1)
    expect(res.text).toBe(`${body.length} ${sha(body)}`)
    // Read whole in the phase: the origin gets a Content-Length, not the client's chunking.
    expect(o.received[0]?.headers['content-length']).toBe(String(body.length))
  })

  it('the start read in requestFilter, then the rest streamed by the engine', async () => {
    const o = await recordingOrigin()
    let first = ''
    const p = await startProxy({
      newCtx: () => undefined,
      async requestFilter(session: Session) {
        first = (await session.readRequestBody())?.toString() ?? ''
        return false
      },
      upstreamPeer: () => peerFor(o.port),
    })
    const client = await rawClient(p.port)
    client.socket.write(
      'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n4\r\nhead\r\n',
    )
    // The rest is sent only once the phase has read the first piece.
    await expect.poll(() => first).toBe('head')
    client.socket.write('4\r\ntail\r\n0\r\n\r\n')
    const body = Buffer.from('headtail')
    await client.waitFor(`${body.length} ${sha(body)}`)
    expect(o.received[0]?.headers['transfer-encoding']).toBe('chunked')
  })

  it('sends 100 Continue to a client that expects it; the origin sees no Expect', async () => {
    const o = await recordingOrigin()
    const p = await startProxy({
      newCtx: () => undefined,
      async requestFilter(session: Session) {
        await session.bufferRequestBody()
        return false
      },
      upstreamPeer: () => peerFor(o.port),
    })
    const client = await rawClient(p.port)
    client.socket.write(
      'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n',
    )
    await client.waitFor('HTTP/1.1 100 Continue\r\n\r\n')
    client.socket.write('hello')
    await client.waitFor(`5 ${sha(Buffer.from('hello'))}`)
    expect(client.received().match(/100 Continue/g)).toHaveLength(1)
    expect(o.received[0]?.headers.expect).toBeUndefined()
  })
})

describe('the bound', () => {
  it('answers 413 and closes when Content-Length passes maxBytes; the origin gets nothing', async () => {
    const o = await recordingOrigin()
    let caught: PingoraError | undefined
    const p = await startProxy({
      newCtx: () => undefined,
      async requestFilter(session: Session) {
        await session.bufferRequestBody({ maxBytes: 1024 })
        return false
      },
      upstreamPeer: () => peerFor(o.port),
      logging(_s: Session, error: PingoraError | undefined) {
        caught = error
      },
    })
    const response = await rawExchange(
      p.port,
      `POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4096\r\n\r\n${'a'.repeat(4096)}`,
    )
    expect(response).toMatch(/^HTTP\/1\.1 413 /)
    expect(response.toLowerCase()).toContain('connection: close\r\n')
    expect(caught?.type).toBe('HTTPStatus')
    expect(caught?.status).toBe(413)
    expect(caught?.source).toBe('downstream')
    expect(o.connections()).toBe(0)
  })

  it('answers 413 to a chunked body that grows past maxBytes; the origin gets nothing', async () => {
    const o = await recordingOrigin()
    const p = await startProxy({
      newCtx: () => undefined,
      async requestFilter(session: Session) {
        await session.bufferRequestBody({ maxBytes: 1024 })
        return false
      },
      upstreamPeer: () => peerFor(o.port),
    })
    const chunk = `400\r\n${'b'.repeat(1024)}\r\n`
    const response = await rawExchange(
      p.port,
      `POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${chunk}${chunk}0\r\n\r\n`,
    )
    expect(response).toMatch(/^HTTP\/1\.1 413 /)
    expect(o.connections()).toBe(0)
  })

  it('answers 413 when readRequestBody read past requestBodyBufferLimit and the request goes upstream', async () => {
    const o = await recordingOrigin()
    let read = 0
    const p = await startProxy(
      {
        newCtx: () => undefined,
        async requestFilter(session: Session) {
          read = (await readAll(session)).length
          return false
        },
        upstreamPeer: () => peerFor(o.port),
      },
      {},
      { requestBodyBufferLimit: 2048 },
    )
    const res = await post(p.port, Buffer.alloc(4096, 0x63))
    expect(res.status).toBe(413)
    expect(read).toBe(4096)
    expect(o.connections()).toBe(0)
  })

  it('leaves a phase that answers itself free to read any length', async () => {
    const p = await startProxy(
      {
        newCtx: () => undefined,
        async requestFilter(session: Session) {
          const length = (await readAll(session)).length
          await session.respondErrorWithBody(200, Buffer.from(`read ${length}`))
          return true
        },
        upstreamPeer: () => peerFor(1),
      },
      {},
      { requestBodyBufferLimit: 2048 },
    )
    const res = await post(p.port, Buffer.alloc(8192, 0x64))
    expect(res.status).toBe(200)
    expect(res.text).toBe('read 8192')
  })
})

describe('retries', () => {
  it('replays a buffered 200 KiB body to the second peer after a connect failure', async () => {
    const o = await recordingOrigin()
    const body = randomBytes(200 * 1024)
    const peers: number[] = []
    const p = await startProxy(
      {
        newCtx: () => undefined,
        async requestFilter(session: Session) {
          await session.bufferRequestBody()
          return false
        },
        upstreamPeer(session: Session) {
          const port = session.retries === 1 ? 1 : o.port
          peers.push(port)
          return peerFor(port)
        },
        failToConnect: (_s, _p, _c, error) => error.setRetry(true),
      },
      { maxRetries: 2 },
    )
    const res = await post(p.port, body)
    expect(res.status).toBe(200)
    expect(peers).toEqual([1, o.port])
    expect(res.text).toBe(`${body.length} ${sha(body)}`)
    expect(o.received).toHaveLength(1)
  })

  it('replays the pieces read in upstreamPeer and the rest after a failed attempt, once each', async () => {
    const o = await recordingOrigin()
    let first = ''
    const p = await startProxy(
      {
        newCtx: () => undefined,
        async upstreamPeer(session: Session) {
          // Read after the engine started its retry buffer: kept and buffered, sent once.
          if (session.retries === 1) {
            first = (await session.readRequestBody())?.toString() ?? ''
            return peerFor(1)
          }
          return peerFor(o.port)
        },
        failToConnect: (_s, _p, _c, error) => error.setRetry(true),
      },
      { maxRetries: 2 },
    )
    const client = await rawClient(p.port)
    client.socket.write(
      'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nfirst\r\n',
    )
    await expect.poll(() => first).toBe('first')
    client.socket.write('6\r\nsecond\r\n0\r\n\r\n')
    const body = Buffer.from('firstsecond')
    await client.waitFor(`${body.length} ${sha(body)}`)
    expect(o.received[0]?.body.toString()).toBe('firstsecond')
  })
})

async function h2cOrigin() {
  const received: Received[] = []
  const server = http2.createServer()
  server.on('stream', (stream, headers) => {
    const parts: Buffer[] = []
    stream.on('data', (d: Buffer) => parts.push(d))
    stream.on('end', () => {
      const body = Buffer.concat(parts)
      received.push({
        method: String(headers[':method']),
        headers: headers as http.IncomingHttpHeaders,
        body,
      })
      stream.respond({ ':status': 200 })
      stream.end(`${body.length} ${sha(body)}`)
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  onTestFinished(() => {
    server.close()
  })
  return { port: (server.address() as AddressInfo).port, received }
}

async function h2cPost(port: number, body: Buffer): Promise<{ status: number; text: string }> {
  const client = http2.connect(`http://127.0.0.1:${port}`)
  onTestFinished(() => client.destroy())
  const stream = client.request({ ':method': 'POST', ':path': '/up' })
  let status = 0
  let text = ''
  stream.on('response', (h) => {
    status = Number(h[':status'])
  })
  stream.setEncoding('latin1')
  stream.on('data', (d: string) => {
    text += d
  })
  stream.write(body.subarray(0, body.length >> 1))
  stream.end(body.subarray(body.length >> 1))
  await once(stream, 'end')
  return { status, text }
}

describe('HTTP/2', () => {
  const buffering: Pick<ProxyHttp<undefined>, 'newCtx' | 'requestFilter'> = {
    newCtx: () => undefined,
    async requestFilter(session: Session) {
      await session.bufferRequestBody()
      return false
    },
  }

  it('an h2 client body buffered in requestFilter reaches an HTTP/1.1 origin with its length', async () => {
    const o = await recordingOrigin()
    const body = randomBytes(100 * 1024)
    const p = await startProxy(
      { ...buffering, upstreamPeer: () => peerFor(o.port) },
      {},
      { serverOptions: { h2c: true } },
    )
    const res = await h2cPost(p.port, body)
    expect(res.status).toBe(200)
    expect(res.text).toBe(`${body.length} ${sha(body)}`)
    expect(o.received[0]?.headers['content-length']).toBe(String(body.length))
  })

  it('an HTTP/1.1 chunked body buffered in requestFilter reaches an h2 origin with content-length', async () => {
    const o = await h2cOrigin()
    const body = randomBytes(100 * 1024)
    const p = await startProxy({
      ...buffering,
      upstreamPeer: () => {
        const peer = new HttpPeer({ address: `127.0.0.1:${o.port}` })
        peer.options.setHttpVersion(2, 2)
        return peer
      },
    })
    const res = await post(p.port, body)
    expect(res.status).toBe(200)
    expect(res.text).toBe(`${body.length} ${sha(body)}`)
    expect(o.received[0]?.headers['content-length']).toBe(String(body.length))
  })

  it('an h2 client over the bound gets 413 and the origin nothing', async () => {
    const o = await recordingOrigin()
    const p = await startProxy(
      { ...buffering, upstreamPeer: () => peerFor(o.port) },
      {},
      { serverOptions: { h2c: true }, requestBodyBufferLimit: 1024 },
    )
    const res = await h2cPost(p.port, Buffer.alloc(4096, 0x65))
    expect(res.status).toBe(413)
    expect(o.connections()).toBe(0)
  })
})
