// Issue 20, the ResponseCompression module: a real origin on 127.0.0.1, a real client (undici,
// which does not decode bodies: the test decodes with node:zlib), the module added in
// initDownstreamModules.
import { randomBytes } from 'node:crypto'
import type http from 'node:http'
import zlib from 'node:zlib'
import { HttpPeer } from '@pingora-ts/core'
import {
  acceptEncodingQuality,
  type ProxyHttp,
  ResponseCompression,
  ResponseCompressionBuilder,
  type ResponseCompressionOptions,
} from '@pingora-ts/proxy'
import { Agent, request } from 'undici'
import { describe, expect, it, onTestFinished } from 'vitest'
import { origin, startProxy } from './helpers.ts'

const JSON_BODY = Buffer.from(
  JSON.stringify(
    Array.from({ length: 800 }, (_, i) => ({ id: i, name: `item ${i}`, tags: ['a', 'b'] })),
  ),
)

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void

async function setup(handler: Handler, options?: ResponseCompressionOptions) {
  const o = await origin(handler)
  const peer = new HttpPeer({ address: `127.0.0.1:${o.port}`, tls: false, sni: '' })
  const seen: (ResponseCompression | undefined)[] = []
  const app = {
    newCtx: () => undefined,
    initDownstreamModules(modules) {
      modules.addModule(new ResponseCompressionBuilder(options))
    },
    upstreamPeer(session) {
      const module = session.downstreamModulesCtx.get(ResponseCompression)
      if (session.getHeader('x-no-compress') !== undefined) module?.disable()
      seen.push(module)
      return peer
    },
  } satisfies ProxyHttp<undefined>
  const proxy = await startProxy(app)
  const agent = new Agent()
  onTestFinished(() => agent.close())
  const get = async (headers: Record<string, string> = {}) => {
    const response = await request(`${proxy.url}/`, { dispatcher: agent, headers })
    const body = Buffer.from(await response.body.arrayBuffer())
    return { status: response.statusCode, headers: response.headers, body }
  }
  return { get, seen, agent, url: proxy.url }
}

function decode(encoding: unknown, body: Buffer): Buffer {
  switch (encoding) {
    case 'gzip':
      return zlib.gunzipSync(body)
    case 'br':
      return zlib.brotliDecompressSync(body)
    case 'zstd':
      return (zlib as unknown as { zstdDecompressSync(b: Buffer): Buffer }).zstdDecompressSync(body)
    default:
      return body
  }
}

const jsonOrigin: Handler = (_req, res) => {
  res.setHeader('content-type', 'application/json; charset=utf-8')
  res.setHeader('etag', '"v1"')
  res.setHeader('vary', 'Origin')
  res.setHeader('accept-ranges', 'bytes')
  res.end(JSON_BODY)
}

describe('acceptEncodingQuality', () => {
  it('reads q-values, wildcards and refusals (RFC 9110 §12.5.3)', () => {
    expect(acceptEncodingQuality('gzip, br;q=0.8', 'br')).toBe(800)
    expect(acceptEncodingQuality('gzip;q=0.5, *;q=0.1', 'zstd')).toBe(100)
    expect(acceptEncodingQuality('*;q=0.3, gzip;q=0', 'gzip')).toBe(0)
    expect(acceptEncodingQuality('GZIP;Q=1.0', 'gzip')).toBe(1000)
    expect(acceptEncodingQuality('x-gzip', 'gzip')).toBe(1000)
    expect(acceptEncodingQuality(undefined, 'gzip')).toBe(0)
    expect(acceptEncodingQuality('br', 'identity')).toBe(1000)
    expect(acceptEncodingQuality('identity;q=0', 'identity')).toBe(0)
    expect(acceptEncodingQuality('gzip;q=garbage', 'gzip')).toBe(1000)
  })
})

