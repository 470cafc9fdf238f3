// HTTP/2 requests and frame patterns a conforming client never sends, from a raw frame client:
// each is refused with a stream error or GOAWAY, with bounded work, and never reaches the app
// (which is where an HTTP/1 origin would sit behind a proxy); other clients are unaffected.
// Every test runs on both engines (H2Options.engine: node:http2, and our own frame layer).
import { ResponseHeader } from '@pingora-ts/http'
import {
  H2_ERROR,
  H2_FLAG,
  H2_FRAME,
  h2Frame,
  h2GetFields,
  h2RstStream,
  hpackIndexed,
  hpackIndexedLiteral,
  hpackLiteral,
  RawH2Client,
} from '@pingora-ts/test-utils'
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest'
import type { HttpServerApp, HttpServerOptions } from '../../src/apps/http-app.ts'
import type { H2Engine } from '../../src/protocols/http2/connection.ts'
import { ListeningService } from '../../src/services/listening.ts'
import { portOf, startServer } from '../server/helpers.ts'

/** The engine the running describe block tests (set in its beforeAll). */
let engine: H2Engine = 'node'

/** h2c server options on the engine under test. */
function h2cOnEngine(options?: HttpServerOptions): HttpServerOptions {
  return { h2c: true, ...options, h2: { ...options?.h2, engine } }
}

/** An h2c server whose app records every request it is handed. */
async function recordingServer(options: HttpServerOptions = {}) {
  const seen: string[] = []
  const fields: Array<[string, string]> = []
  const app: HttpServerApp = {
    async processNewHttp(session) {
      if (!(await session.readRequest())) return undefined
      seen.push(session.requestHeader.uri)
      fields.push(...session.requestHeader.headers)
      await session.drainRequestBody()
      await session.writeResponse(ResponseHeader.build(200), Buffer.from('ok'))
      return session.finish()
    },
    serverOptions: () => h2cOnEngine(options),
  }
  const service = new ListeningService('h2-attacks', app)
  service.addTcp('127.0.0.1:0')
  await startServer([service])
  return { port: portOf(service), seen, fields }
}

async function client(port: number, options?: Parameters<typeof RawH2Client.connect>[1]) {
  const c = await RawH2Client.connect(port, options)
  onTestFinished(() => c.close())
  return c
}

/** A refusal: RST_STREAM on the stream, or GOAWAY on the connection. */
async function refused(c: RawH2Client, streamId: number): Promise<string> {
  const frame = await c.waitFor(
    (f) =>
      (f.type === H2_FRAME.RST_STREAM && f.streamId === streamId) ||
      f.type === H2_FRAME.GOAWAY ||
      (f.type === H2_FRAME.HEADERS && f.streamId === streamId),
  )
  if (frame.type === H2_FRAME.HEADERS) return 'answered'
  return frame.type === H2_FRAME.RST_STREAM ? 'rst' : 'goaway'
}

