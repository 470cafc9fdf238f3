import { describe, expect, it } from 'vitest'
import {
  findHeadEnd,
  hasBareLf,
  hasToken,
  lastToken,
  ParsedRequestHead,
  ParsedResponseHead,
  parseContentLength,
  parseRequestHead,
  parseResponseHead,
  skipLeadingCrlf,
} from './parse.ts'

const LIMITS = { maxRequestLineBytes: 8192, maxHeaderBytes: 1 << 20, maxHeaders: 256 }

function request(text: string, limits = LIMITS): [number, ParsedRequestHead] {
  const buf = Buffer.from(text, 'latin1')
  const out = new ParsedRequestHead()
  return [parseRequestHead(buf, 0, findHeadEnd(buf, 0), limits, out), out]
}

function response(text: string): [number, ParsedResponseHead] {
  const buf = Buffer.from(text, 'latin1')
  const out = new ParsedResponseHead()
  return [parseResponseHead(buf, 0, findHeadEnd(buf, 0), LIMITS, out), out]
}

describe('findHeadEnd', () => {
  it('finds the offset just past CRLF CRLF', () => {
    expect(findHeadEnd(Buffer.from('GET / HTTP/1.1\r\n\r\nbody'), 0)).toBe(18)
  })

  it('finds a terminator that straddles the resume offset', () => {
    const buf = Buffer.from('GET / HTTP/1.1\r\nA: b\r\n\r\n')
    expect(findHeadEnd(buf, buf.length - 2)).toBe(buf.length)
  })

  it('returns -1 for an incomplete head', () => {
    expect(findHeadEnd(Buffer.from('GET / HTTP/1.1\r\nA: b\r\n'), 0)).toBe(-1)
  })
})

describe('hasBareLf and skipLeadingCrlf', () => {
  it('spots a LF not preceded by CR, from the given offset', () => {
    expect(hasBareLf(Buffer.from('a\r\nb\nc'), 0)).toBe(true)
    expect(hasBareLf(Buffer.from('a\r\nb\r\n'), 0)).toBe(false)
    expect(hasBareLf(Buffer.from('\nabc'), 0)).toBe(true)
    expect(hasBareLf(Buffer.from('a\nb\r\n'), 2)).toBe(false)
  })

  it('skips whole CRLF pairs only', () => {
    expect(skipLeadingCrlf(Buffer.from('\r\n\r\nGET'))).toBe(4)
    expect(skipLeadingCrlf(Buffer.from('\r\r\nGET'))).toBe(0)
    expect(skipLeadingCrlf(Buffer.from('GET'))).toBe(0)
  })
})

describe('parseRequestHead', () => {
  it('parses the request line and every field in order', () => {
    const [status, out] = request('POST /a?b=c HTTP/1.1\r\nHost: x\r\nX-Y:  z \r\n\r\n')
    expect(status).toBe(0)
    expect([out.method, out.target.toString(), out.version]).toEqual(['POST', '/a?b=c', 'HTTP/1.1'])
    expect(out.names).toEqual(['Host', 'X-Y'])
    expect(out.values).toEqual(['x', 'z'])
  })

  it('maps HTTP/1.0 and higher HTTP/1 minors', () => {
    expect(request('GET / HTTP/1.0\r\n\r\n')[1].version).toBe('HTTP/1.0')
    expect(request('GET / HTTP/1.9\r\n\r\n')[1].version).toBe('HTTP/1.1')
  })

  it('answers 505 for other major versions and 400 for malformed ones', () => {
    expect(request('GET / HTTP/2.0\r\n\r\n')[0]).toBe(505)
    expect(request('GET / HTTP/0.9\r\n\r\n')[0]).toBe(505)
    expect(request('GET / HTTP/1\r\n\r\n')[0]).toBe(400)
    expect(request('GET / HTTPS/1.1\r\n\r\n')[0]).toBe(400)
  })

  it('answers 414 when the request line exceeds the limit', () => {
    const limits = { ...LIMITS, maxRequestLineBytes: 10 }
    expect(request('GET /0123456789 HTTP/1.1\r\n\r\n', limits)[0]).toBe(414)
  })

  it('answers 431 past the field count limit', () => {
    const limits = { ...LIMITS, maxHeaders: 1 }
    expect(request('GET / HTTP/1.1\r\nA: 1\r\n\r\n', limits)[0]).toBe(0)
    expect(request('GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\n\r\n', limits)[0]).toBe(431)
  })

  it('rejects a bare CR at the end of a value', () => {
    expect(request('GET / HTTP/1.1\r\nA: 1\r\r\n\r\n')[0]).toBe(400)
  })

  it('keeps obs-text bytes in values', () => {
    const [status, out] = request('GET / HTTP/1.1\r\nA: \xe9\xff\r\n\r\n')
    expect(status).toBe(0)
    expect(out.values).toEqual(['\xe9\xff'])
  })
})

describe('parseResponseHead', () => {
  it('parses status, reason and fields', () => {
    const [status, out] = response('HTTP/1.1 404 Not Here\r\nA: b\r\n\r\n')
    expect(status).toBe(0)
    expect([out.status, out.reason, out.version, out.names]).toEqual([
      404,
      'Not Here',
      'HTTP/1.1',
      ['A'],
    ])
  })

  it('accepts an empty reason with or without the space', () => {
    expect(response('HTTP/1.1 200 \r\n\r\n')[1].reason).toBe('')
    expect(response('HTTP/1.1 200\r\n\r\n')[0]).toBe(0)
  })

  it('rejects malformed status codes', () => {
    expect(response('HTTP/1.1 20 OK\r\n\r\n')[0]).not.toBe(0)
    expect(response('HTTP/1.1 099 X\r\n\r\n')[0]).not.toBe(0)
    expect(response('HTTP/1.1 2000 X\r\n\r\n')[0]).not.toBe(0)
    expect(response('HTTP/1.1 abc X\r\n\r\n')[0]).not.toBe(0)
  })
})

describe('parseContentLength', () => {
  const cases: Array<[string, number]> = [
    ['0', 0],
    ['42', 42],
    ['007', 7],
    ['5, 5', 5],
    ['5 , 5,5', 5],
    ['9007199254740991', Number.MAX_SAFE_INTEGER],
    ['9007199254740992', -1],
    ['12345678901234567', -1],
    ['1,2', -1],
    ['5,', -1],
    [',5', -1],
    ['', -1],
    ['-0', -1],
    ['+5', -1],
    ['5a', -1],
    ['1 2', -1],
    ['0x5', -1],
    ['1e3', -1],
    ['٣', -1],
  ]
  for (const [value, expected] of cases) {
    it(`parses ${JSON.stringify(value)} as ${expected}`, () => {
      expect(parseContentLength(value)).toBe(expected)
    })
  }
})

describe('hasToken and lastToken', () => {
  it('finds list members case-insensitively and exactly', () => {
    expect(hasToken('keep-alive, Upgrade', 'upgrade')).toBe(true)
    expect(hasToken('Close', 'close')).toBe(true)
    expect(hasToken('notclose', 'close')).toBe(false)
    expect(hasToken(' ,close ,', 'close')).toBe(true)
    expect(hasToken('', 'close')).toBe(false)
  })

  it('returns the trimmed last member', () => {
    expect(lastToken('gzip, chunked ')).toBe('chunked')
    expect(lastToken('chunked,')).toBe('')
    expect(lastToken('chunked')).toBe('chunked')
  })
})