describe('ResponseCompression through the proxy', () => {
  it('picks the coding by q-value, adds Vary, weakens the ETag, drops Content-Length', async () => {
    const { get } = await setup(jsonOrigin)
    const cases: [string, string | undefined][] = [
      ['gzip', 'gzip'],
      ['gzip;q=0.5, br;q=0.9', 'br'],
      ['br;q=0, gzip', 'gzip'],
      ['deflate', undefined],
      ['*;q=0', undefined],
    ]
    for (const [accept, expected] of cases) {
      const r = await get({ 'accept-encoding': accept })
      expect(r.status).toBe(200)
      expect(r.headers['content-encoding'], accept).toBe(expected)
      expect(r.headers.vary).toEqual(['Origin', 'Accept-Encoding'])
      expect(decode(expected, r.body).equals(JSON_BODY)).toBe(true)
      if (expected !== undefined) {
        expect(r.body.length).toBeLessThan(JSON_BODY.length / 4)
        expect(r.headers.etag).toBe('W/"v1"')
        expect(r.headers['content-length']).toBe(undefined)
        expect(r.headers['accept-ranges']).toBe(undefined)
      } else {
        expect(r.headers.etag).toBe('"v1"')
      }
    }
  })

  it.skipIf(!ResponseCompressionBuilder.hasZstd)('uses zstd where node:zlib has it', async () => {
    const { get, seen } = await setup(jsonOrigin)
    const r = await get({ 'accept-encoding': 'gzip, br, zstd' })
    expect(r.headers['content-encoding']).toBe('zstd')
    expect(decode('zstd', r.body).equals(JSON_BODY)).toBe(true)
    expect(seen[0]?.encoding).toBe('zstd')
  })

  it('leaves small bodies, other types, no-transform, HEAD, 304 and disabled requests alone', async () => {
    const { get } = await setup((req, res) => {
      switch (req.headers['x-case']) {
        case 'small':
          res.setHeader('content-type', 'application/json')
          res.end('{"small":true}')
          return
        case 'png':
          res.setHeader('content-type', 'image/png')
          res.end(JSON_BODY)
          return
        case 'no-transform':
          res.setHeader('content-type', 'text/plain')
          res.setHeader('cache-control', 'public, no-transform')
          res.end(JSON_BODY)
          return
        case '304':
          res.statusCode = 304
          res.end()
          return
        default:
          jsonOrigin(req, res)
      }
    })
    const small = await get({ 'accept-encoding': 'gzip', 'x-case': 'small' })
    expect(small.headers['content-encoding']).toBe(undefined)
    expect(small.headers['content-length']).toBe('14')
    expect(small.body.toString()).toBe('{"small":true}')
    for (const which of ['png', 'no-transform']) {
      const r = await get({ 'accept-encoding': 'gzip', 'x-case': which })
      expect(r.headers['content-encoding'], which).toBe(undefined)
      expect(r.body.equals(JSON_BODY), which).toBe(true)
    }
    const notModified = await get({ 'accept-encoding': 'gzip', 'x-case': '304' })
    expect(notModified.status).toBe(304)
    expect(notModified.headers['content-encoding']).toBe(undefined)
    const disabled = await get({ 'accept-encoding': 'gzip', 'x-no-compress': '1' })
    expect(disabled.headers['content-encoding']).toBe(undefined)
    expect(disabled.body.equals(JSON_BODY)).toBe(true)
  })

  it('leaves an encoded response the client accepts, and decodes one it does not', async () => {
    const gz = zlib.gzipSync(JSON_BODY)
    const { get, seen } = await setup((_req, res) => {
      res.setHeader('content-type', 'application/json')
      res.setHeader('content-encoding', 'gzip')
      res.setHeader('etag', '"gz"')
      res.end(gz)
    })
    const accepted = await get({ 'accept-encoding': 'gzip, br' })
    expect(accepted.headers['content-encoding']).toBe('gzip')
    expect(accepted.body.equals(gz)).toBe(true)
    expect(accepted.headers['content-length']).toBe(String(gz.length))
    const plain = await get({ 'accept-encoding': 'identity' })
    expect(plain.headers['content-encoding']).toBe(undefined)
    expect(plain.headers.etag).toBe('W/"gz"')
    expect(plain.body.equals(JSON_BODY)).toBe(true)
    expect(seen[1]?.encoding).toBe('decoded')
  })

  it('fails a response whose encoded body is corrupt or expands past the bound, and stays up', async () => {
    const bomb = zlib.gzipSync(Buffer.alloc(4 * 1024 * 1024))
    const { get } = await setup(
      (req, res) => {
        res.setHeader('content-type', 'application/json')
        res.setHeader('content-encoding', 'gzip')
        res.end(req.headers['x-case'] === 'bomb' ? bomb : Buffer.from('this is not gzip'))
      },
      { maxDecompressedChunkBytes: 1024 * 1024 },
    )
    for (const which of ['corrupt', 'bomb']) {
      await expect(get({ 'accept-encoding': 'identity', 'x-case': which })).rejects.toThrow()
    }
    // Still serving.
    const ok = await get({ 'accept-encoding': 'gzip', 'x-case': 'bomb' })
    expect(ok.body.equals(bomb)).toBe(true)
  })

  it('streams: each chunk is flushed, and a paused client holds the origin back', async () => {
    // Base64 of random bytes: compressible (about 3:4) but never tiny.
    const chunk = Buffer.from(randomBytes(24 * 1024).toString('base64'))
    // Far more than the socket buffers of two loopback connections can hold (tens of MiB).
    const total = 2048
    const origin = { written: 0, stalled: false, finished: false }
    let onStall: () => void = () => {}
    let releaseFirst: () => void = () => {}
    const firstSeen = new Promise<void>((resolve) => {
      releaseFirst = resolve
    })
    const { url, agent } = await setup(
      (_req, res) => {
        res.setHeader('content-type', 'text/plain')
        res.write(chunk)
        origin.written++
        // The second chunk only once the client decoded the first: proves the flush.
        void firstSeen.then(function pump() {
          while (origin.written < total) {
            origin.written++
            if (!res.write(chunk)) {
              // Stalled for real only when no drain comes for a while (a full socket buffer
              // drains at once when the proxy keeps reading).
              const timer = setTimeout(() => {
                origin.stalled = true
                onStall()
              }, 300)
              res.once('drain', () => {
                clearTimeout(timer)
                pump()
              })
              return
            }
          }
          origin.finished = true
          onStall()
          res.end()
        })
      },
      { levels: { gzip: 1 } },
    )
    const response = await request(`${url}/`, {
      dispatcher: agent,
      headers: { 'accept-encoding': 'gzip' },
    })
    expect(response.headers['content-encoding']).toBe('gzip')
    const gunzip = zlib.createGunzip()
    let decoded = 0
    const firstDecoded = new Promise<void>((resolve) => {
      gunzip.on('data', (d: Buffer) => {
        decoded += d.length
        if (decoded >= chunk.length) resolve()
      })
    })
    const body = response.body
    body.on('data', (d: Buffer) => gunzip.write(d))
    await firstDecoded
    expect(origin.written).toBe(1)
    // Pause the client; let the origin go: it must stall long before the end.
    body.pause()
    const stalled = new Promise<void>((resolve) => {
      onStall = resolve
    })
    releaseFirst()
    await stalled
    const writtenAtStall = origin.written
    expect(origin.finished).toBe(false)
    expect(origin.stalled).toBe(true)
    // Bounded: the proxy did not read the whole body ahead of a client that reads nothing.
    expect(writtenAtStall).toBeLessThan(total / 2)
    // What arrived so far decodes to whole chunks' worth of the origin's bytes.
    expect(decoded).toBeGreaterThanOrEqual(chunk.length)
    body.destroy()
    gunzip.destroy()
  })

  it('rejects bad options with exact messages', () => {
    expect(() => new ResponseCompressionBuilder({ levels: { gzip: 10 } })).toThrow(
      'gzip level must be an integer from 0 to 9, got 10',
    )
    expect(() => new ResponseCompressionBuilder({ minSize: -1 })).toThrow(
      'minSize must be a non-negative integer, got -1',
    )
  })

  it('applies levels per content type', async () => {
    const text = Buffer.from('abcdefgh'.repeat(4096))
    const { get } = await setup(
      (req, res) => {
        res.setHeader('content-type', req.headers['x-type'] as string)
        res.end(text)
      },
      { typeLevels: [{ type: 'text/css', levels: { gzip: 1 } }], levels: { gzip: 9 } },
    )
    const css = await get({ 'accept-encoding': 'gzip', 'x-type': 'text/css' })
    const html = await get({ 'accept-encoding': 'gzip', 'x-type': 'text/html' })
    expect(zlib.gunzipSync(css.body).equals(text)).toBe(true)
    expect(css.body.equals(zlib.gzipSync(text, { level: 1 }).subarray(10))).toBe(false)
    // Same input, level 1 against level 9: the level reached the coder.
    expect(css.body.length).toBeGreaterThan(html.body.length)
  })
})