describe.each<H2Engine>(['node', 'native'])(
  'HTTP/2 request validation (the h2 -> h1 downgrade) (%s engine)',
  (tested) => {
    beforeAll(() => {
      engine = tested
    })

    const cases: Array<[string, Array<[string | Buffer, string | Buffer]>]> = [
      ['a connection-specific field', [...h2GetFields('/c'), ['connection', 'keep-alive']]],
      ['transfer-encoding', [...h2GetFields('/t'), ['transfer-encoding', 'chunked']]],
      ['te other than trailers', [...h2GetFields('/te'), ['te', 'gzip']]],
      ['an upper-case field name', [...h2GetFields('/u'), ['X-Upper', '1']]],
      ['a missing :path', h2GetFields('/').filter(([name]) => name !== ':path')],
      ['an unknown pseudo-header', [...h2GetFields('/pseudo'), [':protocol-x', 'y']]],
      [
        'a pseudo-header after a regular field',
        [
          [':method', 'GET'],
          ['x-a', '1'],
          [':scheme', 'http'],
          [':path', '/late'],
          [':authority', 'a'],
        ],
      ],
      ['a duplicated :path', [...h2GetFields('/dup'), [':path', '/other']]],
      // An absolute-form target would reach an HTTP/1 origin, which routes by its host and not
      // by Host (RFC 9112 §3.2.2): `:path` is origin-form, or `*` for OPTIONS (RFC 9113 §8.3.1).
      ['an absolute-form :path', h2GetFields('http://other.example/abs')],
      ['a :path without a leading slash', h2GetFields('rel')],
      ['a :path of * on a GET', h2GetFields('*')],
      ['a :authority with a path', h2GetFields('/a', 'good.example/evil')],
      ['a :authority with a space', h2GetFields('/a', 'good.example evil')],
      [
        'a host with a path',
        [...h2GetFields('/h').filter(([n]) => n !== ':authority'), ['host', 'a/b']],
      ],
    ]
    for (const [what, fields] of cases) {
      it(`refuses ${what}; the app never sees it`, async () => {
        const server = await recordingServer()
        const c = await client(server.port)
        c.headers(1, fields)
        const outcome = await refused(c, 1)
        if (outcome === 'answered') expect(await c.status(1)).toBe(400)
        expect(server.seen).toEqual([])
        // The server still serves a clean request (on a new connection if this one was closed).
        const next = outcome === 'goaway' ? await client(server.port) : c
        const id = outcome === 'goaway' ? 1 : 3
        next.headers(id, h2GetFields('/clean'))
        expect(await next.status(id)).toBe(200)
        expect(server.seen).toEqual(['/clean'])
      })
    }

    // nghttp2 treats a regular field with bytes no HTTP version allows as absent (RFC 9113 §8.2.1
    // lets an implementation treat it as malformed; nghttp2 drops the field): the request goes on
    // without it, so it can never reach an HTTP/1 origin, where it could split the head.
    const dropped: Array<[string, [string | Buffer, string | Buffer]]> = [
      ['a colon inside a name', ['x:y', '1']],
      ['CR LF in a value', ['x-a', 'b\r\nx-smuggled: 1']],
      ['NUL in a value', ['x-a', Buffer.from([0x61, 0x00, 0x62])]],
    ]
    for (const [what, field] of dropped) {
      it(`never passes on a field with ${what}`, async () => {
        const server = await recordingServer()
        const c = await client(server.port)
        c.headers(1, [...h2GetFields('/dropped'), field, ['x-kept', 'yes']])
        const outcome = await refused(c, 1)
        if (outcome === 'answered') {
          expect(await c.status(1)).toBe(200)
          const names = server.fields.map(([name]) => name.toLowerCase())
          expect(names).toContain('x-kept')
          expect(names).not.toContain('x-smuggled')
          expect(names).not.toContain(String(field[0]))
          for (const [, value] of server.fields) expect(value).not.toMatch(/[\r\n\0]/)
        } else {
          expect(server.seen).toEqual([])
        }
      })
    }

    it('refuses DATA longer than content-length before the app reads past it', async () => {
      const server = await recordingServer()
      const c = await client(server.port)
      c.headers(
        1,
        [
          [':method', 'POST'],
          [':scheme', 'http'],
          [':path', '/cl'],
          [':authority', 'a'],
          ['content-length', '3'],
        ],
        false,
      )
      c.send(h2Frame(H2_FRAME.DATA, H2_FLAG.END_STREAM, 1, Buffer.from('0123456789')))
      expect(await refused(c, 1)).not.toBe('answered')
    })
  },
)

