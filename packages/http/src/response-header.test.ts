import { PingoraError } from '@pingora-ts/error'
import { describe, expect, it } from 'vitest'
import { HeaderMap } from './header-map.ts'
import { ResponseHeader } from './response-header.ts'

function expectInvalid(fn: () => unknown, source = 'internal'): void {
  let caught: unknown
  try {
    fn()
  } catch (error) {
    caught = error
  }
  expect(PingoraError.is(caught)).toBe(true)
  expect((caught as PingoraError).type).toBe('InvalidHTTPHeader')
  expect((caught as PingoraError).source).toBe(source)
}

describe('ResponseHeader', () => {
  it('builds with the canonical reason and HTTP/1.1', () => {
    const response = ResponseHeader.build(200)
    expect(response.status).toBe(200)
    expect(response.reasonPhrase).toBe('OK')
    expect(response.version).toBe('HTTP/1.1')
    expect(response.headers.size).toBe(0)
    expect(ResponseHeader.build(204, { version: 'HTTP/1.0', sizeHint: 4 }).version).toBe('HTTP/1.0')
  })

  it.each([99, 1000, 200.5, Number.NaN, -1])('rejects status %s with a RangeError', (status) => {
    expect(() => ResponseHeader.build(status)).toThrow(
      new RangeError(`Invalid status code: ${status} (expected an integer from 100 to 999)`),
    )
    expect(() => ResponseHeader.build(200).setStatus(status)).toThrow(RangeError)
  })

  it('uses an empty reason for a status without a canonical one', () => {
    const response = ResponseHeader.build(599)
    expect(response.reasonPhrase).toBe('')
    expect(response.toH1String()).toBe('HTTP/1.1 599 \r\n\r\n')
  })

  it('keeps a custom reason phrase until reset or the status changes', () => {
    const response = ResponseHeader.build(200)
    response.setReasonPhrase('Everything Fine')
    expect(response.reasonPhrase).toBe('Everything Fine')
    response.setStatus(200)
    expect(response.reasonPhrase).toBe('Everything Fine')
    response.setReasonPhrase(undefined)
    expect(response.reasonPhrase).toBe('OK')
    response.setReasonPhrase('Custom')
    response.setStatus(404)
    expect(response.reasonPhrase).toBe('Not Found')
  })

  it('keeps a reason phrase with obs-text and tabs', () => {
    const response = ResponseHeader.build(200)
    response.setReasonPhrase('D\xe9j\xe0\tvu')
    expect(response.toH1Wire().toString('latin1')).toBe('HTTP/1.1 200 D\xe9j\xe0\tvu\r\n\r\n')
  })

  it.each([
    ['CR', 'OK\r'],
    ['LF', 'OK\nX: y'],
    ['NUL', 'O\0K'],
    ['ESC', 'O\x1bK'],
    ['non-latin1', 'O\u2603K'],
  ])('rejects a reason phrase with %s', (_label, reason) => {
    const response = ResponseHeader.build(200)
    expectInvalid(() => response.setReasonPhrase(reason))
    expect(response.reasonPhrase).toBe('OK')
  })

  it('fromRaw keeps a received custom reason and forgets a canonical one', () => {
    const custom = ResponseHeader.fromRaw(200, 'Okay', 'HTTP/1.0', new HeaderMap())
    expect(custom.reasonPhrase).toBe('Okay')
    expect(custom.toH1String()).toBe('HTTP/1.0 200 Okay\r\n\r\n')
    const canonical = ResponseHeader.fromRaw(200, 'OK', 'HTTP/1.1', new HeaderMap())
    canonical.setStatus(503)
    expect(canonical.reasonPhrase).toBe('Service Unavailable')
  })

  it('setContentLength inserts a single Content-Length', () => {
    const response = ResponseHeader.build(200)
    response.appendHeader('content-length', '1')
    response.appendHeader('content-length', '2')
    response.setContentLength(1234)
    expect(response.getHeaderAll('Content-Length')).toEqual(['1234'])
    expect(response.headers.nameAt(0)).toBe('Content-Length')
  })

  it.each([-1, 1.5, Number.NaN, 2 ** 53])('setContentLength rejects %s', (length) => {
    expect(() => ResponseHeader.build(200).setContentLength(length)).toThrow(
      new RangeError(`Invalid content length: ${length} (expected a non-negative safe integer)`),
    )
  })

  it('insert, append, get, getAll and remove go to the header map', () => {
    const response = ResponseHeader.build(200)
    response.appendHeader('Set-Cookie', 'a=1')
    response.appendHeader('Set-Cookie', 'b=2')
    response.insertHeader('Server', 'pingora-ts')
    expect(response.getHeader('set-cookie')).toBe('a=1')
    expect(response.getHeaderAll('SET-COOKIE')).toEqual(['a=1', 'b=2'])
    expect(response.removeHeader('server')).toEqual(['pingora-ts'])
    expect(response.removeHeader('server')).toBeUndefined()
    expectInvalid(() => response.insertHeader('Bad:Name', 'x'))
    expectInvalid(() => response.appendHeader('X', '\r\n'))
  })

  it('writes the status line and headers byte for byte', () => {
    const response = ResponseHeader.build(404)
    response.appendHeader('content-type', 'text/html')
    response.appendHeader('Cache-CONTROL', 'no-store')
    response.appendHeader('Set-Cookie', 'a=1')
    response.appendHeader('set-cookie', 'b=2')
    response.setContentLength(0)
    expect(response.toH1Wire().toString('latin1')).toBe(
      'HTTP/1.1 404 Not Found\r\n' +
        'content-type: text/html\r\n' +
        'Cache-CONTROL: no-store\r\n' +
        'Set-Cookie: a=1\r\n' +
        'set-cookie: b=2\r\n' +
        'Content-Length: 0\r\n' +
        '\r\n',
    )
  })

  it('writes HTTP/2 and 0.9 versions as HTTP/1.1 on the wire', () => {
    const response = ResponseHeader.build(200, { version: 'HTTP/2' })
    expect(response.toH1String()).toBe('HTTP/1.1 200 OK\r\n\r\n')
    response.setVersion('HTTP/1.0')
    expect(response.toH1String()).toBe('HTTP/1.0 200 OK\r\n\r\n')
  })

  it('writeH1Into writes at an offset', () => {
    const response = ResponseHeader.build(204)
    const target = Buffer.alloc(32)
    expect(response.writeH1Into(target, 1)).toBe(1 + 'HTTP/1.1 204 No Content\r\n\r\n'.length)
    expect(() => response.writeH1Into(Buffer.alloc(4), 0)).toThrow(RangeError)
  })

  it('clones independently', () => {
    const response = ResponseHeader.build(200)
    response.appendHeader('X', '1')
    response.setReasonPhrase('Fine')
    const copy = response.clone()
    expect(copy.reasonPhrase).toBe('Fine')
    copy.setStatus(500)
    copy.insertHeader('X', '2')
    expect(response.status).toBe(200)
    expect(response.reasonPhrase).toBe('Fine')
    expect(response.getHeader('x')).toBe('1')
  })

  it('converts to HTTP/2 with :status first and hop-by-hop headers dropped', () => {
    const response = ResponseHeader.build(200)
    response.appendHeader('Content-Type', 'text/plain')
    response.appendHeader('Connection', 'keep-alive')
    response.appendHeader('Keep-Alive', 'timeout=5')
    response.appendHeader('Transfer-Encoding', 'chunked')
    response.appendHeader('Upgrade', 'h2c')
    response.appendHeader('Set-Cookie', 'a=1')
    response.appendHeader('Set-Cookie', 'b=2')
    const h2 = response.toH2Headers()
    expect(Object.keys(h2)).toEqual([':status', 'content-type', 'set-cookie'])
    expect(h2[':status']).toBe('200')
    expect(h2['set-cookie']).toEqual(['a=1', 'b=2'])
  })

  it('builds from HTTP/2 headers with a numeric or string :status', () => {
    const response = ResponseHeader.fromH2Headers({
      ':status': 404,
      'content-type': 'text/html',
      'set-cookie': ['a=1', 'b=2'],
    } as never)
    expect(response.status).toBe(404)
    expect(response.version).toBe('HTTP/2')
    expect(response.reasonPhrase).toBe('Not Found')
    expect([...response.headers]).toEqual([
      ['content-type', 'text/html'],
      ['set-cookie', 'a=1'],
      ['set-cookie', 'b=2'],
    ])
    expect(ResponseHeader.fromH2Headers({ ':status': '302' } as never).status).toBe(302)
  })

  it('follows rawHeaders order from HTTP/2', () => {
    const response = ResponseHeader.fromH2Headers({ ':status': 200, b: '2', a: '1' } as never, [
      ':status',
      '200',
      'a',
      '1',
      'b',
      '2',
    ])
    expect([...response.headers]).toEqual([
      ['a', '1'],
      ['b', '2'],
    ])
  })

  it.each([
    ['no :status', {}],
    ['a non-numeric :status', { ':status': 'abc' }],
    ['an out-of-range :status', { ':status': 99 }],
    ['a padded :status', { ':status': ' 200' }],
    ['a request pseudo-header', { ':status': 200, ':path': '/' }],
    ['a bad value', { ':status': 200, x: 'a\rb' }],
  ])('rejects HTTP/2 headers with %s as upstream InvalidHTTPHeader', (_label, headers) => {
    expectInvalid(() => ResponseHeader.fromH2Headers(headers as never), 'upstream')
  })
})
