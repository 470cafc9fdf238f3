import { RequestHeader, ResponseHeader } from '@pingora-ts/http'
import { describe, expect, it } from 'vitest'
import { parseRange, RangeBodyFilter, rangeHeaderFilter } from './range.ts'

const BODY = Buffer.from('0123456789abcdefghij') // 20 bytes

function request(range: string | undefined, fields: Record<string, string> = {}, method = 'GET') {
  const header = RequestHeader.build(method, '/')
  if (range !== undefined) header.insertHeader('Range', range)
  for (const [name, value] of Object.entries(fields)) header.insertHeader(name, value)
  return header
}

function full(fields: Record<string, string> = {}) {
  const header = ResponseHeader.build(200)
  header.insertHeader('Content-Type', 'text/plain')
  header.insertHeader('ETag', '"strong"')
  header.insertHeader('Last-Modified', 'Sun, 06 Nov 1994 08:49:37 GMT')
  header.setContentLength(BODY.length)
  for (const [name, value] of Object.entries(fields)) header.insertHeader(name, value)
  return header
}

// Feeds the body in small chunks, as a storage or origin would, and joins the output.
function cut(range: ReturnType<typeof parseRange>, contentType = 'text/plain'): string {
  const filter = new RangeBodyFilter(range, contentType, BODY.length)
  const out: Uint8Array[] = []
  for (let i = 0; i < BODY.length; i += 3) {
    const end = Math.min(BODY.length, i + 3)
    out.push(filter.filter(BODY.subarray(i, end), end === BODY.length))
  }
  return Buffer.concat(out).toString('latin1')
}

describe('parseRange', () => {
  it('reads first-last, open-ended and suffix ranges, clamped to the length', () => {
    expect(parseRange('bytes=2-5', 20)).toEqual({ kind: 'single', range: { start: 2, end: 5 } })
    expect(parseRange('bytes=15-', 20)).toEqual({ kind: 'single', range: { start: 15, end: 19 } })
    expect(parseRange('bytes=-5', 20)).toEqual({ kind: 'single', range: { start: 15, end: 19 } })
    expect(parseRange('bytes=-50', 20)).toEqual({ kind: 'single', range: { start: 0, end: 19 } })
    expect(parseRange('bytes=10-100', 20)).toEqual({
      kind: 'single',
      range: { start: 10, end: 19 },
    })
  })

  it('is invalid when malformed or unsatisfiable, ignored for other units or too many ranges', () => {
    for (const bad of [
      'bytes=',
      'bytes=5-2',
      'bytes=a-b',
      'bytes=20-',
      'bytes=-0',
      'bytes',
      'bytes=1-2-3',
    ]) {
      expect(parseRange(bad, 20).kind, bad).toBe('invalid')
    }
    expect(parseRange('items=1-2', 20).kind).toBe('none')
    expect(parseRange('bytes=1-1,2-2,3-3', 20, 2).kind).toBe('none')
  })

  it('coalesces overlapping ranges and orders parts by position', () => {
    const range = parseRange('bytes=10-12, 0-1, 11-15', 20)
    expect(range.kind === 'multi' && range.ranges).toEqual([
      { start: 0, end: 1 },
      { start: 10, end: 15 },
    ])
    expect(parseRange('bytes=0-5,3-8', 20)).toEqual({ kind: 'single', range: { start: 0, end: 8 } })
  })
})

describe('rangeHeaderFilter and RangeBodyFilter', () => {
  it('answers a single range with 206 and Content-Range', () => {
    const header = full()
    const range = rangeHeaderFilter(request('bytes=2-5'), header)
    expect(header.status).toBe(206)
    expect(header.getHeader('content-range')).toBe('bytes 2-5/20')
    expect(header.getHeader('content-length')).toBe('4')
    expect(cut(range)).toBe('2345')
  })

  it('answers several ranges with multipart/byteranges whose length matches the body', () => {
    const header = full()
    const range = rangeHeaderFilter(request('bytes=0-1,18-'), header)
    expect(header.status).toBe(206)
    const type = header.getHeader('content-type') ?? ''
    expect(type).toMatch(/^multipart\/byteranges; boundary=/)
    const boundary = type.split('boundary=')[1]
    const body = cut(range)
    expect(body.length).toBe(Number(header.getHeader('content-length')))
    expect(body).toBe(
      `--${boundary}\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-1/20\r\n\r\n01` +
        `\r\n--${boundary}\r\nContent-Type: text/plain\r\nContent-Range: bytes 18-19/20\r\n\r\nij` +
        `\r\n--${boundary}--\r\n`,
    )
  })

  it('answers an unsatisfiable range with 416 and bytes */length', () => {
    const header = full()
    const range = rangeHeaderFilter(request('bytes=30-40'), header)
    expect(header.status).toBe(416)
    expect(header.getHeader('content-range')).toBe('bytes */20')
    expect(header.getHeader('content-length')).toBe('0')
    expect(header.getHeader('content-type')).toBeUndefined()
    expect(cut(range)).toBe('')
  })

  it('honours If-Range: a matching strong ETag or date keeps the range, anything else serves all', () => {
    for (const [ifRange, status] of [
      ['"strong"', 206],
      ['W/"strong"', 200],
      ['"other"', 200],
      ['Sun, 06 Nov 1994 08:49:37 GMT', 206],
      ['Sun, 06 Nov 1994 08:49:38 GMT', 200],
    ] as const) {
      const header = full()
      rangeHeaderFilter(request('bytes=0-0', { 'if-range': ifRange }), header)
      expect(header.status, ifRange).toBe(status)
    }
  })

  it('leaves non-GET, non-200 and unknown-length responses alone but advertises Accept-Ranges', () => {
    const head = full()
    expect(rangeHeaderFilter(request('bytes=0-0', {}, 'HEAD'), head).kind).toBe('none')
    expect(head.getHeader('accept-ranges')).toBe('bytes')
    const notFound = ResponseHeader.build(404)
    expect(rangeHeaderFilter(request('bytes=0-0'), notFound).kind).toBe('none')
    const chunked = ResponseHeader.build(200)
    expect(rangeHeaderFilter(request('bytes=0-0'), chunked).kind).toBe('none')
    expect(chunked.status).toBe(200)
  })
})
