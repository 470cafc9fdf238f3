import { RequestHeader, ResponseHeader } from '@pingora-ts/http'
import { describe, expect, it } from 'vitest'
import { etagListMatchesWeak, notModifiedFilter, splitEtags, toNotModified } from './conditional.ts'

function request(method: string, fields: Record<string, string>): RequestHeader {
  const header = RequestHeader.build(method, '/')
  for (const [name, value] of Object.entries(fields)) header.insertHeader(name, value)
  return header
}

function ok(fields: Record<string, string>, status = 200): ResponseHeader {
  const header = ResponseHeader.build(status)
  for (const [name, value] of Object.entries(fields)) header.insertHeader(name, value)
  return header
}

describe('notModifiedFilter', () => {
  const stored = ok({ etag: 'W/"v1"', 'last-modified': 'Sun, 06 Nov 1994 08:49:37 GMT' })

  it('answers If-None-Match with the weak comparison', () => {
    expect(notModifiedFilter(request('GET', { 'if-none-match': '"v1"' }), stored)).toBe(true)
    expect(notModifiedFilter(request('HEAD', { 'if-none-match': '"x", W/"v1"' }), stored)).toBe(
      true,
    )
    expect(notModifiedFilter(request('GET', { 'if-none-match': '*' }), stored)).toBe(true)
    expect(notModifiedFilter(request('GET', { 'if-none-match': '"v2"' }), stored)).toBe(false)
  })

  it('ignores If-Modified-Since when If-None-Match is present', () => {
    const both = request('GET', {
      'if-none-match': '"v2"',
      'if-modified-since': 'Sun, 06 Nov 1994 08:49:37 GMT',
    })
    expect(notModifiedFilter(both, stored)).toBe(false)
  })

  it('compares If-Modified-Since with Last-Modified', () => {
    expect(
      notModifiedFilter(
        request('GET', { 'if-modified-since': 'Sun, 06 Nov 1994 08:49:37 GMT' }),
        stored,
      ),
    ).toBe(true)
    expect(
      notModifiedFilter(
        request('GET', { 'if-modified-since': 'Sat, 05 Nov 1994 08:49:37 GMT' }),
        stored,
      ),
    ).toBe(false)
    expect(notModifiedFilter(request('GET', { 'if-modified-since': 'garbage' }), stored)).toBe(
      false,
    )
  })

  it('applies only to GET/HEAD and 200', () => {
    expect(notModifiedFilter(request('POST', { 'if-none-match': '*' }), stored)).toBe(false)
    expect(
      notModifiedFilter(request('GET', { 'if-none-match': '*' }), ok({ etag: '"a"' }, 404)),
    ).toBe(false)
  })

  it('turns a 200 into a bodiless 304', () => {
    const header = ok({
      etag: '"a"',
      'content-length': '10',
      'content-type': 'text/plain',
      'cache-control': 'max-age=1',
    })
    toNotModified(header)
    expect(header.status).toBe(304)
    expect(header.getHeader('content-length')).toBeUndefined()
    expect(header.getHeader('content-type')).toBeUndefined()
    expect(header.getHeader('etag')).toBe('"a"')
    expect(header.getHeader('cache-control')).toBe('max-age=1')
  })
})

describe('entity tags', () => {
  it('splits lists on commas outside quotes', () => {
    expect(splitEtags('"a,b", W/"c" ,"d"')).toEqual(['"a,b"', 'W/"c"', '"d"'])
    expect(etagListMatchesWeak(['"a,b"'], 'W/"a,b"')).toBe(true)
  })
})
