import { once } from 'node:events'
import http from 'node:http'
import net from 'node:net'
import { describe, expect, it, onTestFinished } from 'vitest'
import { origin, peerFor, raw, startProxy } from './helpers.ts'

// The proxy frees each relayed body piece once written when no filter sees it (ADR 0009).
// These tests check that this never touches bytes still in use: queued writes, a slow client,
// and pieces a body filter keeps.

const PIECE = 64 * 1024
const PIECES = 64

/** 4 MiB of bytes that differ piece to piece, so a freed or reused piece shows. */
function body(): Buffer {
  const b = Buffer.allocUnsafe(PIECE * PIECES)
  for (let i = 0; i < b.length; i++) b[i] = (i * 7 + (i >>> 16)) & 0xff
  return b
}

/** Writes `data` in 64 KiB pieces, honouring backpressure, then ends unless told not to. */
async function writeAll(out: NodeJS.WritableStream & { end(): void }, data: Buffer, end = true) {
  for (let i = 0; i < data.length; i += PIECE) {
    if (!out.write(data.subarray(i, i + PIECE))) await once(out, 'drain')
  }
  if (end) out.end()
}

/** GETs `path` through the proxy, reading one piece per macrotask (a slow client). */
function slowGet(port: number, path: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    http
      .get({ port, host: '127.0.0.1', path, agent: false }, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (d: Buffer) => {
          chunks.push(d)
          res.pause()
          setImmediate(() => res.resume())
        })
        res.on('end', () => resolve(Buffer.concat(chunks)))
        res.on('error', reject)
      })
      .on('error', reject)
  })
}

/** POSTs `data` through the proxy and resolves with the response body. */
function post(port: number, data: Buffer, chunked: boolean): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        port,
        host: '127.0.0.1',
        method: 'POST',
        path: '/',
        agent: false,
        headers: chunked ? {} : { 'content-length': String(data.length) },
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (d: Buffer) => chunks.push(d))
        res.on('end', () => resolve(Buffer.concat(chunks)))
        res.on('error', reject)
      },
    )
    req.on('error', reject)
    void writeAll(req, data)
  })
}

