// Regressions found by the independent review of the native HTTP/2 engine (ADR 0026, "Review"):
// each case is a frame sequence from a raw client that a conforming server must survive
// without harming the connection's other streams. Every test runs on both engines.
import http2 from 'node:http2'
import { ResponseHeader } from '@pingora-ts/http'
import {
  H2_ERROR,
  H2_FLAG,
  H2_FRAME,
  h2Frame,
  h2GetFields,
  h2PostFields,
  hpackLiteral,
  RawH2Client,
} from '@pingora-ts/test-utils'
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest'
import type { HttpServerApp } from '../../src/apps/http-app.ts'
import type { H2Engine, H2Options } from '../../src/protocols/http2/connection.ts'
import { ListeningService } from '../../src/services/listening.ts'
import { portOf, startServer } from '../server/helpers.ts'

let engine: H2Engine = 'node'

/** Answers 200 with the request body's length, or at once without reading it on `/early`. */
async function server(h2: Omit<H2Options, 'engine'> = {}) {
  const app: HttpServerApp = {
    async processNewHttp(session) {
      if (!(await session.readRequest())) return undefined
      const big = /^\/big\/(\d+)$/.exec(session.requestHeader.uri)
      if (big !== null) {
        // One write of the whole body: it waits for the client's windows as a whole.
        await session.writeResponse(ResponseHeader.build(200), Buffer.alloc(Number(big[1]), 0x62))
        return session.finish()
      }
      if (session.requestHeader.uri === '/early') {
        await session.writeResponse(ResponseHeader.build(200), Buffer.from('early'))
        return session.finish()
      }
      let length = 0
      for (;;) {
        const chunk = await session.readRequestBody()
        if (chunk === undefined) break
        length += chunk.length
      }
      await session.writeResponse(ResponseHeader.build(200), Buffer.from(String(length)))
      return session.finish()
    },
    serverOptions: () => ({ h2c: true, h2: { ...h2, engine } }),
  }
  const service = new ListeningService('h2-review', app)
  service.addTcp('127.0.0.1:0')
  await startServer([service])
  return portOf(service)
}

async function client(port: number) {
  const c = await RawH2Client.connect(port)
  onTestFinished(() => c.close())
  return c
}

describe.each<H2Engine>(['node', 'native'])('HTTP/2 review regressions (%s engine)', (tested) => {
  beforeAll(() => {
    engine = tested
  })

  it('ignores trailers and DATA the client sent on a stream the server had reset (RFC 9113 §5.1)', async () => {
    const c = await client(await server())
    c.headers(1, h2PostFields('/early'), false)
    c.send(h2Frame(H2_FRAME.DATA, 0, 1, Buffer.from('body the app never reads')))
    // The app answers without reading: the server resets the rest of the request.
    expect(await c.rstCode(1)).toBe(H2_ERROR.NO_ERROR)
    // Frames the client had in flight before it saw the reset.
    c.send(h2Frame(H2_FRAME.DATA, 0, 1, Buffer.from('more')))
    c.send(
      h2Frame(
        H2_FRAME.HEADERS,
        H2_FLAG.END_HEADERS | H2_FLAG.END_STREAM,
        1,
        hpackLiteral([['x-trailer', 'late']]),
      ),
    )
    c.headers(3, h2GetFields('/after'))
    expect(await c.status(3)).toBe(200)
    expect(c.frames.some((f) => f.type === H2_FRAME.GOAWAY)).toBe(false)
  })

  it('keeps the connection when many small DATA frames were in flight on a stream it reset', async () => {
    // A client streaming small messages (gRPC writes one DATA frame per message) has sent on
    // before it sees the reset: those frames are discarded, not counted as a flood.
    const c = await client(await server())
    c.headers(1, h2PostFields('/early'), false)
    expect(await c.rstCode(1)).toBe(H2_ERROR.NO_ERROR)
    const inFlight: Buffer[] = []
    for (let i = 0; i < 1500; i++) inFlight.push(h2Frame(H2_FRAME.DATA, 0, 1, Buffer.from('m')))
    c.send(Buffer.concat(inFlight))
    c.headers(3, h2GetFields('/after'))
    expect(await c.status(3)).toBe(200)
    expect(c.frames.some((f) => f.type === H2_FRAME.GOAWAY)).toBe(false)
  })

  it('accepts the protocol 65 535-byte connection window when configured smaller', async () => {
    // The connection window starts at 65 535 whatever SETTINGS say (RFC 9113 §6.9.2): a smaller
    // connectionWindowSize cannot take back what the client may already send.
    const c = await client(await server({ connectionWindowSize: 16_384 }))
    c.headers(1, h2PostFields('/small-window'), false)
    for (let i = 0; i < 3; i++) c.send(h2Frame(H2_FRAME.DATA, 0, 1, Buffer.alloc(16_000, 0x63)))
    c.send(h2Frame(H2_FRAME.DATA, H2_FLAG.END_STREAM, 1, Buffer.alloc(16_000, 0x63)))
    expect(await c.status(1)).toBe(200)
    expect(c.frames.some((f) => f.type === H2_FRAME.GOAWAY)).toBe(false)
  })

  it('completes concurrent responses that wait for the connection window together', async () => {
    // node:http2's client keeps the protocol's 64 KiB connection window: four 200 KiB responses
    // all wait on it, and each WINDOW_UPDATE resumes them in turn. A stream finishing during
    // that round must not make another one lose its place in the waiting list.
    const port = await server()
    const session = http2.connect(`http://127.0.0.1:${port}`)
    onTestFinished(() => session.destroy())
    const sizes = await Promise.all(
      [1, 2, 3, 4].map(
        () =>
          new Promise<number>((resolve, reject) => {
            const request = session.request({ ':path': '/big/204800' })
            let length = 0
            request.on('data', (chunk: Buffer) => {
              length += chunk.length
            })
            request.on('end', () => resolve(length))
            request.on('error', reject)
            request.end()
          }),
      ),
    )
    expect(sizes).toEqual([204_800, 204_800, 204_800, 204_800])
  }, 15_000)

  it('serves OPTIONS with a :path of * (the one target not in origin form)', async () => {
    const c = await client(await server())
    c.headers(1, [
      [':method', 'OPTIONS'],
      [':scheme', 'http'],
      [':path', '*'],
      [':authority', 'localhost'],
    ])
    expect(await c.status(1)).toBe(200)
  })
})

