// RFC 9113 conformance of the native HTTP/2 engine (H2Options.engine 'native', our own frame
// layer) for what server.test.ts and attacks.test.ts do not reach: the SETTINGS exchange,
// PING, padding, frame size errors, stream id and state rules, flow control both ways, and the
// specific GOAWAY/RST_STREAM codes the RFC names. A raw frame client speaks to a real server.
import { ResponseHeader } from '@pingora-ts/http'
import {
  H2_ERROR,
  H2_FLAG,
  H2_FRAME,
  type H2Frame,
  h2Frame,
  h2GetFields,
  h2PostFields,
  hpackIndexed,
  hpackLiteral,
  RawH2Client,
} from '@pingora-ts/test-utils'
import { describe, expect, it, onTestFinished } from 'vitest'
import type { HttpServerApp, HttpServerOptions } from '../../src/apps/http-app.ts'
import type { H2Options } from '../../src/protocols/http2/connection.ts'
import { ListeningService } from '../../src/services/listening.ts'
import { portOf, startServer } from '../server/helpers.ts'

/** Answers `/big/N` with N bytes, anything else with the request body's length. */
async function nativeServer(h2: H2Options = {}) {
  const seen: string[] = []
  const app: HttpServerApp = {
    async processNewHttp(session) {
      if (!(await session.readRequest())) return undefined
      seen.push(session.requestHeader.uri)
      const uri = session.requestHeader.uri
      if (uri === '/hold') {
        // Reads nothing: the client's window is never given back. Ends when the stream does.
        await session.readBodyOrIdle(true)
        return undefined
      }
      let length = 0
      for (;;) {
        const chunk = await session.readRequestBody()
        if (chunk === undefined) break
        length += chunk.length
      }
      const body = uri.startsWith('/big/')
        ? Buffer.alloc(Number(uri.slice(5)), 0x62)
        : Buffer.from(String(length))
      await session.writeResponse(ResponseHeader.build(200), body)
      return session.finish()
    },
    serverOptions: (): HttpServerOptions => ({ h2c: true, h2: { ...h2, engine: 'native' } }),
  }
  const service = new ListeningService('h2-native-conformance', app)
  service.addTcp('127.0.0.1:0')
  await startServer([service])
  return { port: portOf(service), seen }
}

async function client(port: number, options?: Parameters<typeof RawH2Client.connect>[1]) {
  const c = await RawH2Client.connect(port, options)
  onTestFinished(() => c.close())
  return c
}

/** The response body of `streamId`, once its END_STREAM arrived. */
async function body(c: RawH2Client, streamId: number): Promise<string> {
  await c.waitFor((f) => f.type === H2_FRAME.DATA && f.streamId === streamId && (f.flags & 1) !== 0)
  return Buffer.concat(
    c.frames
      .filter((f) => f.type === H2_FRAME.DATA && f.streamId === streamId)
      .map((f) => f.payload),
  ).toString()
}

function u32(value: number): Buffer {
  const bytes = Buffer.alloc(4)
  bytes.writeUInt32BE(value >>> 0)
  return bytes
}

function settingsOf(frame: H2Frame): Map<number, number> {
  const out = new Map<number, number>()
  for (let i = 0; i < frame.payload.length; i += 6) {
    out.set(frame.payload.readUInt16BE(i), frame.payload.readUInt32BE(i + 2))
  }
  return out
}