describe('relayed body memory release', () => {
  it('relays a large response intact to a slow client', async () => {
    const expected = body()
    const o = await origin((req, res) => {
      if (req.url === '/chunked') res.setHeader('Transfer-Encoding', 'chunked')
      else res.setHeader('Content-Length', String(expected.length))
      void writeAll(res, expected)
    })
    const p = await startProxy({ newCtx: () => undefined, upstreamPeer: () => peerFor(o.port) })
    expect((await slowGet(p.port, '/length')).equals(expected)).toBe(true)
    expect((await slowGet(p.port, '/chunked')).equals(expected)).toBe(true)
  })

  it('relays a large upload intact, with Content-Length and chunked', async () => {
    const expected = body()
    const o = await origin((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (d: Buffer) => chunks.push(d))
      req.on('end', () => {
        const got = Buffer.concat(chunks)
        res.end(got.equals(expected) ? 'same' : `different (${got.length} bytes)`)
      })
    })
    const p = await startProxy({ newCtx: () => undefined, upstreamPeer: () => peerFor(o.port) })
    expect((await post(p.port, expected, false)).toString()).toBe('same')
    expect((await post(p.port, expected, true)).toString()).toBe('same')
  })

  it('leaves response pieces a body filter keeps untouched', async () => {
    const expected = body()
    const o = await origin((_req, res) => {
      res.setHeader('Content-Length', String(expected.length))
      void writeAll(res, expected)
    })
    const kept: Uint8Array[] = []
    const p = await startProxy({
      newCtx: () => undefined,
      upstreamPeer: () => peerFor(o.port),
      responseBodyFilter(_s, data) {
        if (data !== undefined) kept.push(data)
        return data
      },
    })
    expect((await slowGet(p.port, '/')).equals(expected)).toBe(true)
    expect(Buffer.concat(kept).equals(expected)).toBe(true)
  })

  it('leaves request pieces a body filter keeps untouched', async () => {
    const expected = body()
    const o = await origin((req, res) => {
      req.resume()
      req.on('end', () => res.end('ok'))
    })
    const kept: Uint8Array[] = []
    const p = await startProxy({
      newCtx: () => undefined,
      upstreamPeer: () => peerFor(o.port),
      requestBodyFilter(_s, data) {
        if (data !== undefined) kept.push(data)
        return data
      },
    })
    expect((await post(p.port, expected, false)).toString()).toBe('ok')
    expect(Buffer.concat(kept).equals(expected)).toBe(true)
  })

  it('tunnels large pieces intact both ways after a 101', async () => {
    const expected = body()
    const o = await raw((socket) => {
      let head = ''
      const onHead = (d: Buffer) => {
        head += d.toString('latin1')
        const end = head.indexOf('\r\n\r\n')
        if (end === -1) return
        socket.off('data', onHead)
        socket.write(
          'HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n',
        )
        const rest = Buffer.from(head.slice(end + 4), 'latin1')
        if (rest.length > 0) socket.write(rest)
        socket.pipe(socket)
      }
      socket.on('data', onHead)
    })
    const p = await startProxy({ newCtx: () => undefined, upstreamPeer: () => peerFor(o.port) })
    const socket = net.connect(p.port, '127.0.0.1')
    onTestFinished(() => {
      socket.destroy()
    })
    const chunks: Buffer[] = []
    let received = 0
    let bodyStart = -1
    // The whole echo comes back before the client half-closes (a half-close ends the tunnel).
    const echoed = new Promise<Buffer>((resolve, reject) => {
      socket.on('error', reject)
      socket.on('data', (d: Buffer) => {
        chunks.push(d)
        received += d.length
        if (bodyStart === -1) {
          const end = Buffer.concat(chunks).indexOf('\r\n\r\n')
          if (end === -1) return
          bodyStart = end + 4
          void writeAll(socket, expected, false)
        }
        if (received >= bodyStart + expected.length) resolve(Buffer.concat(chunks))
      })
    })
    socket.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n')
    const all = await echoed
    expect(all.subarray(0, bodyStart).toString('latin1')).toMatch(/^HTTP\/1\.1 101 /)
    expect(all.subarray(bodyStart).equals(expected)).toBe(true)
  })
})

describe('tunnel half-close', () => {
  it('delivers what the upstream sends after the client finished sending', async () => {
    // The origin answers only once it sees the end of the client's bytes.
    const o = await raw((socket) => {
      let head = ''
      let upgraded = false
      let received = 0
      socket.on('data', (d: Buffer) => {
        if (upgraded) {
          received += d.length
          return
        }
        head += d.toString('latin1')
        const end = head.indexOf('\r\n\r\n')
        if (end === -1) return
        upgraded = true
        received += head.length - end - 4
        socket.write(
          'HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\n',
        )
      })
      socket.on('end', () => {
        socket.end(`got ${received} bytes, bye`)
      })
    })
    const p = await startProxy({ newCtx: () => undefined, upstreamPeer: () => peerFor(o.port) })
    const socket = net.connect(p.port, '127.0.0.1')
    onTestFinished(() => {
      socket.destroy()
    })
    const chunks: Buffer[] = []
    const ended = new Promise<string>((resolve, reject) => {
      socket.on('error', reject)
      socket.on('data', (d: Buffer) => chunks.push(d))
      socket.on('end', () => resolve(Buffer.concat(chunks).toString('latin1')))
    })
    socket.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: x\r\n\r\n')
    await new Promise<void>((resolve) => {
      socket.once('data', () => resolve())
    })
    socket.end('hello')
    const text = await ended
    expect(text).toMatch(/^HTTP\/1\.1 101 /)
    expect(text.endsWith('got 5 bytes, bye')).toBe(true)
  })
})
