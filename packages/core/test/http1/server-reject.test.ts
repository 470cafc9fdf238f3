import { PingoraError } from '@pingora-ts/error'
import { describe, expect, it } from 'vitest'
import type { Http1ServerOptions } from '../../src/protocols/http1/server.ts'
import {
  echoHandler,
  echoOf,
  errorAnswer,
  exchange,
  normalizeDate,
  startServer,
} from './helpers.ts'

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  414: 'URI Too Long',
  431: 'Request Header Fields Too Large',
  505: 'HTTP Version Not Supported',
}

async function expectRejected(
  request: string | Buffer,
  status: number,
  options?: Http1ServerOptions,
): Promise<void> {
  let handled = 0
  const { port, events } = await startServer(async (session) => {
    handled++
    await echoHandler(session)
  }, options)
  const out = await exchange(port, request)
  expect(normalizeDate(out)).toBe(errorAnswer(status, REASONS[status] as string))
  await events.loopEnded()
  expect(handled).toBe(0)
  expect(events.errors).toHaveLength(1)
  const error = events.errors[0]
  expect(PingoraError.is(error)).toBe(true)
  const e = error as PingoraError
  expect(e.type).toBe('InvalidHTTPHeader')
  expect(e.status).toBe(status)
  expect(e.source).toBe('downstream')
}

const H = 'Host: example.com\r\n'

