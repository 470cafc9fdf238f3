import { Buffer } from 'node:buffer'
import { PingoraError } from '@pingora-ts/error'
import { describe, expect, it } from 'vitest'
import { HeaderMap } from './header-map.ts'
import { RequestHeader } from './request-header.ts'

function caught(fn: () => unknown): PingoraError {
  try {
    fn()
  } catch (error) {
    if (PingoraError.is(error)) return error
    throw error
  }
  throw new Error('expected a PingoraError')
}

function expectInvalid(fn: () => unknown, source = 'internal'): void {
  const error = caught(fn)
  expect(error.type).toBe('InvalidHTTPHeader')
  expect(error.source).toBe(source)
}

describe('RequestHeader.build', () => {
  it('defaults to HTTP/1.1, no headers and END_STREAM on', () => {
    const request = RequestHeader.build('GET', '/')
    expect(request.method).toBe('GET')
    expect(request.uri).toBe('/')
    expect(request.version).toBe('HTTP/1.1')
    expect(request.headers.size).toBe(0)
    expect(request.sendEndStream).toBe(true)
  })

  it('takes a version option', () => {
    expect(RequestHeader.build('GET', '/', { version: 'HTTP/1.0' }).version).toBe('HTTP/1.0')
    expect(RequestHeader.build('GET', '/', { sizeHint: 16 }).version).toBe('HTTP/1.1')
  })

  it('rejects an unknown version with a TypeError', () => {
    expect(() => RequestHeader.build('GET', '/', { version: 'HTTP/3' as 'HTTP/2' })).toThrow(
      new TypeError(
        "Invalid HTTP version: HTTP/3 (expected 'HTTP/0.9', 'HTTP/1.0', 'HTTP/1.1' or 'HTTP/2')",
      ),
    )
  })

  it.each([
    ['empty', ''],
    ['space', 'GE T'],
    ['CRLF', 'GET\r\n'],
    ['NUL', 'G\0ET'],
    ['slash', 'GET/'],
    ['non-latin1', 'G\u0100T'],
  ])('rejects a method with %s', (_label, method) => {
    expectInvalid(() => RequestHeader.build(method, '/'))
    expectInvalid(() => RequestHeader.build('GET', '/').setMethod(method))
  })

  it('accepts extension methods that are tokens', () => {
    const request = RequestHeader.build('PURGE', '/')
    request.setMethod('M-SEARCH')
    expect(request.method).toBe('M-SEARCH')
  })

  it.each([
    ['empty', ''],
    ['space', '/a b'],
    ['CR', '/a\rb'],
    ['LF', '/a\nb'],
    ['NUL', '/a\0b'],
    ['TAB', '/a\tb'],
    ['DEL', '/a\x7f'],
    ['non-latin1', '/\u2603'],
  ])('rejects a path with %s', (_label, path) => {
    expectInvalid(() => RequestHeader.build('GET', path))
    expectInvalid(() => RequestHeader.build('GET', Buffer.from(path, 'latin1')))
    const request = RequestHeader.build('GET', '/ok')
    expectInvalid(() => request.setUri(path))
    expectInvalid(() => request.setRawPath(Buffer.from(path, 'latin1')))
    expect(request.uri).toBe('/ok')
  })
})