describe.each<H2Engine>(['node', 'native'])(
  'HTTP/2 floods and resource attacks (%s engine)',
  (tested) => {
    beforeAll(() => {
      engine = tested
    })

    it('rapid reset (CVE-2023-44487): streams opened and reset in a burst end in GOAWAY', async () => {
      const server = await recordingServer()
      const c = await client(server.port)
      const burst: Buffer[] = []
      for (let id = 1; id < 2 * 1000; id += 2) {
        burst.push(
          h2Frame(H2_FRAME.HEADERS, H2_FLAG.END_HEADERS, id, hpackLiteral(h2GetFields(`/r${id}`))),
        )
        burst.push(h2RstStream(id, H2_ERROR.CANCEL))
      }
      c.send(Buffer.concat(burst))
      const code = await c.goawayCode()
      expect([
        H2_ERROR.ENHANCE_YOUR_CALM,
        H2_ERROR.PROTOCOL_ERROR,
        H2_ERROR.INTERNAL_ERROR,
      ]).toContain(code)
      await c.closed
      // Work was bounded: far fewer requests reached the app than were opened.
      expect(server.seen.length).toBeLessThan(1000)
      const other = await client(server.port)
      other.headers(1, h2GetFields('/unaffected'))
      expect(await other.status(1)).toBe(200)
    })

    it('rapid reset with RST_STREAM(NO_ERROR) is bounded like any other code', async () => {
      // The reset code is the client's choice: counting only error codes lets a client open
      // and cancel streams without limit by resetting them with NO_ERROR.
      const server = await recordingServer()
      const c = await client(server.port)
      const burst: Buffer[] = []
      for (let id = 1; id < 2 * 1000; id += 2) {
        burst.push(
          h2Frame(H2_FRAME.HEADERS, H2_FLAG.END_HEADERS, id, hpackLiteral(h2GetFields(`/n${id}`))),
        )
        burst.push(h2RstStream(id, H2_ERROR.NO_ERROR))
      }
      c.send(Buffer.concat(burst))
      const code = await c.goawayCode()
      expect([H2_ERROR.ENHANCE_YOUR_CALM, H2_ERROR.INTERNAL_ERROR]).toContain(code)
      await c.closed
      expect(server.seen.length).toBeLessThan(1000)
    })

    it('CONTINUATION flood (CVE-2024-27316): an endless header block is cut off with GOAWAY', async () => {
      const server = await recordingServer()
      const c = await client(server.port)
      c.send(h2Frame(H2_FRAME.HEADERS, 0, 1, hpackLiteral(h2GetFields('/cont'))))
      const piece = hpackLiteral([['x-filler', 'a'.repeat(100)]])
      const flood: Buffer[] = []
      for (let i = 0; i < 2000; i++) flood.push(h2Frame(H2_FRAME.CONTINUATION, 0, 1, piece))
      c.send(Buffer.concat(flood))
      await c.goawayCode()
      await c.closed
      expect(server.seen).toEqual([])
    })

    it('HPACK bomb: one-byte references to a large dynamic-table entry exceed the header list limit', async () => {
      const server = await recordingServer({ h2: { maxHeaderListSize: 16 * 1024 } })
      // A zero initial window (the 2026 variant) so the server cannot even answer.
      const c = await client(server.port, { settings: [[0x4, 0]] })
      const block = [
        hpackLiteral(h2GetFields('/bomb')),
        hpackIndexedLiteral('x-bomb', 'b'.repeat(4000)),
      ]
      for (let i = 0; i < 4000; i++) block.push(hpackIndexed(62))
      c.send(
        h2Frame(
          H2_FRAME.HEADERS,
          H2_FLAG.END_HEADERS | H2_FLAG.END_STREAM,
          1,
          Buffer.concat(block),
        ),
      )
      const outcome = await refused(c, 1)
      if (outcome === 'answered') expect(await c.status(1)).toBe(431)
      expect(server.seen).toEqual([])
    })

    it('SETTINGS and PING floods from a client that never reads are cut off', async () => {
      const server = await recordingServer()
      const c = await client(server.port)
      c.socket.pause()
      const flood: Buffer[] = []
      for (let i = 0; i < 20_000; i++) {
        flood.push(h2Frame(H2_FRAME.PING, 0, 0, Buffer.alloc(8, i % 256)))
        flood.push(h2Frame(H2_FRAME.SETTINGS, 0, 0))
      }
      c.send(Buffer.concat(flood))
      c.socket.resume()
      await c.closed
      expect(c.frames.some((f) => f.type === H2_FRAME.GOAWAY)).toBe(true)
    })

    it('refuses streams beyond the advertised limit with REFUSED_STREAM; admitted streams complete', async () => {
      let release: () => void = () => {}
      const gate = new Promise<void>((resolve) => {
        release = resolve
      })
      const app: HttpServerApp = {
        async processNewHttp(session) {
          if (!(await session.readRequest())) return undefined
          await gate
          await session.writeResponse(ResponseHeader.build(200), Buffer.from('ok'))
          return session.finish()
        },
        serverOptions: () => h2cOnEngine({ h2: { maxConcurrentStreams: 5 } }),
      }
      const service = new ListeningService('h2-limit', app)
      service.addTcp('127.0.0.1:0')
      await startServer([service])
      const c = await client(service.listeningAddresses()[0]?.kind === 'tcp' ? portOf(service) : 0)
      for (let id = 1; id <= 13; id += 2) c.headers(id, h2GetFields(`/s${id}`))
      expect(await c.rstCode(11)).toBe(H2_ERROR.REFUSED_STREAM)
      expect(await c.rstCode(13)).toBe(H2_ERROR.REFUSED_STREAM)
      release()
      for (let id = 1; id <= 9; id += 2) expect(await c.status(id)).toBe(200)
    })

    it('a zero-window client cannot pin a response forever: the write timeout resets the stream', async () => {
      const app: HttpServerApp = {
        async processNewHttp(session) {
          if (!(await session.readRequest())) return undefined
          const response = ResponseHeader.build(200)
          await session.writeResponseHeader(response, false)
          await session.writeResponseBody(Buffer.alloc(256 * 1024, 0x61), true)
          return session.finish()
        },
        serverOptions: () => h2cOnEngine({ h2: { writeTimeoutMs: 200 } }),
      }
      const service = new ListeningService('h2-zero-window', app)
      service.addTcp('127.0.0.1:0')
      await startServer([service])
      const c = await client(portOf(service), { settings: [[0x4, 0]] })
      c.headers(1, h2GetFields('/stall'))
      expect(await c.status(1)).toBe(200)
      const code = await c.rstCode(1)
      expect([H2_ERROR.CANCEL, H2_ERROR.INTERNAL_ERROR]).toContain(code)
    })
  },
)
