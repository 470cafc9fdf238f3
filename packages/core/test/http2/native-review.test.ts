// Regressions found by the independent review of the native HTTP/2 engine (ADR 0026, "Review"):
// each case is a frame sequence from a raw client that a conforming server must survive
// without harming the connection's other streams. Every test runs on both engines.
import { ResponseHeader } from '@pingora-ts/http'
import {
  H2_ERROR,
  H2_FLAG,
  H2_FRAME,
  h2Frame,
  h2GetFields,
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

function post(path: string, extra: Array<[string, string]> = []): Array<[string, string]> {
  return [
    [':method', 'POST'],
    [':scheme', 'http'],
    [':path', path],
    [':authority', 'localhost'],
    ...extra,
  ]
}

describe.each<H2Engine>(['node', 'native'])('HTTP/2 review regressions (%s engine)', (tested) => {
  beforeAll(() => {
    engine = tested
  })

  it('ignores trailers and DATA the client sent on a stream the server had reset (RFC 9113 §5.1)', async () => {
    const c = await client(await server())
    c.headers(1, post('/early'), false)
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
})

// Native only: the node engine on Node 24 answers the first mismatch with GOAWAY(INTERNAL_ERROR)
// (nghttp2 through Node's session, not a window to account), so only ours keeps the connection.
describe('HTTP/2 review regressions (native engine only)', () => {
  beforeAll(() => {
    engine = 'native'
  })

  it('gives the connection window back for DATA refused by a content-length mismatch', async () => {
    // Windows at the protocol's 65 535: five refused 16 000-byte frames would use it up.
    const port = await server({ connectionWindowSize: 65_535, initialWindowSize: 65_535 })
    const c = await client(port)
    for (let id = 1; id <= 9; id += 2) {
      c.headers(id, post('/cl', [['content-length', '1']]), false)
      c.send(h2Frame(H2_FRAME.DATA, 0, id, Buffer.alloc(16_000, 0x61)))
      expect(await c.rstCode(id)).toBe(H2_ERROR.PROTOCOL_ERROR)
    }
    c.headers(11, post('/ok'), false)
    c.send(h2Frame(H2_FRAME.DATA, H2_FLAG.END_STREAM, 11, Buffer.alloc(16_000, 0x62)))
    expect(await c.status(11)).toBe(200)
    expect(c.frames.some((f) => f.type === H2_FRAME.GOAWAY)).toBe(false)
  })
})