describe('RequestHeader target', () => {
  it('round-trips non-UTF-8 path bytes exactly', () => {
    const bytes = Buffer.from([0x2f, 0x66, 0xe9, 0xff, 0x80, 0x3f, 0x71, 0xc3])
    const request = RequestHeader.build('GET', bytes)
    expect(request.rawPath.equals(bytes)).toBe(true)
    expect(request.uri).toBe('/f\xe9\xff\x80?q\xc3')
    const wire = request.toH1Wire()
    const line = wire.subarray(0, wire.indexOf('\r\n'))
    expect(line.equals(Buffer.concat([Buffer.from('GET '), bytes, Buffer.from(' HTTP/1.1')]))).toBe(
      true,
    )
  })

  it('copies the bytes it is given', () => {
    const bytes = Buffer.from('/abc')
    const request = RequestHeader.build('GET', bytes)
    bytes[1] = 0x7a
    expect(request.uri).toBe('/abc')
    request.setRawPath(bytes)
    bytes[2] = 0x7a
    expect(request.uri).toBe('/zbc')
  })

  it('splits path and query at the first question mark', () => {
    const request = RequestHeader.build('GET', '/a/b?x=1&y=?2')
    expect(request.path).toBe('/a/b')
    expect(request.query).toBe('x=1&y=?2')
  })

  it('reports no query without a question mark and an empty one for a bare one', () => {
    expect(RequestHeader.build('GET', '/a').query).toBeUndefined()
    expect(RequestHeader.build('GET', '/a?').query).toBe('')
    expect(RequestHeader.build('GET', '/a?').path).toBe('/a')
  })

  it('skips scheme and authority of an absolute-form target', () => {
    const request = RequestHeader.build('GET', 'http://example.com:8080/p/q.txt?z=1')
    expect(request.path).toBe('/p/q.txt')
    expect(request.query).toBe('z=1')
    expect(request.uriFileExtension()).toBe('txt')
    expect(RequestHeader.build('GET', 'http://example.com').path).toBe('/')
    expect(RequestHeader.build('GET', 'https://example.com?a').path).toBe('/')
    expect(RequestHeader.build('GET', 'https://example.com?a').query).toBe('a')
  })

  it('keeps asterisk-form and authority-form targets as the path', () => {
    expect(RequestHeader.build('OPTIONS', '*').path).toBe('*')
    expect(RequestHeader.build('CONNECT', 'example.com:443').path).toBe('example.com:443')
  })

  it('setUri replaces path and query from a string or bytes', () => {
    const request = RequestHeader.build('GET', '/old')
    request.setUri('/new?a=b')
    expect(request.path).toBe('/new')
    expect(request.query).toBe('a=b')
    expect(request.rawPath.toString('latin1')).toBe('/new?a=b')
    request.setUri(Buffer.from('/bytes\xfe', 'latin1'))
    expect(request.uri).toBe('/bytes\xfe')
  })

  it.each([
    ['/index.html', 'html'],
    ['/a/b.tar.gz?x=y.z', 'gz'],
    ['/dir.d/file', undefined],
    ['/no-extension', undefined],
    ['/trailing.', ''],
    ['/', undefined],
  ])('uriFileExtension of %s is %s', (path, extension) => {
    expect(RequestHeader.build('GET', path).uriFileExtension()).toBe(extension)
  })

  it('fromRaw takes the target as a latin1 string too', () => {
    const request = RequestHeader.fromRaw('GET', '/s\xe9?q', 'HTTP/1.1', new HeaderMap())
    expect(request.uri).toBe('/s\xe9?q')
    expect([...request.rawPath]).toEqual([0x2f, 0x73, 0xe9, 0x3f, 0x71])
    expect(request.query).toBe('q')
  })

  it('fromRaw trusts its parts and decodes the target lazily', () => {
    const headers = HeaderMap.fromRaw(['Host'], ['h'])
    const raw = Buffer.from('/r?q', 'latin1')
    const request = RequestHeader.fromRaw('GET', raw, 'HTTP/1.0', headers)
    expect(request.rawPath).toBe(raw)
    expect(request.headers).toBe(headers)
    expect(request.path).toBe('/r')
    expect(request.version).toBe('HTTP/1.0')
  })
})

