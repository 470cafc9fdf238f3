import { once } from 'node:events'
import http from 'node:http'
import { describe, expect, it } from 'vitest'
import { origin, peerFor, startProxy } from './helpers.ts'

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

/** Writes `data` in 64 KiB pieces, honouring backpressure, then ends. */
async function writeAll(out: NodeJS.WritableStream & { end(): void }, data: Buffer) {
  for (let i = 0; i < data.length; i += PIECE) {
    if (!out.write(data.subarray(i, i + PIECE))) await once(out, 'drain')
  }
  out.end()
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
})
