import { Buffer } from 'node:buffer'
import { PingoraError } from '@pingora-ts/error'
import { describe, expect, it } from 'vitest'
import { HeaderMap } from './header-map.ts'

function expectInvalid(fn: () => unknown): void {
  let caught: unknown
  try {
    fn()
  } catch (error) {
    caught = error
  }
  expect(PingoraError.is(caught)).toBe(true)
  const error = caught as PingoraError
  expect(error.type).toBe('InvalidHTTPHeader')
  expect(error.source).toBe('internal')
}

describe('HeaderMap', () => {
  it('looks names up case-insensitively and keeps the case given', () => {
    const map = new HeaderMap()
    map.append('Content-Type', 'text/html')
    expect(map.get('content-type')).toBe('text/html')
    expect(map.get('CONTENT-TYPE')).toBe('text/html')
    expect(map.has('cOnTeNt-TyPe')).toBe(true)
    expect(map.nameAt(0)).toBe('Content-Type')
    expect(map.lowerNameAt(0)).toBe('content-type')
  })

  it('folds only ASCII letters when comparing names', () => {
    const map = new HeaderMap([
      ['X^Y', 'caret'],
      ['x~y', 'tilde'],
      ['X_1', 'underscore'],
    ])
    expect(map.get('x^y')).toBe('caret')
    expect(map.get('X~Y')).toBe('tilde')
    expect(map.get('x\x7f1')).toBeUndefined()
    expect(map.get('x_1')).toBe('underscore')
    expect(map.nameEquals(0, 'x^y')).toBe(true)
    expect(map.nameEquals(0, 'x~y')).toBe(false)
  })

  it('returns undefined and an empty list for an absent name', () => {
    const map = new HeaderMap([['A', '1']])
    expect(map.get('b')).toBeUndefined()
    expect(map.getAll('b')).toEqual([])
    expect(map.has('b')).toBe(false)
    expect(map.indexOf('b')).toBe(-1)
  })

  it('keeps repeated names in order with their own case', () => {
    const map = new HeaderMap()
    map.append('Set-Cookie', 'a=1')
    map.append('X-Other', 'x')
    map.append('set-cookie', 'b=2')
    map.append('SET-COOKIE', 'c=3')
    expect(map.size).toBe(4)
    expect(map.get('set-cookie')).toBe('a=1')
    expect(map.getAll('Set-Cookie')).toEqual(['a=1', 'b=2', 'c=3'])
    expect([...map]).toEqual([
      ['Set-Cookie', 'a=1'],
      ['X-Other', 'x'],
      ['set-cookie', 'b=2'],
      ['SET-COOKIE', 'c=3'],
    ])
  })

  it('insert replaces every value of a name, in the position of the first', () => {
    const map = new HeaderMap([
      ['Accept', 'a'],
      ['Via', '1'],
      ['Host', 'h'],
      ['via', '2'],
      ['X', 'x'],
      ['VIA', '3'],
    ])
    map.insert('Via', 'only')
    expect([...map]).toEqual([
      ['Accept', 'a'],
      ['Via', 'only'],
      ['Host', 'h'],
      ['X', 'x'],
    ])
    expect(map.getAll('via')).toEqual(['only'])
    expect(map.get('x')).toBe('x')
  })

  it('insert takes the case of the new name', () => {
    const map = new HeaderMap([['x-trace', 'a']])
    map.insert('X-Trace', 'b')
    expect(map.nameAt(0)).toBe('X-Trace')
    expect(map.get('x-trace')).toBe('b')
  })

  it('insert appends a name that is absent', () => {
    const map = new HeaderMap([['A', '1']])
    map.insert('B', '2')
    expect([...map]).toEqual([
      ['A', '1'],
      ['B', '2'],
    ])
  })

  it('remove returns the removed values and keeps the others in order', () => {
    const map = new HeaderMap([
      ['A', '1'],
      ['Cookie', 'x'],
      ['B', '2'],
      ['cookie', 'y'],
    ])
    expect(map.remove('COOKIE')).toEqual(['x', 'y'])
    expect([...map]).toEqual([
      ['A', '1'],
      ['B', '2'],
    ])
    expect(map.lowerNameAt(1)).toBe('b')
    expect(map.remove('cookie')).toBeUndefined()
  })

  it('keeps lookups right after appends that follow a lookup', () => {
    const map = new HeaderMap()
    map.append('A', '1')
    expect(map.get('a')).toBe('1')
    map.append('B', '2')
    map.append('a', '3')
    expect(map.getAll('A')).toEqual(['1', '3'])
    expect(map.get('b')).toBe('2')
    map.remove('a')
    map.append('C', '4')
    expect(map.indexOf('c')).toBe(1)
  })

  it('converts numbers with String()', () => {
    const map = new HeaderMap()
    map.append('Content-Length', 42)
    map.insert('Age', 0)
    map.append('X-Float', 1.5)
    expect(map.get('content-length')).toBe('42')
    expect(map.get('age')).toBe('0')
    expect(map.get('x-float')).toBe('1.5')
  })

  it('decodes byte values as latin1, so obs-text round-trips', () => {
    const map = new HeaderMap()
    const bytes = Uint8Array.from([0x63, 0x61, 0x66, 0xc3, 0xa9, 0xff])
    map.append('X-Bytes', bytes)
    const value = map.get('x-bytes') as string
    expect(value.length).toBe(6)
    expect(Buffer.from(value, 'latin1').equals(Buffer.from(bytes))).toBe(true)
  })

  it('decodes a byte view at its offset', () => {
    const backing = Buffer.from('xxabcxx', 'latin1')
    const map = new HeaderMap()
    map.append('X', backing.subarray(2, 5))
    expect(map.get('x')).toBe('abc')
  })

  it('accepts HTAB, SP, VCHAR, obs-text and empty values', () => {
    const map = new HeaderMap()
    map.append('A', '')
    map.append('B', ' spaced\tvalue ')
    map.append('C', '\x80\xff')
    expect(map.getAll('b')).toEqual([' spaced\tvalue '])
    expect(map.get('a')).toBe('')
    expect(map.get('c')).toBe('\x80\xff')
  })

  it.each([
    ['empty', ''],
    ['space', 'Bad Name'],
    ['colon', 'Bad:Name'],
    ['CR', 'Bad\rName'],
    ['LF', 'Bad\nName'],
    ['NUL', 'Bad\0Name'],
    ['non-latin1', 'Bad\u0100'],
    ['obs-text', 'Caf\xe9'],
    ['separator', 'a(b)'],
  ])('rejects a header name with %s', (_label, name) => {
    expectInvalid(() => new HeaderMap().append(name, 'v'))
    expectInvalid(() => new HeaderMap().insert(name, 'v'))
  })

  it.each([
    ['CR', 'a\rb'],
    ['LF', 'a\nb'],
    ['CRLF injection', 'x\r\nInjected: yes'],
    ['NUL', 'a\0b'],
    ['BEL', 'a\x07b'],
    ['DEL', 'a\x7fb'],
    ['non-latin1', 'caf\u00e9\u2603'],
  ])('rejects a header value with %s', (_label, value) => {
    expectInvalid(() => new HeaderMap().append('X', value))
    expectInvalid(() => new HeaderMap().insert('X', value))
  })

  it.each([
    ['LF', '\n'],
    ['CR', '\r'],
    ['NUL', '\0'],
    ['DEL', '\x7f'],
    ['non-latin1', '\u0100'],
  ])('rejects a long header value with %s at any position', (_label, bad) => {
    const long = 'x'.repeat(40)
    for (const value of [bad + long, long + bad, long.slice(0, 20) + bad + long]) {
      expectInvalid(() => new HeaderMap().append('X', value))
    }
    expect(() => new HeaderMap().append('X', `${long}\t\x80\xff ok`)).not.toThrow()
  })

  it('validates the pairs given to the constructor', () => {
    expectInvalid(() => new HeaderMap([['Bad Name', 'x']]))
    expectInvalid(() => new HeaderMap([['Ok', 'bad\r\n']]))
    expect([...new HeaderMap([['Ok', 1]])]).toEqual([['Ok', '1']])
  })

  it('rejects values that are neither strings, numbers nor bytes', () => {
    expectInvalid(() => new HeaderMap().append('X', {} as unknown as string))
  })

  it('rejects a bad name every time, and keeps accepting a good one it has seen', () => {
    const map = new HeaderMap()
    for (let i = 0; i < 3; i++) {
      expectInvalid(() => map.append('Bad Name', 'v'))
      map.append('Good-Name', String(i))
    }
    // More distinct names than the validation cache holds.
    for (let i = 0; i < 600; i++) map.append(`X-Name-${i}`, 'v')
    expectInvalid(() => map.append('Bad Name', 'v'))
    map.append('Good-Name', '3')
    expect(map.getAll('good-name')).toEqual(['0', '1', '2', '3'])
    expect(map.size).toBe(604)
  })

  it('leaves the map unchanged when a write is rejected', () => {
    const map = new HeaderMap([['A', '1']])
    expectInvalid(() => map.insert('A', 'bad\n'))
    expectInvalid(() => map.append('B', 'bad\r'))
    expect([...map]).toEqual([['A', '1']])
  })

  it('fromRaw takes the arrays as they are', () => {
    const names = ['Host', 'X-Weird']
    const values = ['a', 'b']
    const map = HeaderMap.fromRaw(names, values)
    expect(map.get('host')).toBe('a')
    map.append('C', 'c')
    expect(names).toEqual(['Host', 'X-Weird', 'C'])
  })

  it('fromRaw rejects arrays of different lengths', () => {
    expect(() => HeaderMap.fromRaw(['a'], [])).toThrow(
      new TypeError('HeaderMap.fromRaw: names and values differ in length (1 and 0)'),
    )
  })

  it('clones independently', () => {
    const map = new HeaderMap([
      ['A', '1'],
      ['B', '2'],
    ])
    map.get('a')
    const copy = map.clone()
    copy.insert('A', 'changed')
    copy.append('C', '3')
    map.remove('b')
    expect([...map]).toEqual([['A', '1']])
    expect([...copy]).toEqual([
      ['A', 'changed'],
      ['B', '2'],
      ['C', '3'],
    ])
  })

  it('clear empties the map and it stays usable', () => {
    const map = new HeaderMap([['A', '1']])
    map.get('a')
    map.clear()
    expect(map.size).toBe(0)
    expect(map.get('a')).toBeUndefined()
    map.append('B', '2')
    expect(map.get('b')).toBe('2')
  })

  it('forEach visits value, name and map in order', () => {
    const map = new HeaderMap([
      ['A', '1'],
      ['b', '2'],
    ])
    const seen: string[] = []
    map.forEach((value, name, self) => {
      expect(self).toBe(map)
      seen.push(`${name}=${value}`)
    })
    expect(seen).toEqual(['A=1', 'b=2'])
  })

  it('entries and the iterator agree and allow index access', () => {
    const map = new HeaderMap([
      ['A', '1'],
      ['B', '2'],
    ])
    expect([...map.entries()]).toEqual([...map])
    expect(map.valueAt(1)).toBe('2')
    expect(map.nameAt(1)).toBe('B')
  })

  it('serializes to HTTP/1 lines with case and order preserved', () => {
    const map = new HeaderMap([
      ['hOsT', 'a'],
      ['X-A', '1'],
      ['x-a', '2'],
    ])
    expect(map.toH1String()).toBe('hOsT: a\r\nX-A: 1\r\nx-a: 2\r\n')
  })
})