describe('Http1ServerSession rejects malformed request lines', () => {
  const cases: Array<[string, string, number]> = [
    ['an invalid method token', `G(T / HTTP/1.1\r\n${H}\r\n`, 400],
    ['an empty method', ` / HTTP/1.1\r\n${H}\r\n`, 400],
    ['two spaces after the method', `GET  / HTTP/1.1\r\n${H}\r\n`, 400],
    ['a control character in the target', `GET /a\x01b HTTP/1.1\r\n${H}\r\n`, 400],
    ['DEL in the target', `GET /a\x7fb HTTP/1.1\r\n${H}\r\n`, 400],
    ['a tab in the target', `GET /a\tb HTTP/1.1\r\n${H}\r\n`, 400],
    ['a missing version', `GET /\r\n${H}\r\n`, 400],
    ['a lower-case version', `GET / http/1.1\r\n${H}\r\n`, 400],
    ['a space after the version', `GET / HTTP/1.1 \r\n${H}\r\n`, 400],
    ['a malformed version', `GET / HTTP/1.x\r\n${H}\r\n`, 400],
    ['a bare LF after the request line', `GET / HTTP/1.1\n${H}\r\n`, 400],
    ['a bare CR after the request line', `GET / HTTP/1.1\r${H}\r\n`, 400],
    ['a target that is no request-target form', `GET foo HTTP/1.1\r\n${H}\r\n`, 400],
    ['an asterisk target on GET', `GET * HTTP/1.1\r\n${H}\r\n`, 400],
    ['HTTP/2.0 on an HTTP/1 connection', `GET / HTTP/2.0\r\n${H}\r\n`, 505],
    ['HTTP/3.0', `GET / HTTP/3.0\r\n${H}\r\n`, 505],
    ['the HTTP/2 connection preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 505],
  ]
  for (const [what, request, status] of cases) {
    it(`answers ${status} to ${what}`, async () => {
      await expectRejected(request, status)
    })
  }
})

describe('Http1ServerSession rejects malformed header fields', () => {
  const cases: Array<[string, string]> = [
    ['a bare LF ending a field line', `GET / HTTP/1.1\r\n${H}X-A: 1\nX-B: 2\r\n\r\n`],
    ['LF-only line endings throughout', 'GET / HTTP/1.1\nHost: a\n\n'],
    ['a bare CR inside a value', `GET / HTTP/1.1\r\n${H}X-A: 1\r2\r\n\r\n`],
    ['obs-fold (a continuation line)', `GET / HTTP/1.1\r\n${H}X-A: 1\r\n 2\r\n\r\n`],
    ['a tab-led continuation line', `GET / HTTP/1.1\r\n${H}X-A: 1\r\n\t2\r\n\r\n`],
    ['whitespace before the colon', `GET / HTTP/1.1\r\nHost : a\r\n\r\n`],
    ['a tab before the colon', `GET / HTTP/1.1\r\n${H}X-A\t: 1\r\n\r\n`],
    ['a separator in a field name', `GET / HTTP/1.1\r\n${H}X(A): 1\r\n\r\n`],
    ['an empty field name', `GET / HTTP/1.1\r\n${H}: 1\r\n\r\n`],
    ['a field line without a colon', `GET / HTTP/1.1\r\n${H}NoColon\r\n\r\n`],
    ['NUL in a value', `GET / HTTP/1.1\r\n${H}X-A: a\x00b\r\n\r\n`],
    ['NUL in a name', `GET / HTTP/1.1\r\n${H}X\x00A: 1\r\n\r\n`],
    ['a control character in a value', `GET / HTTP/1.1\r\n${H}X-A: a\x07b\r\n\r\n`],
    ['DEL in a value', `GET / HTTP/1.1\r\n${H}X-A: a\x7fb\r\n\r\n`],
    ['a non-ASCII byte in a name', `GET / HTTP/1.1\r\n${H}X-\xe9: 1\r\n\r\n`],
  ]
  for (const [what, request] of cases) {
    it(`answers 400 to ${what}`, async () => {
      await expectRejected(request, 400)
    })
  }
})

describe('Http1ServerSession rejects ambiguous framing', () => {
  const cases: Array<[string, string]> = [
    ['a non-numeric Content-Length', 'Content-Length: abc\r\n'],
    ['a negative Content-Length', 'Content-Length: -1\r\n'],
    ['a Content-Length with a plus sign', 'Content-Length: +1\r\n'],
    ['a hexadecimal Content-Length', 'Content-Length: 0x10\r\n'],
    ['an empty Content-Length', 'Content-Length: \r\n'],
    ['a Content-Length with inner whitespace', 'Content-Length: 1 2\r\n'],
    ['a Content-Length that overflows', 'Content-Length: 99999999999999999999\r\n'],
    ['a Content-Length above 2^53', 'Content-Length: 9007199254740993\r\n'],
    ['a Content-Length list with differing values', 'Content-Length: 1, 2\r\n'],
    [
      'duplicate Content-Length fields with differing values',
      'Content-Length: 1\r\nContent-Length: 2\r\n',
    ],
    ['a final transfer coding other than chunked', 'Transfer-Encoding: gzip\r\n'],
    ['chunked followed by another coding', 'Transfer-Encoding: chunked, gzip\r\n'],
    ['chunked applied twice', 'Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n'],
    ['a trailing empty transfer coding', 'Transfer-Encoding: chunked,\r\n'],
    ['an unknown transfer coding', 'Transfer-Encoding: xchunked\r\n'],
  ]
  for (const [what, fields] of cases) {
    it(`answers 400 to ${what}`, async () => {
      await expectRejected(`POST / HTTP/1.1\r\n${H}${fields}\r\n`, 400)
    })
  }

  it('answers 400 to Transfer-Encoding on HTTP/1.0', async () => {
    await expectRejected('POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400)
  })
})

describe('Http1ServerSession enforces Host rules', () => {
  it('answers 400 to an HTTP/1.1 request without Host', async () => {
    await expectRejected('GET / HTTP/1.1\r\nX-A: 1\r\n\r\n', 400)
  })

  it('answers 400 to two Host fields', async () => {
    await expectRejected('GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', 400)
  })

  it('answers 400 to two Host fields on HTTP/1.0', async () => {
    await expectRejected('GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n', 400)
  })

  it('answers 400 to a Host with a space', async () => {
    await expectRejected('GET / HTTP/1.1\r\nHost: a b\r\n\r\n', 400)
  })

  it('answers 400 to an absolute-form target with an invalid authority', async () => {
    await expectRejected('GET http://a\\b/ HTTP/1.1\r\nHost: a\r\n\r\n', 400)
  })
})

describe('Http1ServerSession enforces size limits', () => {
  it('answers 414 when the request line is longer than the limit', async () => {
    const path = `/${'a'.repeat(200)}`
    await expectRejected(`GET ${path} HTTP/1.1\r\n${H}\r\n`, 414, { maxRequestLineBytes: 100 })
  })

  it('answers 414 before the request line is complete once it passes the limit', async () => {
    // No CRLF ever arrives: the session must not wait for one.
    await expectRejected(`GET /${'a'.repeat(300)}`, 414, { maxRequestLineBytes: 100 })
  })

  it('answers 414 for a request line over the default 8 KiB', async () => {
    await expectRejected(`GET /${'a'.repeat(9000)} HTTP/1.1\r\n${H}\r\n`, 414)
  })

  it('answers 431 when there are more header fields than the limit', async () => {
    let fields = ''
    for (let i = 0; i < 6; i++) fields += `X-${i}: ${i}\r\n`
    await expectRejected(`GET / HTTP/1.1\r\n${H}${fields}\r\n`, 431, { maxHeaders: 5 })
  })

  it('answers 431 for more than the default 256 header fields', async () => {
    let fields = ''
    for (let i = 0; i < 257; i++) fields += `X-${i}: ${i}\r\n`
    await expectRejected(`GET / HTTP/1.1\r\n${H}${fields}\r\n`, 431)
  })

  it('answers 431 when a complete header section is larger than the limit', async () => {
    await expectRejected(`GET / HTTP/1.1\r\n${H}X-Big: ${'b'.repeat(2000)}\r\n\r\n`, 431, {
      maxHeaderBytes: 1024,
    })
  })

  it('answers 431 before the header section is complete once it passes the limit', async () => {
    await expectRejected(`GET / HTTP/1.1\r\n${H}X-Big: ${'b'.repeat(2000)}`, 431, {
      maxHeaderBytes: 1024,
    })
  })

  it('accepts a header section just under the limit', async () => {
    const { port } = await startServer(echoHandler, { maxHeaderBytes: 1024 })
    const out = await exchange(
      port,
      `GET / HTTP/1.1\r\n${H}Connection: close\r\nX-Big: ${'b'.repeat(900)}\r\n\r\n`,
    )
    expect(echoOf(out).headers.find(([n]) => n === 'X-Big')?.[1]).toHaveLength(900)
  })

  it('rejects option values out of range with RangeError', async () => {
    const { Http1ServerSession } = await import('../../src/protocols/http1/server.ts')
    const { Stream } = await import('../../src/protocols/l4/stream.ts')
    const net = await import('node:net')
    const stream = new Stream(new net.Socket())
    expect(() => new Http1ServerSession(stream, { maxHeaders: 0 })).toThrow(
      new RangeError('maxHeaders must be an integer >= 1, got 0'),
    )
    expect(() => new Http1ServerSession(stream, { readTimeoutMs: -1 })).toThrow(
      new RangeError('readTimeoutMs must be a finite number >= 0, got -1'),
    )
    expect(() => new Http1ServerSession(stream, { keepaliveRequestLimit: 1.5 })).toThrow(
      new RangeError('keepaliveRequestLimit must be an integer >= 1, got 1.5'),
    )
    stream.destroy()
  })
})

describe('Http1ServerSession accepts valid but unusual requests', () => {
  async function echo(request: string) {
    const { port } = await startServer(echoHandler)
    return echoOf(await exchange(port, request))
  }

  it('ignores empty lines before the request line', async () => {
    const e = await echo(`\r\n\r\nGET /x HTTP/1.1\r\n${H}Connection: close\r\n\r\n`)
    expect(e.uri).toBe('/x')
  })

  it('treats HTTP/1.2 as HTTP/1.1', async () => {
    const e = await echo(`GET / HTTP/1.2\r\n${H}Connection: close\r\n\r\n`)
    expect(e.version).toBe('HTTP/1.1')
  })

  it('collapses identical duplicate Content-Length fields into one', async () => {
    const e = await echo(
      `POST / HTTP/1.1\r\n${H}Content-Length: 3\r\ncontent-length: 3\r\nConnection: close\r\n\r\nabc`,
    )
    expect(e.body).toBe('abc')
    expect(e.headers.filter(([n]) => n.toLowerCase() === 'content-length')).toEqual([
      ['Content-Length', '3'],
    ])
  })

  it('accepts a Content-Length list of identical values', async () => {
    const e = await echo(
      `POST / HTTP/1.1\r\n${H}Content-Length: 2, 2\r\nConnection: close\r\n\r\nab`,
    )
    expect(e.body).toBe('ab')
  })

  it('accepts leading zeros in Content-Length', async () => {
    const e = await echo(
      `POST / HTTP/1.1\r\n${H}Content-Length: 003\r\nConnection: close\r\n\r\nabc`,
    )
    expect(e.body).toBe('abc')
  })

  it('frames by chunked when both Transfer-Encoding and Content-Length are sent, dropping CL and closing', async () => {
    const { port } = await startServer(echoHandler)
    const out = await exchange(
      port,
      `POST / HTTP/1.1\r\n${H}Content-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n`,
    )
    const e = echoOf(out)
    expect(e.body).toBe('abc')
    expect(e.headers.some(([n]) => n.toLowerCase() === 'content-length')).toBe(false)
    expect(out).toContain('\r\nConnection: close\r\n')
  })

  it('accepts a transfer coding before a final chunked', async () => {
    const e = await echo(
      `POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n2\r\nhi\r\n0\r\n\r\n`,
    )
    expect(e.body).toBe('hi')
  })

  it('takes Host from an absolute-form target', async () => {
    const e = await echo(
      'GET http://origin.test:8080/p?q=1 HTTP/1.1\r\nHost: other\r\nConnection: close\r\n\r\n',
    )
    expect(e.uri).toBe('http://origin.test:8080/p?q=1')
    expect(e.headers).toContainEqual(['Host', 'origin.test:8080'])
    expect(e.headers.filter(([n]) => n === 'Host')).toHaveLength(1)
  })

  it('accepts an HTTP/1.0 request without Host', async () => {
    const e = await echo('GET /old HTTP/1.0\r\n\r\n')
    expect(e.version).toBe('HTTP/1.0')
  })

  it('accepts OPTIONS * and CONNECT authority-form targets', async () => {
    expect((await echo(`OPTIONS * HTTP/1.1\r\n${H}Connection: close\r\n\r\n`)).uri).toBe('*')
    expect(
      (
        await echo(
          'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nConnection: close\r\n\r\n',
        )
      ).uri,
    ).toBe('example.com:443')
  })

  it('preserves header name case, order, obs-text values and raw path bytes', async () => {
    const e = await echo(
      `GET /caf\xe9?x=\xff HTTP/1.1\r\nhOsT: example.com\r\nX-Latin: caf\xe9\r\nx-lower: 1\r\nConnection: close\r\n\r\n`,
    )
    expect(e.uri).toBe('/caf\xe9?x=\xff')
    expect(e.headers).toEqual([
      ['hOsT', 'example.com'],
      ['X-Latin', 'caf\xe9'],
      ['x-lower', '1'],
      ['Connection', 'close'],
    ])
  })

  it('trims whitespace around values and keeps inner whitespace', async () => {
    const e = await echo(
      `GET / HTTP/1.1\r\n${H}X-A: \t a  b \t\r\nX-Empty:\r\nConnection: close\r\n\r\n`,
    )
    expect(e.headers).toContainEqual(['X-A', 'a  b'])
    expect(e.headers).toContainEqual(['X-Empty', ''])
  })

  it('does not treat an upgrade on HTTP/1.0 as an upgrade request', async () => {
    expect((await echo('GET / HTTP/1.0\r\nUpgrade: websocket\r\n\r\n')).upgrade).toBe(false)
    expect(
      (await echo(`GET / HTTP/1.1\r\n${H}Upgrade: websocket\r\nConnection: close, upgrade\r\n\r\n`))
        .upgrade,
    ).toBe(true)
  })

  it('does not treat Upgrade without Connection: upgrade as an upgrade request (RFC 9110 §7.8)', async () => {
    expect(
      (await echo(`GET / HTTP/1.1\r\n${H}Upgrade: websocket\r\nConnection: close\r\n\r\n`)).upgrade,
    ).toBe(false)
  })
})

describe('Http1ServerSession request line limit while the header is incomplete', () => {
  it('answers 414 as soon as a complete but too long request line arrives', async () => {
    // The header section never completes: the answer must not wait for it.
    await expectRejected(`GET /${'a'.repeat(150)} HTTP/1.1\r\nHost: a\r\n`, 414, {
      maxRequestLineBytes: 100,
    })
  })

  it('accepts a request line exactly at the limit', async () => {
    const line = `GET /${'a'.repeat(100 - 'GET / HTTP/1.1'.length)} HTTP/1.1`
    expect(line).toHaveLength(100)
    const { port } = await startServer(echoHandler, { maxRequestLineBytes: 100 })
    const out = await exchange(port, `${line}\r\nHost: a\r\nConnection: close\r\n\r\n`)
    expect(out).toMatch(/^HTTP\/1.1 200 OK/)
  })
})

describe('Http1ServerSession absolute-form on HTTP/1.0', () => {
  it('adds Host from an absolute-form target when an HTTP/1.0 request has none', async () => {
    const { port } = await startServer(echoHandler)
    const e = echoOf(await exchange(port, 'GET http://old.test/x HTTP/1.0\r\n\r\n'))
    expect(e.headers).toEqual([['Host', 'old.test']])
  })
})