describe('native HTTP/2 engine: connection setup', () => {
  it('sends its SETTINGS and a connection WINDOW_UPDATE first, ACKs ours, answers PING', async () => {
    const server = await nativeServer({ maxConcurrentStreams: 7, initialWindowSize: 200_000 })
    const c = await client(server.port)
    const settings = await c.waitFor((f) => f.type === H2_FRAME.SETTINGS && f.flags === 0)
    expect(c.frames[0]).toBe(settings)
    const values = settingsOf(settings)
    expect(values.get(0x3)).toBe(7)
    expect(values.get(0x4)).toBe(200_000)
    expect(values.get(0x6)).toBe(64 * 1024)
    const update = await c.waitFor((f) => f.type === H2_FRAME.WINDOW_UPDATE && f.streamId === 0)
    expect(update.payload.readUInt32BE(0)).toBe(8 * 1024 * 1024 - 65_535)
    await c.waitFor((f) => f.type === H2_FRAME.SETTINGS && f.flags === H2_FLAG.ACK)
    c.send(h2Frame(H2_FRAME.PING, 0, 0, Buffer.from('pingpong')))
    const pong = await c.waitFor((f) => f.type === H2_FRAME.PING)
    expect(pong.flags).toBe(H2_FLAG.ACK)
    expect(pong.payload.toString()).toBe('pingpong')
  })

  it('answers a second preface (not a frame) with GOAWAY(FRAME_SIZE_ERROR)', async () => {
    const server = await nativeServer()
    const c = await client(server.port)
    // The server read the preface already; a second one is not a frame it knows how to
    // read: "PRI * HTTP/2.0" parses as a frame of 5 263 433 bytes (FRAME_SIZE_ERROR).
    c.send(Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'))
    expect(await c.goawayCode()).toBe(H2_ERROR.FRAME_SIZE_ERROR)
  })
})

describe('native HTTP/2 engine: frames (RFC 9113 §4 and §6)', () => {
  const goaways: Array<[string, Buffer, number]> = [
    ['a PING of 7 bytes', h2Frame(H2_FRAME.PING, 0, 0, Buffer.alloc(7)), H2_ERROR.FRAME_SIZE_ERROR],
    [
      'a frame over SETTINGS_MAX_FRAME_SIZE',
      h2Frame(H2_FRAME.DATA, 0, 1, Buffer.alloc(16_385)),
      H2_ERROR.FRAME_SIZE_ERROR,
    ],
    [
      'an RST_STREAM of 5 bytes',
      h2Frame(H2_FRAME.RST_STREAM, 0, 1, Buffer.alloc(5)),
      H2_ERROR.FRAME_SIZE_ERROR,
    ],
    [
      'a WINDOW_UPDATE of 3 bytes',
      h2Frame(H2_FRAME.WINDOW_UPDATE, 0, 0, Buffer.alloc(3)),
      H2_ERROR.FRAME_SIZE_ERROR,
    ],
    [
      'SETTINGS of 5 bytes',
      h2Frame(H2_FRAME.SETTINGS, 0, 0, Buffer.alloc(5)),
      H2_ERROR.FRAME_SIZE_ERROR,
    ],
    ['SETTINGS on a stream', h2Frame(H2_FRAME.SETTINGS, 0, 1), H2_ERROR.PROTOCOL_ERROR],
    ['a PUSH_PROMISE', h2Frame(H2_FRAME.PUSH_PROMISE, 4, 1, u32(2)), H2_ERROR.PROTOCOL_ERROR],
    ['DATA on stream 0', h2Frame(H2_FRAME.DATA, 0, 0, Buffer.from('x')), H2_ERROR.PROTOCOL_ERROR],
    [
      'DATA on an idle stream',
      h2Frame(H2_FRAME.DATA, 0, 5, Buffer.from('x')),
      H2_ERROR.PROTOCOL_ERROR,
    ],
    [
      'HEADERS on an even stream',
      h2Frame(H2_FRAME.HEADERS, 5, 2, hpackLiteral(h2GetFields('/even'))),
      H2_ERROR.PROTOCOL_ERROR,
    ],
    [
      'a CONTINUATION without HEADERS',
      h2Frame(H2_FRAME.CONTINUATION, 4, 1, hpackLiteral(h2GetFields('/c'))),
      H2_ERROR.PROTOCOL_ERROR,
    ],
    [
      'a header block interrupted by another frame',
      Buffer.concat([
        h2Frame(H2_FRAME.HEADERS, 1, 1, hpackLiteral(h2GetFields('/i'))),
        h2Frame(H2_FRAME.PING, 0, 0, Buffer.alloc(8)),
      ]),
      H2_ERROR.PROTOCOL_ERROR,
    ],
    [
      'a header block that does not decode',
      h2Frame(H2_FRAME.HEADERS, 5, 1, hpackIndexed(120)),
      H2_ERROR.COMPRESSION_ERROR,
    ],
    [
      'ENABLE_PUSH of 2',
      h2Frame(H2_FRAME.SETTINGS, 0, 0, Buffer.from([0, 2, 0, 0, 0, 2])),
      H2_ERROR.PROTOCOL_ERROR,
    ],
    [
      'INITIAL_WINDOW_SIZE over 2^31-1',
      h2Frame(H2_FRAME.SETTINGS, 0, 0, Buffer.from([0, 4, 0x80, 0, 0, 0])),
      H2_ERROR.FLOW_CONTROL_ERROR,
    ],
    [
      'MAX_FRAME_SIZE under 16384',
      h2Frame(H2_FRAME.SETTINGS, 0, 0, Buffer.from([0, 5, 0, 0, 0x10, 0])),
      H2_ERROR.PROTOCOL_ERROR,
    ],
    [
      'a WINDOW_UPDATE of 0 on the connection',
      h2Frame(H2_FRAME.WINDOW_UPDATE, 0, 0, u32(0)),
      H2_ERROR.PROTOCOL_ERROR,
    ],
    [
      'a connection window over 2^31-1',
      h2Frame(H2_FRAME.WINDOW_UPDATE, 0, 0, u32(0x7fffffff)),
      H2_ERROR.FLOW_CONTROL_ERROR,
    ],
  ]
  for (const [what, frames, code] of goaways) {
    it(`answers ${what} with GOAWAY(${code})`, async () => {
      const server = await nativeServer()
      const c = await client(server.port)
      c.send(frames)
      expect(await c.goawayCode()).toBe(code)
      await c.closed
      expect(server.seen).toEqual([])
    })
  }

  it('refuses a stream id lower than one already used (GOAWAY)', async () => {
    const server = await nativeServer()
    const c = await client(server.port)
    c.headers(5, h2GetFields('/five'))
    expect(await c.status(5)).toBe(200)
    c.headers(3, h2GetFields('/three'))
    expect([H2_ERROR.PROTOCOL_ERROR, H2_ERROR.STREAM_CLOSED]).toContain(await c.goawayCode())
    expect(server.seen).toEqual(['/five'])
  })

  it('ignores unknown frame types and PRIORITY, and goes on', async () => {
    const server = await nativeServer()
    const c = await client(server.port)
    c.send(h2Frame(0xfa, 0xff, 0, Buffer.from('extension')))
    c.send(h2Frame(H2_FRAME.PRIORITY, 0, 9, Buffer.from([0, 0, 0, 0, 16])))
    c.headers(1, h2GetFields('/after'))
    expect(await c.status(1)).toBe(200)
  })

  it('removes padding from HEADERS and DATA', async () => {
    const server = await nativeServer()
    const c = await client(server.port)
    const block = hpackLiteral(h2PostFields('/padded', 5))
    c.send(
      h2Frame(
        H2_FRAME.HEADERS,
        H2_FLAG.END_HEADERS | H2_FLAG.PADDED,
        1,
        Buffer.concat([Buffer.from([10]), block, Buffer.alloc(10)]),
      ),
    )
    c.send(
      h2Frame(
        H2_FRAME.DATA,
        H2_FLAG.END_STREAM | H2_FLAG.PADDED,
        1,
        Buffer.concat([Buffer.from([200]), Buffer.from('hello'), Buffer.alloc(200)]),
      ),
    )
    expect(await c.status(1)).toBe(200)
    expect(await body(c, 1)).toBe('5')
  })

  it('refuses padding longer than the frame (GOAWAY PROTOCOL_ERROR)', async () => {
    const server = await nativeServer()
    const c = await client(server.port)
    c.headers(1, h2PostFields('/pad'), false)
    c.send(h2Frame(H2_FRAME.DATA, H2_FLAG.PADDED, 1, Buffer.from([9, 0x61, 0x62])))
    expect(await c.goawayCode()).toBe(H2_ERROR.PROTOCOL_ERROR)
  })
})

describe('native HTTP/2 engine: stream states (RFC 9113 §5.1)', () => {
  it('resets DATA after the client ended the stream with STREAM_CLOSED', async () => {
    let release: () => void = () => {}
    const gate = new Promise<void>((resolve) => {
      release = resolve
    })
    const app: HttpServerApp = {
      async processNewHttp(session) {
        if (!(await session.readRequest())) return undefined
        await gate
        await session.writeResponse(ResponseHeader.build(200), Buffer.from('late'))
        return session.finish()
      },
      serverOptions: () => ({ h2c: true, h2: { engine: 'native' } }),
    }
    const service = new ListeningService('h2-native-half-closed', app)
    service.addTcp('127.0.0.1:0')
    await startServer([service])
    const c = await client(portOf(service))
    c.headers(1, h2GetFields('/half-closed'))
    c.send(h2Frame(H2_FRAME.DATA, 0, 1, Buffer.from('more')))
    expect(await c.rstCode(1)).toBe(H2_ERROR.STREAM_CLOSED)
    release()
  })

  it('refuses trailers without END_STREAM, and a content-length the DATA does not match', async () => {
    const server = await nativeServer()
    const c = await client(server.port)
    c.headers(1, h2PostFields('/trailers'), false)
    c.send(h2Frame(H2_FRAME.HEADERS, H2_FLAG.END_HEADERS, 1, hpackLiteral([['x-t', '1']])))
    expect(await c.rstCode(1)).toBe(H2_ERROR.PROTOCOL_ERROR)
    c.headers(3, h2PostFields('/short', 10), false)
    c.send(h2Frame(H2_FRAME.DATA, H2_FLAG.END_STREAM, 3, Buffer.from('abc')))
    expect(await c.rstCode(3)).toBe(H2_ERROR.PROTOCOL_ERROR)
    // A content-length with no DATA at all (END_STREAM on HEADERS).
    c.headers(5, h2PostFields('/none', 4), true)
    expect(await c.rstCode(5)).toBe(H2_ERROR.PROTOCOL_ERROR)
    // Request trailers that end the stream are fine.
    c.headers(7, h2PostFields('/with-trailers'), false)
    c.send(h2Frame(H2_FRAME.DATA, 0, 7, Buffer.from('abcd')))
    c.send(
      h2Frame(
        H2_FRAME.HEADERS,
        H2_FLAG.END_HEADERS | H2_FLAG.END_STREAM,
        7,
        hpackLiteral([['x-t', '1']]),
      ),
    )
    expect(await c.status(7)).toBe(200)
    expect(await body(c, 7)).toBe('4')
    // The refused streams never got an answer; the one refused at HEADERS never reached the app.
    expect(c.frames.some((f) => f.type === H2_FRAME.HEADERS && f.streamId !== 7)).toBe(false)
    expect(server.seen).not.toContain('/none')
  })
})

describe('native HTTP/2 engine: flow control (RFC 9113 §5.2 and §6.9)', () => {
  it('sends no more than the client window, and the rest after WINDOW_UPDATE', async () => {
    const server = await nativeServer()
    const c = await client(server.port, { settings: [[0x4, 10]] })
    c.headers(1, h2GetFields('/big/100'))
    expect(await c.status(1)).toBe(200)
    await c.waitFor((f) => f.type === H2_FRAME.DATA && f.streamId === 1)
    const sent = () =>
      c.frames
        .filter((f) => f.type === H2_FRAME.DATA && f.streamId === 1)
        .reduce((n, f) => n + f.payload.length, 0)
    expect(sent()).toBe(10)
    c.send(h2Frame(H2_FRAME.WINDOW_UPDATE, 0, 1, u32(90)))
    expect(await body(c, 1)).toBe('b'.repeat(100))
  })

  it('applies a SETTINGS_INITIAL_WINDOW_SIZE change to open streams', async () => {
    const server = await nativeServer()
    const c = await client(server.port, { settings: [[0x4, 0]] })
    c.headers(1, h2GetFields('/big/50'))
    expect(await c.status(1)).toBe(200)
    c.send(h2Frame(H2_FRAME.SETTINGS, 0, 0, Buffer.from([0, 4, 0, 0, 0, 50])))
    expect(await body(c, 1)).toBe('b'.repeat(50))
  })

  it('splits DATA at the client SETTINGS_MAX_FRAME_SIZE', async () => {
    const server = await nativeServer()
    const c = await client(server.port)
    c.headers(1, h2GetFields('/big/40000'))
    c.send(h2Frame(H2_FRAME.WINDOW_UPDATE, 0, 1, u32(100_000)))
    c.send(h2Frame(H2_FRAME.WINDOW_UPDATE, 0, 0, u32(100_000)))
    expect((await body(c, 1)).length).toBe(40_000)
    const sizes = c.frames.filter((f) => f.type === H2_FRAME.DATA).map((f) => f.payload.length)
    expect(Math.max(...sizes)).toBeLessThanOrEqual(16_384)
  })

  it('resets a stream whose DATA overflows its window (FLOW_CONTROL_ERROR)', async () => {
    const server = await nativeServer({ initialWindowSize: 65_535 })
    const c = await client(server.port)
    c.headers(1, h2PostFields('/hold'), false)
    const chunk = Buffer.alloc(16_384)
    for (let i = 0; i < 4; i++) c.send(h2Frame(H2_FRAME.DATA, 0, 1, chunk))
    // 65 536 bytes: one over the window, which the app (reading nothing) never reopened.
    c.send(h2Frame(H2_FRAME.DATA, 0, 1, Buffer.alloc(1)))
    expect(await c.rstCode(1)).toBe(H2_ERROR.FLOW_CONTROL_ERROR)
    expect(c.frames.some((f) => f.type === H2_FRAME.WINDOW_UPDATE && f.streamId === 1)).toBe(false)
    // The connection goes on.
    c.headers(3, h2GetFields('/next'))
    expect(await c.status(3)).toBe(200)
  })

  it('gives the window back as the app reads: a 3 MiB upload through a 64 KiB stream window', async () => {
    const server = await nativeServer({ initialWindowSize: 65_535, connectionWindowSize: 65_535 })
    const c = await client(server.port)
    c.headers(1, h2PostFields('/upload', 3 * 1024 * 1024), false)
    let stream = 65_535
    let connection = 65_535
    let sent = 0
    const total = 3 * 1024 * 1024
    const credit = (f: H2Frame) => {
      if (f.type !== H2_FRAME.WINDOW_UPDATE) return
      if (f.streamId === 0) connection += f.payload.readUInt32BE(0)
      else if (f.streamId === 1) stream += f.payload.readUInt32BE(0)
    }
    let seenFrames = 0
    while (sent < total) {
      for (; seenFrames < c.frames.length; seenFrames++) credit(c.frames[seenFrames] as H2Frame)
      const room = Math.min(stream, connection, 16_384, total - sent)
      if (room === 0) {
        const before = c.frames.length
        await c.waitFor((f) => c.frames.indexOf(f) >= before && f.type === H2_FRAME.WINDOW_UPDATE)
        continue
      }
      sent += room
      stream -= room
      connection -= room
      c.send(h2Frame(H2_FRAME.DATA, sent === total ? H2_FLAG.END_STREAM : 0, 1, Buffer.alloc(room)))
    }
    expect(await c.status(1)).toBe(200)
    expect(await body(c, 1)).toBe(String(total))
  })
})

describe('native HTTP/2 engine: maxSessionMemoryMb', () => {
  it('refuses new streams while unread request bodies hold more than the bound, then serves again', async () => {
    const server = await nativeServer({
      maxSessionMemoryMb: 1,
      initialWindowSize: 2 * 1024 * 1024,
      connectionWindowSize: 4 * 1024 * 1024,
    })
    const c = await client(server.port)
    // 1.5 MiB the app never reads (/hold), in frames of 16 KiB.
    c.headers(1, h2PostFields('/hold'), false)
    for (let i = 0; i < 96; i++) c.send(h2Frame(H2_FRAME.DATA, 0, 1, Buffer.alloc(16_384, 0x61)))
    // The PING answer comes after every DATA frame before it was read.
    c.send(h2Frame(H2_FRAME.PING, 0, 0, Buffer.from('buffered')))
    await c.waitFor((f) => f.type === H2_FRAME.PING && f.flags === H2_FLAG.ACK)
    c.headers(3, h2GetFields('/refused'))
    expect(await c.rstCode(3)).toBe(H2_ERROR.REFUSED_STREAM)
    expect(server.seen).not.toContain('/refused')
    // Cancelling the held stream frees its bytes: the next stream is served.
    c.send(h2Frame(H2_FRAME.RST_STREAM, 0, 1, u32(H2_ERROR.CANCEL)))
    c.headers(5, h2GetFields('/after'))
    expect(await c.status(5)).toBe(200)
    expect(c.frames.some((f) => f.type === H2_FRAME.GOAWAY)).toBe(false)
  })
})

describe('native HTTP/2 engine: lifetime', () => {
  it('closes an idle connection with GOAWAY(NO_ERROR)', async () => {
    const server = await nativeServer({ idleTimeoutMs: 100 })
    const c = await client(server.port)
    c.headers(1, h2GetFields('/one'))
    expect(await c.status(1)).toBe(200)
    expect(await c.goawayCode()).toBe(H2_ERROR.NO_ERROR)
    await c.closed
  })

  it('closes a connection that never acknowledges its SETTINGS with GOAWAY(SETTINGS_TIMEOUT)', async () => {
    const server = await nativeServer({ settingsTimeoutMs: 100 })
    const acking = await client(server.port)
    const silent = await client(server.port, { ackSettings: false })
    // The silent client is served until the timeout ends its connection.
    silent.headers(1, h2GetFields('/before-timeout'))
    expect(await silent.status(1)).toBe(200)
    expect(await silent.goawayCode()).toBe(H2_ERROR.SETTINGS_TIMEOUT)
    await silent.closed
    // The client that acknowledged is kept past the same timeout.
    acking.headers(1, h2GetFields('/acked'))
    expect(await acking.status(1)).toBe(200)
    acking.send(h2Frame(H2_FRAME.PING, 0, 0, Buffer.from('stillup!')))
    expect((await acking.waitFor((f) => f.type === H2_FRAME.PING)).flags).toBe(H2_FLAG.ACK)
    expect(acking.frames.some((f) => f.type === H2_FRAME.GOAWAY)).toBe(false)
  })

  it('sends keepalive PINGs and closes a connection that does not answer them', async () => {
    const server = await nativeServer({ pingIntervalMs: 50, pingTimeoutMs: 100 })
    const answering = await client(server.port)
    const answered = new Set<H2Frame>()
    // Answers every PING as it arrives (the client's own listener has parsed the frames).
    answering.socket.on('data', () => {
      for (const frame of answering.frames) {
        if (frame.type !== H2_FRAME.PING || frame.flags !== 0 || answered.has(frame)) continue
        answered.add(frame)
        answering.send(h2Frame(H2_FRAME.PING, H2_FLAG.ACK, 0, frame.payload))
      }
    })
    const silent = await client(server.port)
    await silent.waitFor((f) => f.type === H2_FRAME.PING && f.flags === 0)
    await silent.closed
    // The answering client is still served, several PING rounds later.
    await answering.waitFor((f) => f.type === H2_FRAME.PING && answered.size >= 3)
    answering.headers(1, h2GetFields('/alive'))
    expect(await answering.status(1)).toBe(200)
  })

  it('shuts down with two GOAWAY frames: the largest id, then the last stream processed', async () => {
    let release: () => void = () => {}
    const gate = new Promise<void>((resolve) => {
      release = resolve
    })
    const app: HttpServerApp = {
      async processNewHttp(session) {
        if (!(await session.readRequest())) return undefined
        await gate
        await session.writeResponse(ResponseHeader.build(200), Buffer.from('whole'))
        return session.finish()
      },
      serverOptions: () => ({ h2c: true, h2: { engine: 'native' } }),
    }
    const service = new ListeningService('h2-native-drain', app)
    service.addTcp('127.0.0.1:0')
    const server = await startServer([service])
    const c = await client(portOf(service))
    c.headers(3, h2GetFields('/in-flight'))
    await c.waitFor((f) => f.type === H2_FRAME.SETTINGS && f.flags === H2_FLAG.ACK)
    const stopped = server.shutdown({ graceful: true })
    const first = await c.waitFor((f) => f.type === H2_FRAME.GOAWAY)
    expect(first.payload.readUInt32BE(0)).toBe(2 ** 31 - 1)
    const ping = await c.waitFor((f) => f.type === H2_FRAME.PING && f.flags === 0)
    c.send(h2Frame(H2_FRAME.PING, H2_FLAG.ACK, 0, ping.payload))
    const second = await c.waitFor((f) => f.type === H2_FRAME.GOAWAY && f !== first)
    expect(second.payload.readUInt32BE(0)).toBe(3)
    expect(second.payload.readUInt32BE(4)).toBe(H2_ERROR.NO_ERROR)
    // A stream opened after the final GOAWAY is ignored; the one in flight completes.
    c.headers(5, h2GetFields('/too-late'))
    release()
    expect(await c.status(3)).toBe(200)
    expect(await body(c, 3)).toBe('whole')
    await c.closed
    expect(c.frames.some((f) => f.streamId === 5)).toBe(false)
    await stopped
  })
})
