import { PingoraError } from '@pingora-ts/error'
import { ResponseHeader } from '@pingora-ts/http'
import { describe, expect, it } from 'vitest'
import type { Http1ServerSession } from '../../src/protocols/http1/server.ts'
import {
  echoHandler,
  echoOf,
  errorAnswer,
  exchange,
  normalizeDate,
  rawConnect,
  splitResponses,
  startServer,
} from './helpers.ts'

const POST_CHUNKED =
  'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n'

async function readAll(session: Http1ServerSession): Promise<string> {
  let body = ''
  for (
    let c = await session.readRequestBody();
    c !== undefined;
    c = await session.readRequestBody()
  ) {
    body += c.toString('latin1')
  }
  return body
}

/** Runs a handler that may throw; returns what the client got and what the handler threw. */
async function run(handler: (s: Http1ServerSession) => Promise<void>, request: string) {
  const thrown: unknown[] = []
  const { port, events } = await startServer(async (session) => {
    try {
      await handler(session)
    } catch (error) {
      thrown.push(error)
      throw error
    }
  })
  const out = await exchange(port, request)
  await events.loopEnded()
  return { out, thrown, events }
}

describe('Http1ServerSession request bodies', () => {
  it('reads a Content-Length body sent in several writes', async () => {
    const { port } = await startServer(echoHandler)
    const client = await rawConnect(port)
    client.send('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\nConnection: close\r\n\r\n01')
    client.send('234')
    client.send('56789')
    expect(echoOf(await client.closed).body).toBe('0123456789')
  })

  it('reads a chunked body with extensions and discards trailers', async () => {
    const { out } = await run(async (s) => {
      const body = await readAll(s)
      expect(s.isBodyDone()).toBe(true)
      expect(s.bodyBytesRead).toBe(11)
      await s.respondError(body === 'hello world' ? 204 : 500)
    }, `${POST_CHUNKED}5;name=value;x\r\nhello\r\n6 ; y="q"\r\n world\r\n0\r\nX-Trailer: 1\r\nY: 2\r\n\r\n`)
    expect(out).toMatch(/^HTTP\/1.1 204 No Content\r\n/)
  })

  it('reads a chunked body sent one byte at a time', async () => {
    const { port } = await startServer(echoHandler)
    const client = await rawConnect(port)
    client.socket.setNoDelay(true)
    for (const ch of `${POST_CHUNKED}3\r\nabc\r\nA\r\n0123456789\r\n0\r\nT: v\r\n\r\n`)
      client.send(ch)
    expect(echoOf(await client.closed).body).toBe('abc0123456789')
  })

  it('accepts upper-case hex chunk sizes and leading zeros', async () => {
    const { port } = await startServer(echoHandler)
    const e = echoOf(await exchange(port, `${POST_CHUNKED}00A\r\n0123456789\r\n000\r\n\r\n`))
    expect(e.body).toBe('0123456789')
  })

  const badChunks: Array<[string, string]> = [
    ['a non-hex chunk size', 'xyz\r\nabc\r\n0\r\n\r\n'],
    ['a missing chunk size', '\r\nabc\r\n0\r\n\r\n'],
    ['a chunk size that overflows', 'fffffffffffffffff\r\nabc\r\n0\r\n\r\n'],
    ['a bare LF after the chunk size', '3\nabc\r\n0\r\n\r\n'],
    ['chunk data longer than its size', '3\r\nabcd\r\n0\r\n\r\n'],
    ['a control character in a chunk extension', '3;a\x01b\r\nabc\r\n0\r\n\r\n'],
    ['a chunk-size line longer than 8 KiB', `3;${'e'.repeat(9000)}\r\nabc\r\n0\r\n\r\n`],
    ['a malformed trailer field', '3\r\nabc\r\n0\r\n bad\r\n\r\n'],
    ['a bare CR in the trailers', '3\r\nabc\r\n0\r\nX: 1\rY\r\n\r\n'],
    ['trailers larger than 64 KiB', `3\r\nabc\r\n0\r\nX: ${'t'.repeat(70_000)}\r\n\r\n`],
  ]
  for (const [what, body] of badChunks) {
    it(`fails the body read with H1Error on ${what} arriving after the head, and closes`, async () => {
      const thrown: unknown[] = []
      let started: () => void = () => {}
      const handlerStarted = new Promise<void>((resolve) => {
        started = resolve
      })
      const { port, events } = await startServer(async (session) => {
        started()
        try {
          await readAll(session)
        } catch (error) {
          thrown.push(error)
          throw error
        }
      })
      const client = await rawConnect(port)
      client.send(POST_CHUNKED)
      await handlerStarted
      client.send(body)
      expect(await client.closed).toBe('')
      await events.loopEnded()
      const error = thrown[0] as PingoraError
      expect(PingoraError.is(error)).toBe(true)
      expect(error.type).toBe('H1Error')
      expect(error.source).toBe('downstream')
    })
  }

  // Issue 17: framing already known to be broken when the head is read is refused up front.
  for (const [what, body] of badChunks.slice(0, 6)) {
    it(`answers 400 at readRequest on ${what} that came with the head`, async () => {
      let handled = 0
      const { port, events } = await startServer(async () => {
        handled++
      })
      const out = await exchange(port, POST_CHUNKED + body)
      expect(normalizeDate(out)).toBe(errorAnswer(400, 'Bad Request'))
      await events.loopEnded()
      expect(handled).toBe(0)
      expect(events.errors[0]).toMatchObject({
        type: 'InvalidHTTPHeader',
        status: 400,
        source: 'downstream',
      })
    })
  }

  it('reports isBodyEmpty for a GET and not for a POST with a body', async () => {
    const seen: boolean[] = []
    const { port } = await startServer(async (s) => {
      seen.push(s.isBodyEmpty())
      await echoHandler(s)
    })
    const client = await rawConnect(port)
    client.send(
      'GET / HTTP/1.1\r\nHost: a\r\n\r\nPOST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx',
    )
    await client.closed
    expect(seen).toEqual([true, false])
  })

  it('treats a request without Content-Length or Transfer-Encoding as bodiless (never close-delimited)', async () => {
    const { port } = await startServer(echoHandler)
    const client = await rawConnect(port)
    client.send(
      'POST /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n',
    )
    const echoes = splitResponses(await client.closed).map(
      (r) => JSON.parse(r.body) as { uri: string; body: string },
    )
    expect(echoes.map((e) => [e.uri, e.body])).toEqual([
      ['/a', ''],
      ['/b', ''],
    ])
  })

  it('keeps the first 64 KiB of the body for retries', async () => {
    const retry: Array<Buffer | undefined> = []
    const { out } = await run(async (s) => {
      s.enableRetryBuffering()
      await readAll(s)
      retry.push(s.getRetryBuffer())
      expect(s.retryBufferTruncated()).toBe(false)
      await s.respondError(200)
    }, `${POST_CHUNKED}3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n`)
    expect(out).toMatch(/^HTTP\/1.1 200 OK/)
    expect(retry[0]?.toString()).toBe('abcde')
  })

  it('marks the retry buffer truncated once the body passes 64 KiB', async () => {
    const flags: Array<[boolean, Buffer | undefined]> = []
    const size = 70_000
    await run(
      async (s) => {
        s.enableRetryBuffering()
        await readAll(s)
        flags.push([s.retryBufferTruncated(), s.getRetryBuffer()])
        await s.respondError(200)
      },
      `POST / HTTP/1.1\r\nHost: a\r\nContent-Length: ${size}\r\nConnection: close\r\n\r\n${'r'.repeat(size)}`,
    )
    expect(flags).toEqual([[true, undefined]])
  })

  it('rejects readBodyOrIdle with ConnectionClosed when the client leaves after its body', async () => {
    const thrown: unknown[] = []
    const { port, events } = await startServer(async (s) => {
      expect((await s.readBodyOrIdle(false))?.toString()).toBe('ab')
      try {
        await s.readBodyOrIdle(false)
      } catch (error) {
        thrown.push(error)
      }
    })
    const client = await rawConnect(port)
    client.send('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nab')
    // The client waits for nothing and goes away.
    client.socket.end()
    await client.closed
    await events.loopEnded()
    expect((thrown[0] as PingoraError).type).toBe('ConnectionClosed')
    expect((thrown[0] as PingoraError).source).toBe('downstream')
  })
})

