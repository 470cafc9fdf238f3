import { HeaderMap } from '@pingora-ts/http'
import { describe, expect, it } from 'vitest'
import { removeHopByHopHeaders } from './hop-by-hop.ts'

function names(headers: HeaderMap): string[] {
  return [...headers].map(([name]) => name)
}

describe('removeHopByHopHeaders', () => {
  it('leaves a map without hop-by-hop fields untouched and returns false', () => {
    const headers = new HeaderMap([
      ['Host', 'a'],
      ['Accept', '*/*'],
      ['Content-Length', '3'],
    ])
    expect(removeHopByHopHeaders(headers)).toBe(false)
    expect(names(headers)).toEqual(['Host', 'Accept', 'Content-Length'])
  })

  it('removes every fixed hop-by-hop field in any case', () => {
    const headers = new HeaderMap([
      ['CONNECTION', 'keep-alive'],
      ['Keep-Alive', 'timeout=5'],
      ['proxy-connection', 'keep-alive'],
      ['Te', 'trailers'],
      ['Trailer', 'X-Sum'],
      ['Transfer-Encoding', 'chunked'],
      ['Upgrade', 'websocket'],
      ['X-Kept', '1'],
    ])
    expect(removeHopByHopHeaders(headers)).toBe(true)
    expect(names(headers)).toEqual(['X-Kept'])
  })

  it('removes the fields named by Connection (trimmed, any case) but never Host or Content-Length', () => {
    const headers = new HeaderMap([
      ['Host', 'a'],
      ['Connection', ' X-Foo ,\tx-bar, , Host,content-length, close'],
      ['x-foo', '1'],
      ['X-BAR', '2'],
      ['X-Baz', '3'],
      ['Content-Length', '0'],
      ['Connection', 'X-Baz'],
    ])
    expect(removeHopByHopHeaders(headers)).toBe(true)
    expect(names(headers)).toEqual(['Host', 'Content-Length'])
  })

  it('keeps Upgrade and sets Connection: upgrade for a forwarded upgrade', () => {
    const headers = new HeaderMap([
      ['Connection', 'Upgrade, X-Foo'],
      ['Upgrade', 'websocket'],
      ['X-Foo', '1'],
      ['Keep-Alive', 'timeout=5'],
    ])
    expect(removeHopByHopHeaders(headers, true)).toBe(true)
    expect([...headers]).toEqual([
      ['Upgrade', 'websocket'],
      ['Connection', 'upgrade'],
    ])
  })

  it('adds Connection: upgrade when only Upgrade was present', () => {
    const headers = new HeaderMap([['Upgrade', 'h2c']])
    expect(removeHopByHopHeaders(headers, true)).toBe(true)
    expect([...headers]).toEqual([
      ['Upgrade', 'h2c'],
      ['Connection', 'upgrade'],
    ])
  })
})