describe('RequestHeader headers', () => {
  it('insert, append, get, getAll and remove go to the header map', () => {
    const request = RequestHeader.build('GET', '/')
    request.appendHeader('X-A', '1')
    request.appendHeader('x-a', 2)
    request.insertHeader('Host', 'example.com')
    expect(request.getHeaderAll('X-A')).toEqual(['1', '2'])
    expect(request.getHeader('HOST')).toBe('example.com')
    expect(request.removeHeader('x-a')).toEqual(['1', '2'])
    expect(request.getHeader('x-a')).toBeUndefined()
    expect(request.headers.size).toBe(1)
    request.insertHeader('host', 'other')
    expect([...request.headers]).toEqual([['host', 'other']])
  })

  it('rejects bad names and values on the request', () => {
    const request = RequestHeader.build('GET', '/')
    expectInvalid(() => request.insertHeader('Bad Name', 'v'))
    expectInvalid(() => request.appendHeader('X', 'a\r\nInjected: 1'))
    expect(request.headers.size).toBe(0)
  })

  it('clones independently', () => {
    const request = RequestHeader.build('POST', '/a')
    request.appendHeader('X', '1')
    request.setSendEndStream(false)
    const copy = request.clone()
    copy.insertHeader('X', '2')
    copy.setMethod('PUT')
    copy.setUri('/b')
    copy.setVersion('HTTP/1.0')
    expect(copy.sendEndStream).toBe(false)
    copy.setSendEndStream(true)
    expect(request.getHeader('x')).toBe('1')
    expect(request.method).toBe('POST')
    expect(request.uri).toBe('/a')
    expect(request.version).toBe('HTTP/1.1')
    expect(request.sendEndStream).toBe(false)
    expect(copy.rawPath).not.toBe(request.rawPath)
  })

  it('clone copies the target bytes', () => {
    const request = RequestHeader.fromRaw('GET', Buffer.from('/x'), 'HTTP/1.1', new HeaderMap())
    const copy = request.clone()
    request.rawPath[1] = 0x79
    expect(copy.uri).toBe('/x')
  })
})

describe('RequestHeader HTTP/1 wire', () => {
  it('writes the request line and headers byte for byte with case and order', () => {
    const request = RequestHeader.build('GET', '/p?q=1')
    request.appendHeader('Host', 'example.com')
    request.appendHeader('x-lower', 'a')
    request.appendHeader('X-UPPER', 'b')
    request.appendHeader('x-Mixed-CASE', 'c')
    request.appendHeader('X-Lower', 'd')
    expect(request.toH1Wire().toString('latin1')).toBe(
      'GET /p?q=1 HTTP/1.1\r\n' +
        'Host: example.com\r\n' +
        'x-lower: a\r\n' +
        'X-UPPER: b\r\n' +
        'x-Mixed-CASE: c\r\n' +
        'X-Lower: d\r\n' +
        '\r\n',
    )
  })

  it('writes HTTP/1.0 as is and HTTP/2 and 0.9 as HTTP/1.1', () => {
    const request = RequestHeader.build('HEAD', '/', { version: 'HTTP/1.0' })
    expect(request.toH1String()).toBe('HEAD / HTTP/1.0\r\n\r\n')
    request.setVersion('HTTP/2')
    expect(request.toH1String()).toBe('HEAD / HTTP/1.1\r\n\r\n')
    request.setVersion('HTTP/0.9')
    expect(request.toH1String()).toBe('HEAD / HTTP/1.1\r\n\r\n')
  })

  it('writes obs-text header values as single bytes', () => {
    const request = RequestHeader.build('GET', '/')
    request.appendHeader('X-Name', 'caf\xe9')
    const wire = request.toH1Wire()
    expect(wire.includes(Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0d, 0x0a]))).toBe(true)
    expect(wire.length).toBe(request.toH1String().length)
  })

  it('writeH1Into writes at an offset and returns the end', () => {
    const request = RequestHeader.build('GET', '/')
    request.appendHeader('A', 'b')
    const target = Buffer.alloc(64, 0x2e)
    const end = request.writeH1Into(target, 3)
    expect(end).toBe(3 + 'GET / HTTP/1.1\r\nA: b\r\n\r\n'.length)
    expect(target.subarray(0, end).toString('latin1')).toBe('...GET / HTTP/1.1\r\nA: b\r\n\r\n')
    expect(target[end]).toBe(0x2e)
  })

  it('writeH1Into throws a RangeError when the bytes do not fit', () => {
    const request = RequestHeader.build('GET', '/')
    expect(() => request.writeH1Into(Buffer.alloc(10), 0)).toThrow(RangeError)
  })
})