// Native only: the node engine on Node 24 answers the first mismatch with GOAWAY(INTERNAL_ERROR)
// (nghttp2 through Node's session, not a window to account), so only ours keeps the connection.
describe('HTTP/2 review regressions (native engine only)', () => {
  beforeAll(() => {
    engine = 'native'
  })

  it('never raises the last stream id of its GOAWAY after the final one of a shutdown', async () => {
    // RFC 9113 §6.8: the client retries what a GOAWAY leaves out; a later GOAWAY naming a higher
    // id would say a stream it ignored was processed.
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
    const service = new ListeningService('h2-review-goaway', app)
    service.addTcp('127.0.0.1:0')
    const running = await startServer([service])
    const c = await client(portOf(service))
    c.headers(1, h2GetFields('/in-flight'))
    await c.waitFor((f) => f.type === H2_FRAME.SETTINGS && f.flags === H2_FLAG.ACK)
    const stopped = running.shutdown({ graceful: true })
    const ping = await c.waitFor((f) => f.type === H2_FRAME.PING && f.flags === 0)
    c.send(h2Frame(H2_FRAME.PING, H2_FLAG.ACK, 0, ping.payload))
    await c.waitFor((f) => f.type === H2_FRAME.GOAWAY && f.payload.readUInt32BE(0) === 1)
    // A stream the final GOAWAY left out, then a connection error (PING on a stream).
    c.headers(3, h2GetFields('/too-late'))
    c.send(h2Frame(H2_FRAME.PING, 0, 3, Buffer.alloc(8)))
    const last = await c.waitFor(
      (f) => f.type === H2_FRAME.GOAWAY && f.payload.readUInt32BE(4) === H2_ERROR.PROTOCOL_ERROR,
    )
    expect(last.payload.readUInt32BE(0)).toBe(1)
    release()
    await stopped
  })

  it('gives the connection window back for DATA refused by a content-length mismatch', async () => {
    // Windows at the protocol's 65 535: five refused 16 000-byte frames would use it up.
    const port = await server({ connectionWindowSize: 65_535, initialWindowSize: 65_535 })
    const c = await client(port)
    for (let id = 1; id <= 9; id += 2) {
      c.headers(id, h2PostFields('/cl', 1), false)
      c.send(h2Frame(H2_FRAME.DATA, 0, id, Buffer.alloc(16_000, 0x61)))
      expect(await c.rstCode(id)).toBe(H2_ERROR.PROTOCOL_ERROR)
    }
    c.headers(11, h2PostFields('/ok'), false)
    c.send(h2Frame(H2_FRAME.DATA, H2_FLAG.END_STREAM, 11, Buffer.alloc(16_000, 0x62)))
    expect(await c.status(11)).toBe(200)
    expect(c.frames.some((f) => f.type === H2_FRAME.GOAWAY)).toBe(false)
  })
})
