import { Buffer } from 'node:buffer'
import { setFlagsFromString } from 'node:v8'
import { describe, expect, it } from 'vitest'
import { HeaderMap } from './header-map.ts'
import { RequestHeader } from './request-header.ts'
import { ResponseHeader } from './response-header.ts'

// V8's %HaveSameMap tells whether two objects share a hidden class (fastify's same-shape test).
setFlagsFromString('--allow-natives-syntax')
const haveSameMap = new Function('a', 'b', 'return %HaveSameMap(a, b)') as (
  a: object,
  b: object,
) => boolean

describe('same shape', () => {
  it('gives every HeaderMap one hidden class however it was made or changed', () => {
    const built = new HeaderMap([['A', '1']])
    const raw = HeaderMap.fromRaw(['A'], ['1'])
    const cloned = raw.clone()
    const mutated = new HeaderMap()
    mutated.append('A', '1')
    mutated.get('a')
    mutated.insert('B', '2')
    mutated.remove('a')
    mutated.clear()
    expect(haveSameMap(built, raw)).toBe(true)
    expect(haveSameMap(built, cloned)).toBe(true)
    expect(haveSameMap(built, mutated)).toBe(true)
  })

  it('gives every RequestHeader one hidden class however it was made or changed', () => {
    const built = RequestHeader.build('GET', '/')
    const fromBytes = RequestHeader.build('GET', Buffer.from('/'))
    const raw = RequestHeader.fromRaw('GET', Buffer.from('/'), 'HTTP/1.1', new HeaderMap())
    const h2 = RequestHeader.fromH2Headers({ ':method': 'GET', ':path': '/', ':scheme': 'https' })
    const changed = built.clone()
    changed.setUri('/x?y')
    changed.setSendEndStream(false)
    changed.setVersion('HTTP/1.0')
    void raw.uri
    for (const other of [fromBytes, raw, h2, changed]) expect(haveSameMap(built, other)).toBe(true)
  })

  it('gives every ResponseHeader one hidden class however it was made or changed', () => {
    const built = ResponseHeader.build(200)
    const raw = ResponseHeader.fromRaw(404, 'Nope', 'HTTP/1.0', new HeaderMap())
    const h2 = ResponseHeader.fromH2Headers({ ':status': 204 } as never)
    const changed = built.clone()
    changed.setReasonPhrase('Fine')
    changed.setStatus(500)
    changed.setContentLength(3)
    for (const other of [raw, h2, changed]) expect(haveSameMap(built, other)).toBe(true)
  })
})