describe('RequestHeader HTTP/2', () => {
  it('puts pseudo-headers first and lower-cases names', () => {
    const request = RequestHeader.build('GET', '/p?q')
    request.appendHeader('Host', 'example.com')
    request.appendHeader('Accept', '*/*')
    request.appendHeader('X-Multi', '1')
    request.appendHeader('x-multi', '2')
    const h2 = request.toH2Headers()
    expect(Object.keys(h2)).toEqual([
      ':method',
      ':path',
      ':scheme',
      ':authority',
      'accept',
      'x-multi',
    ])
    expect(h2[':method']).toBe('GET')
    expect(h2[':path']).toBe('/p?q')
    expect(h2[':scheme']).toBe('https')
    expect(h2[':authority']).toBe('example.com')
    expect(h2['x-multi']).toEqual(['1', '2'])
    expect(h2.host).toBeUndefined()
  })

  it('prefers the given scheme and authority and drops Host', () => {
    const request = RequestHeader.build('GET', '/')
    request.appendHeader('Host', 'host.example')
    const h2 = request.toH2Headers({ scheme: 'http', authority: 'given.example:8080' })
    expect(h2[':scheme']).toBe('http')
    expect(h2[':authority']).toBe('given.example:8080')
    expect(h2.host).toBeUndefined()
  })

  it('omits :authority without Host or option', () => {
    const h2 = RequestHeader.build('GET', '/').toH2Headers()
    expect(Object.keys(h2)).toEqual([':method', ':path', ':scheme'])
  })

  it('takes scheme, authority and path from an absolute-form target', () => {
    const request = RequestHeader.build('GET', 'http://origin.example:81/a?b')
    request.appendHeader('Host', 'ignored.example')
    const h2 = request.toH2Headers()
    expect(h2[':scheme']).toBe('http')
    expect(h2[':authority']).toBe('origin.example:81')
    expect(h2[':path']).toBe('/a?b')
    expect(RequestHeader.build('GET', 'http://x.example').toH2Headers()[':path']).toBe('/')
    expect(RequestHeader.build('GET', 'http://x.example?q').toH2Headers()[':path']).toBe('/?q')
  })

  it('sends only :method and :authority for CONNECT', () => {
    const h2 = RequestHeader.build('CONNECT', 'tunnel.example:443').toH2Headers()
    expect(Object.keys(h2)).toEqual([':method', ':authority'])
    expect(h2[':authority']).toBe('tunnel.example:443')
  })

  it('drops connection-specific headers and keeps TE: trailers', () => {
    const request = RequestHeader.build('GET', '/')
    request.appendHeader('Connection', 'keep-alive, X-Hop')
    request.appendHeader('Keep-Alive', 'timeout=5')
    request.appendHeader('Proxy-Connection', 'keep-alive')
    request.appendHeader('Transfer-Encoding', 'chunked')
    request.appendHeader('Upgrade', 'websocket')
    request.appendHeader('X-Hop', 'nominated by Connection')
    request.appendHeader('TE', 'Trailers ')
    request.appendHeader('X-Kept', 'yes')
    const h2 = request.toH2Headers()
    expect(Object.keys(h2).filter((name) => !name.startsWith(':'))).toEqual(['te', 'x-kept'])
    expect(h2.te).toBe('Trailers ')
  })

  it('drops TE with anything but trailers', () => {
    const request = RequestHeader.build('GET', '/')
    request.appendHeader('TE', 'gzip, trailers')
    expect(request.toH2Headers().te).toBeUndefined()
  })

  it('returns an object without a prototype, so __proto__ is an ordinary field', () => {
    const request = RequestHeader.build('GET', '/')
    request.appendHeader('__proto__', 'x')
    const h2 = request.toH2Headers()
    expect(Object.getPrototypeOf(h2)).toBeNull()
    expect(Object.keys(h2)).toContain('__proto__')
  })

  it('builds from HTTP/2 headers with :authority as Host', () => {
    const request = RequestHeader.fromH2Headers({
      ':method': 'POST',
      ':path': '/upload?x=1',
      ':scheme': 'https',
      ':authority': 'example.com',
      'content-type': 'text/plain',
      'set-cookie': ['a=1', 'b=2'],
    })
    expect(request.method).toBe('POST')
    expect(request.version).toBe('HTTP/2')
    expect(request.path).toBe('/upload')
    expect(request.query).toBe('x=1')
    expect([...request.headers]).toEqual([
      ['host', 'example.com'],
      ['content-type', 'text/plain'],
      ['set-cookie', 'a=1'],
      ['set-cookie', 'b=2'],
    ])
  })

  it('follows rawHeaders order and lets :authority replace a host field', () => {
    const headers = {
      ':method': 'GET',
      ':path': '/',
      ':scheme': 'http',
      ':authority': 'auth.example',
      host: 'other.example',
      b: '2',
      a: '1',
    }
    const raw = [':method', 'GET', 'a', '1', 'host', 'other.example', 'b', '2', 'a', '3']
    const request = RequestHeader.fromH2Headers(headers, raw)
    expect([...request.headers]).toEqual([
      ['host', 'auth.example'],
      ['a', '1'],
      ['b', '2'],
      ['a', '3'],
    ])
  })

  it('joins split cookie fields with "; " at the first one', () => {
    const request = RequestHeader.fromH2Headers(
      { ':method': 'GET', ':path': '/', ':scheme': 'https', cookie: 'a=1; b=2; c=3', x: '1' },
      [':method', 'GET', 'cookie', 'a=1', 'x', '1', 'cookie', 'b=2', 'cookie', 'c=3'],
    )
    expect([...request.headers]).toEqual([
      ['cookie', 'a=1; b=2; c=3'],
      ['x', '1'],
    ])
  })

  it('keeps a host field when there is no :authority', () => {
    const request = RequestHeader.fromH2Headers({
      ':method': 'GET',
      ':path': '/',
      ':scheme': 'https',
      host: 'h.example',
    })
    expect(request.getHeader('host')).toBe('h.example')
  })

  it('builds a CONNECT request from :authority', () => {
    const request = RequestHeader.fromH2Headers({
      ':method': 'CONNECT',
      ':authority': 'tunnel.example:443',
    })
    expect(request.uri).toBe('tunnel.example:443')
    expect(request.getHeader('host')).toBe('tunnel.example:443')
  })

  it.each([
    ['no :method', { ':path': '/', ':scheme': 'https' }],
    ['no :path', { ':method': 'GET', ':scheme': 'https' }],
    ['no :scheme', { ':method': 'GET', ':path': '/' }],
    ['CONNECT without :authority', { ':method': 'CONNECT' }],
    ['a bad method', { ':method': 'G T', ':path': '/', ':scheme': 'https' }],
    ['a bad path', { ':method': 'GET', ':path': '/a b', ':scheme': 'https' }],
    ['an unknown pseudo-header', { ':method': 'GET', ':path': '/', ':scheme': 'https', ':x': '1' }],
    ['a bad value', { ':method': 'GET', ':path': '/', ':scheme': 'https', x: 'a\nb' }],
    ['a bad name', { ':method': 'GET', ':path': '/', ':scheme': 'https', 'a b': '1' }],
  ])('rejects HTTP/2 headers with %s as downstream InvalidHTTPHeader', (_label, headers) => {
    expectInvalid(() => RequestHeader.fromH2Headers(headers), 'downstream')
    // The same block as node:http2 gives it: the object and the flat wire list.
    const raw = Object.entries(headers).flat()
    expectInvalid(() => RequestHeader.fromH2Headers(headers, raw), 'downstream')
  })

  it('round-trips through HTTP/2 headers', () => {
    const request = RequestHeader.build('PUT', '/r?s=1')
    request.appendHeader('Host', 'rt.example')
    request.appendHeader('X-A', '1')
    request.appendHeader('X-A', '2')
    const back = RequestHeader.fromH2Headers(request.toH2Headers())
    expect(back.method).toBe('PUT')
    expect(back.uri).toBe('/r?s=1')
    expect([...back.headers]).toEqual([
      ['host', 'rt.example'],
      ['x-a', '1'],
      ['x-a', '2'],
    ])
  })
})