describe('Http1ServerSession 100-continue', () => {
  it('sends 100 Continue on request and then reads the body', async () => {
    const { port } = await startServer(async (s) => {
      expect(s.isExpectContinueRequest()).toBe(true)
      await s.writeContinueResponse()
      await echoHandler(s)
    })
    const client = await rawConnect(port)
    client.send(
      'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n',
    )
    const interim = await client.waitFor('\r\n\r\n')
    expect(interim).toBe('HTTP/1.1 100 Continue\r\n\r\n')
    client.send('data')
    const out = await client.closed
    expect(out.startsWith('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n')).toBe(true)
    expect(echoOf(out.slice('HTTP/1.1 100 Continue\r\n\r\n'.length)).body).toBe('data')
  })

  it('does not send 100 Continue after a final response', async () => {
    const { out } = await run(async (s) => {
      await s.respondError(417)
      await s.writeContinueResponse()
    }, 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n')
    expect(out).toMatch(/^HTTP\/1.1 417 Expectation Failed\r\n/)
    expect(out).not.toContain('100 Continue')
  })
})

describe('Http1ServerSession upgrade', () => {
  const upgradeRequest =
    'GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n'

  async function upgradeEcho(s: Http1ServerSession): Promise<void> {
    expect(s.isUpgradeRequest()).toBe(true)
    const response = ResponseHeader.build(101)
    response.insertHeader('Connection', 'Upgrade')
    response.insertHeader('Upgrade', 'echo')
    await s.writeResponseHeader(response)
    expect(s.wasUpgraded()).toBe(true)
    for (let c = await s.readRequestBody(); c !== undefined; c = await s.readRequestBody()) {
      await s.writeResponseBody(Buffer.concat([Buffer.from('echo:'), c]), false)
    }
    await s.writeResponseBody(undefined, true)
  }

  it('switches to a raw two-way byte stream after 101 and never reuses it', async () => {
    const { port, events } = await startServer(upgradeEcho)
    const client = await rawConnect(port)
    client.send(upgradeRequest)
    const head = await client.waitFor('\r\n\r\n')
    expect(normalizeDate(head)).toBe(
      'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n',
    )
    client.send('ping')
    await client.waitFor('echo:ping')
    client.send('GET / HTTP/1.1\r\nHost: a\r\n\r\n')
    await client.waitFor('echo:GET / HTTP/1.1')
    client.socket.end()
    await client.closed
    await events.loopEnded()
    expect(events.requests).toBe(1)
  })

  it('delivers bytes sent right after the upgrade request as raw bytes after the 101', async () => {
    const { port } = await startServer(upgradeEcho)
    const client = await rawConnect(port)
    client.send(`${upgradeRequest}early`)
    await client.waitFor('echo:early')
    client.socket.end()
    const out = await client.closed
    expect(out).toContain('HTTP/1.1 101 Switching Protocols\r\n')
  })

  it('treats an upgrade request answered with 200 as an ordinary request', async () => {
    const { port, events } = await startServer(echoHandler)
    const client = await rawConnect(port)
    client.send(`${upgradeRequest}GET /next HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`)
    const out = await client.closed
    expect(splitResponses(out)).toHaveLength(2)
    expect(events.requests).toBe(2)
  })

  it('refuses to write 101 for a request that did not ask to upgrade', async () => {
    const { thrown } = await run(async (s) => {
      await s.writeResponseHeader(ResponseHeader.build(101))
    }, 'GET / HTTP/1.1\r\nHost: a\r\n\r\n')
    expect((thrown[0] as PingoraError).type).toBe('H1Error')
    expect((thrown[0] as PingoraError).source).toBe('internal')
  })
})

describe('Http1ServerSession response writer', () => {
  const GET = 'GET / HTTP/1.1\r\nHost: a\r\n\r\n'
  const GET_CLOSE = 'GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n'

  it('writes a Content-Length response with the header case and order given and Date added', async () => {
    const { out } = await run(async (s) => {
      const r = ResponseHeader.build(200)
      r.insertHeader('x-LOWER-upper', 'v')
      r.insertHeader('Content-Length', '5')
      await s.writeResponseHeader(r)
      await s.writeResponseBody(Buffer.from('hel'), false)
      await s.writeResponseBody(Buffer.from('lo'), true)
      expect(s.bodyBytesSent).toBe(5)
    }, GET_CLOSE)
    expect(normalizeDate(out)).toBe(
      'HTTP/1.1 200 OK\r\nx-LOWER-upper: v\r\nContent-Length: 5\r\nDate: <date>\r\nConnection: close\r\n\r\nhello',
    )
  })

  it('writeResponse writes a header and its whole body like header then body', async () => {
    const { out } = await run(async (s) => {
      const r = ResponseHeader.build(200)
      r.insertHeader('Content-Length', '5')
      await s.writeResponse(r, Buffer.from('hello'))
      expect(s.bodyBytesSent).toBe(5)
    }, GET_CLOSE)
    expect(normalizeDate(out)).toBe(
      'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nDate: <date>\r\nConnection: close\r\n\r\nhello',
    )
  })

  it('writeResponse frames a body without Content-Length as chunked, with its last chunk', async () => {
    const { out } = await run(async (s) => {
      await s.writeResponse(ResponseHeader.build(200), Buffer.from('abc'))
    }, GET_CLOSE)
    expect(normalizeDate(out)).toBe(
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nDate: <date>\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
    )
  })

  it('writeResponse rejects a body larger than the Content-Length as header then body does', async () => {
    const oversized = (s: Http1ServerSession, together: boolean) => {
      const r = ResponseHeader.build(200)
      r.insertHeader('Content-Length', '2')
      const body = Buffer.from('abc')
      if (together) return s.writeResponse(r, body)
      return s.writeResponseHeader(r).then(() => s.writeResponseBody(body, true))
    }
    const one = await run((s) => oversized(s, true), GET_CLOSE)
    const two = await run((s) => oversized(s, false), GET_CLOSE)
    expect(PingoraError.is(one.thrown[0]) && one.thrown[0].type).toBe('H1Error')
    expect(PingoraError.is(two.thrown[0]) && two.thrown[0].type).toBe('H1Error')
    expect(normalizeDate(one.out)).toBe(normalizeDate(two.out))
  })

  it('keeps a Date set by the application and overwrites its Connection header', async () => {
    const { out } = await run(async (s) => {
      const r = ResponseHeader.build(200)
      r.insertHeader('Date', 'Mon, 01 Jan 2001 00:00:00 GMT')
      r.insertHeader('Connection', 'whatever')
      await s.writeResponseHeader(r, true)
    }, GET_CLOSE)
    expect(out).toBe(
      'HTTP/1.1 200 OK\r\nDate: Mon, 01 Jan 2001 00:00:00 GMT\r\nConnection: close\r\nContent-Length: 0\r\n\r\n',
    )
  })

  it('writes an explicitly chunked response with chunk framing', async () => {
    const { out } = await run(async (s) => {
      const r = ResponseHeader.build(200)
      r.insertHeader('Transfer-Encoding', 'chunked')
      await s.writeResponseHeader(r)
      await s.writeResponseBody(Buffer.from('hello'), false)
      await s.writeResponseBody(Buffer.alloc(0), false)
      await s.writeResponseBody(Buffer.from('0123456789abcdef!'), true)
    }, GET_CLOSE)
    expect(normalizeDate(out)).toBe(
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nDate: <date>\r\nConnection: close\r\n\r\n5\r\nhello\r\n11\r\n0123456789abcdef!\r\n0\r\n\r\n',
    )
  })

  it('chunks an unframed HTTP/1.1 response and keeps the connection', async () => {
    const { port, events } = await startServer(async (s) => {
      await s.writeResponseHeader(ResponseHeader.build(200))
      await s.writeResponseBody(Buffer.from('abc'), false)
      await s.finishBody()
    })
    const client = await rawConnect(port)
    client.send(GET + GET_CLOSE)
    const out = normalizeDate(await client.closed)
    const one =
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nDate: <date>\r\nConnection: keep-alive\r\n\r\n3\r\nabc\r\n0\r\n\r\n'
    expect(out.startsWith(one)).toBe(true)
    expect(events.requests).toBe(2)
  })

  it('sends an unframed response to an HTTP/1.0 client close-delimited', async () => {
    const { out } = await run(async (s) => {
      await s.writeResponseHeader(ResponseHeader.build(200))
      await s.writeResponseBody(Buffer.from('raw body'), true)
    }, 'GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n')
    expect(normalizeDate(out)).toBe(
      'HTTP/1.1 200 OK\r\nDate: <date>\r\nConnection: close\r\n\r\nraw body',
    )
  })

  it('drops chunked framing for an HTTP/1.0 client and closes', async () => {
    const { out } = await run(async (s) => {
      const r = ResponseHeader.build(200)
      r.insertHeader('Transfer-Encoding', 'chunked')
      await s.writeResponseHeader(r)
      await s.writeResponseBody(Buffer.from('raw'), true)
    }, 'GET / HTTP/1.0\r\n\r\n')
    expect(normalizeDate(out)).toBe(
      'HTTP/1.1 200 OK\r\nDate: <date>\r\nConnection: close\r\n\r\nraw',
    )
  })

  it('adds Content-Length: 0 to an unframed header-only response', async () => {
    const { port, events } = await startServer(async (s) => {
      await s.writeResponseHeader(ResponseHeader.build(200), true)
    })
    const client = await rawConnect(port)
    client.send(GET + GET_CLOSE)
    const out = normalizeDate(await client.closed)
    expect(
      out.startsWith(
        'HTTP/1.1 200 OK\r\nContent-Length: 0\r\nDate: <date>\r\nConnection: keep-alive\r\n\r\n',
      ),
    ).toBe(true)
    expect(events.requests).toBe(2)
  })

  it('sends no body for HEAD but keeps Content-Length and the connection', async () => {
    const { port, events } = await startServer(async (s) => {
      const r = ResponseHeader.build(200)
      r.insertHeader('Content-Length', '5')
      await s.writeResponseHeader(r)
      await s.writeResponseBody(Buffer.from('hello'), true)
    })
    const client = await rawConnect(port)
    client.send(
      'HEAD / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n',
    )
    const out = normalizeDate(await client.closed)
    expect(out).toBe(
      'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nDate: <date>\r\nConnection: keep-alive\r\n\r\n' +
        'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nDate: <date>\r\nConnection: close\r\n\r\nhello',
    )
    expect(events.requests).toBe(2)
  })

  for (const status of [204, 304]) {
    it(`sends no body for ${status}`, async () => {
      const { out } = await run(async (s) => {
        await s.writeResponseHeader(ResponseHeader.build(status))
        await s.writeResponseBody(Buffer.from('ignored'), true)
      }, GET_CLOSE)
      expect(normalizeDate(out)).toMatch(
        new RegExp(
          `^HTTP/1.1 ${status} [^\\r]+\\r\\nDate: <date>\\r\\nConnection: close\\r\\n\\r\\n$`,
        ),
      )
    })
  }

  it('writes 1xx responses (103 Early Hints) before the final one', async () => {
    const { out } = await run(async (s) => {
      const hints = ResponseHeader.build(103)
      hints.insertHeader('Link', '</a.css>; rel=preload')
      await s.writeResponseHeader(hints)
      await s.writeResponseHeader(hints.clone())
      await s.writeResponseHeader(ResponseHeader.build(200), true)
    }, GET_CLOSE)
    expect(normalizeDate(out)).toBe(
      'HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n'.repeat(2) +
        'HTTP/1.1 200 OK\r\nContent-Length: 0\r\nDate: <date>\r\nConnection: close\r\n\r\n',
    )
  })

  it('refuses a second final response header', async () => {
    const { thrown } = await run(async (s) => {
      await s.writeResponseHeader(ResponseHeader.build(200), true)
      await s.writeResponseHeader(ResponseHeader.build(200), true)
    }, GET_CLOSE)
    expect((thrown[0] as PingoraError).type).toBe('H1Error')
  })

  it('refuses body bytes beyond the Content-Length and closes', async () => {
    const { out, thrown } = await run(async (s) => {
      const r = ResponseHeader.build(200)
      r.insertHeader('Content-Length', '3')
      await s.writeResponseHeader(r)
      await s.writeResponseBody(Buffer.from('abcd'), true)
    }, GET)
    expect((thrown[0] as PingoraError).type).toBe('H1Error')
    expect((thrown[0] as PingoraError).source).toBe('internal')
    expect(out).not.toContain('abc')
  })

  it('closes instead of reusing when fewer bytes than the Content-Length were written', async () => {
    const { port, events } = await startServer(async (s) => {
      const r = ResponseHeader.build(200)
      r.insertHeader('Content-Length', '10')
      await s.writeResponseHeader(r)
      await s.writeResponseBody(Buffer.from('short'), false)
    })
    const client = await rawConnect(port)
    client.send(GET + GET)
    const out = await client.closed
    expect(out.endsWith('\r\n\r\nshort')).toBe(true)
    expect(events.requests).toBe(1)
  })

  it('rejects an invalid Content-Length set by the application', async () => {
    const { thrown } = await run(async (s) => {
      const r = ResponseHeader.build(200)
      r.insertHeader('Content-Length', '-3')
      await s.writeResponseHeader(r)
    }, GET)
    expect((thrown[0] as PingoraError).type).toBe('InvalidHTTPHeader')
    expect((thrown[0] as PingoraError).source).toBe('internal')
  })

  it('writes respondError exactly as generateErrorResponse builds it, with keep-alive', async () => {
    const { port } = await startServer(async (s) => {
      await s.respondError(404)
    })
    const client = await rawConnect(port)
    client.send(GET)
    const out = await client.waitFor('\r\n\r\n')
    expect(normalizeDate(out)).toBe(
      'HTTP/1.1 404 Not Found\r\nServer: pingora-ts\r\nDate: <date>\r\nContent-Length: 0\r\nCache-Control: private, no-store\r\nConnection: keep-alive\r\n\r\n',
    )
  })

  it('writes an error response with a body in one piece', async () => {
    const { out } = await run(async (s) => {
      const r = ResponseHeader.build(502)
      r.insertHeader('Content-Type', 'text/plain')
      await s.writeErrorResponse(r, Buffer.from('bad gateway'))
    }, GET_CLOSE)
    expect(normalizeDate(out)).toBe(
      'HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\nContent-Length: 11\r\nDate: <date>\r\nConnection: close\r\n\r\nbad gateway',
    )
  })

  it('refuses a body before the header', async () => {
    const { thrown } = await run(async (s) => {
      await s.writeResponseBody(Buffer.from('x'), true)
    }, GET_CLOSE)
    expect((thrown[0] as PingoraError).type).toBe('H1Error')
  })

  it('streams a large chunked body under backpressure', async () => {
    const piece = Buffer.alloc(256 * 1024, 0x61)
    const { port } = await startServer(async (s) => {
      await s.writeResponseHeader(ResponseHeader.build(200))
      for (let i = 0; i < 40; i++) await s.writeResponseBody(piece, false)
      await s.writeResponseBody(undefined, true)
    })
    const client = await rawConnect(port)
    client.send(GET_CLOSE)
    const out = await client.closed
    const head = out.indexOf('\r\n\r\n')
    // Each 256 KiB chunk: "40000\r\n" + data + "\r\n"; then "0\r\n\r\n".
    expect(out.length - head - 4).toBe(40 * (7 + piece.length + 2) + 5)
  })

  it('times out a write to a client that stops reading (WriteTimedout)', async () => {
    const { port, events } = await startServer(
      async (s) => {
        await s.writeResponseHeader(ResponseHeader.build(200))
        const piece = Buffer.alloc(1024 * 1024)
        for (let i = 0; i < 256; i++) await s.writeResponseBody(piece, false)
      },
      { writeTimeoutMs: 50 },
    )
    const client = await rawConnect(port)
    client.socket.pause()
    client.send(GET_CLOSE)
    await events.loopEnded()
    const error = events.errors[0] as PingoraError
    expect(error.type).toBe('WriteTimedout')
    expect(error.source).toBe('downstream')
  })

  it('exposes addresses, digest and a request summary', async () => {
    const seen: unknown[] = []
    await run(async (s) => {
      seen.push(
        s.requestSummary(),
        s.clientAddr?.address,
        s.serverAddr?.address,
        s.digest.establishedAt > 0,
        s.isHttp2(),
      )
      await s.respondError(200)
    }, 'GET /p?q=1 HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n')
    expect(seen).toEqual(['GET /p?q=1, Host: example.com', '127.0.0.1', '127.0.0.1', true, false])
  })

  it('writes nothing for writeResponseTrailers on HTTP/1', async () => {
    const { out } = await run(async (s) => {
      const r = ResponseHeader.build(200)
      r.insertHeader('Content-Length', '1')
      await s.writeResponseHeader(r)
      await s.writeResponseBody(Buffer.from('x'), false)
      await s.writeResponseTrailers()
      await s.finishBody()
    }, GET_CLOSE)
    expect(out.endsWith('\r\n\r\nx')).toBe(true)
  })
})

describe('Http1ServerSession Pingora knobs', () => {
  it('drops 1xx responses with setIgnoreInfoResp but keeps a 100 the client asked for', async () => {
    const { port } = await startServer(async (s) => {
      s.setIgnoreInfoResp(true)
      await s.writeResponseHeader(ResponseHeader.build(103))
      await s.writeContinueResponse()
      await s.drainRequestBody()
      await s.writeResponseHeader(ResponseHeader.build(204), true)
    })
    const client = await rawConnect(port)
    client.send(
      'POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\nConnection: close\r\n\r\n',
    )
    await client.waitFor('100 Continue\r\n\r\n')
    client.send('x')
    const out = await client.closed
    expect(out).not.toContain('103')
    expect(out.startsWith('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n')).toBe(true)
  })

  it('keeps readBodyOrIdle pending on a client half-close with setAbortOnClose(false)', async () => {
    const states: string[] = []
    const { port } = await startServer(async (s) => {
      s.setAbortOnClose(false)
      let state = 'pending'
      s.readBodyOrIdle(true).then(
        () => {
          state = 'resolved'
        },
        () => {
          state = 'rejected'
        },
      )
      await s.stream.waitForEnd()
      await new Promise<void>((resolve) => setImmediate(resolve))
      states.push(state)
      await s.respondError(200)
    })
    const client = await rawConnect(port)
    client.socket.end('GET / HTTP/1.1\r\nHost: a\r\n\r\n')
    const out = await client.closed
    expect(out).toMatch(/^HTTP\/1.1 200 OK\r\n/)
    expect(states).toEqual(['pending'])
  })

  it('times out a stalled write from the minimum send rate (at least 1 s)', async () => {
    const { port, events } = await startServer(async (s) => {
      s.setMinSendRate(1024 * 1024 * 1024)
      await s.writeResponseHeader(ResponseHeader.build(200))
      const piece = Buffer.alloc(1024 * 1024)
      for (let i = 0; i < 512; i++) await s.writeResponseBody(piece, false)
    })
    const client = await rawConnect(port)
    client.socket.pause()
    client.send('GET / HTTP/1.1\r\nHost: a\r\n\r\n')
    await events.loopEnded()
    expect((events.errors[0] as PingoraError).type).toBe('WriteTimedout')
  })

  it('rejects a negative minimum send rate', async () => {
    const { thrown } = await run(async (s) => {
      s.setMinSendRate(-1)
    }, 'GET / HTTP/1.1\r\nHost: a\r\n\r\n')
    expect(thrown[0]).toEqual(new RangeError('minSendRate must be a non-negative number, got -1'))
  })
})

describe('Http1ServerSession response decisions', () => {
  it('closes when the application sets Connection: close on its response', async () => {
    const { port, events } = await startServer(async (s) => {
      const r = ResponseHeader.build(200)
      r.insertHeader('Connection', 'close')
      await s.writeResponseHeader(r, true)
    })
    const client = await rawConnect(port)
    client.send('GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n')
    const out = await client.closed
    expect(splitResponses(out)).toHaveLength(1)
    expect(out).toContain('Connection: close')
    expect(events.requests).toBe(1)
  })

  it('can answer before any request was read, then closes', async () => {
    const { Http1ServerSession } = await import('../../src/protocols/http1/server.ts')
    const { Stream } = await import('../../src/protocols/l4/stream.ts')
    const net = await import('node:net')
    const server = net.createServer(async (socket) => {
      const session = new Http1ServerSession(new Stream(socket))
      await session.respondError(503)
      expect(await session.finish()).toBeUndefined()
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const client = await rawConnect((server.address() as import('node:net').AddressInfo).port)
    const out = normalizeDate(await client.closed)
    server.close()
    expect(out).toBe(
      'HTTP/1.1 503 Service Unavailable\r\nServer: pingora-ts\r\nDate: <date>\r\nContent-Length: 0\r\nCache-Control: private, no-store\r\nConnection: close\r\n\r\n',
    )
  })
})

describe('Http1ServerSession status line', () => {
  it('writes a custom reason phrase as given', async () => {
    const { out } = await run(async (s) => {
      const r = ResponseHeader.build(200)
      r.setReasonPhrase('Everything Fine')
      await s.writeResponseHeader(r, true)
    }, 'GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n')
    expect(out.startsWith('HTTP/1.1 200 Everything Fine\r\n')).toBe(true)
  })

  it('answers an HTTP/1.0 request with an HTTP/1.1 status line', async () => {
    const { out } = await run(async (s) => {
      await s.writeResponseHeader(ResponseHeader.build(204), true)
    }, 'GET / HTTP/1.0\r\n\r\n')
    expect(out.startsWith('HTTP/1.1 204 No Content\r\n')).toBe(true)
  })
})

describe('Http1ServerSession raw request head', () => {
  it('exposes the request head bytes exactly as received', async () => {
    const heads: string[] = []
    const text = 'GET /raw HTTP/1.1\r\nhOsT: a\r\nX-A:  spaced  \r\nConnection: close\r\n\r\n'
    await run(async (s) => {
      heads.push(s.rawRequestHead?.toString('latin1') ?? '')
      await s.respondError(204)
    }, `\r\n${text}`)
    expect(heads).toEqual([text])
  })
})
