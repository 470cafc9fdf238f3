import { describe, expect, it } from 'vitest'
import { formatHttpDate, parseHttpDate } from './http-date.ts'

const expected = Date.UTC(1994, 10, 6, 8, 49, 37)

describe('parseHttpDate', () => {
  it('reads the three formats RFC 9110 requires', () => {
    expect(parseHttpDate('Sun, 06 Nov 1994 08:49:37 GMT')).toBe(expected)
    expect(parseHttpDate('Sunday, 06-Nov-94 08:49:37 GMT', Date.UTC(2026, 0, 1))).toBe(expected)
    expect(parseHttpDate('Sun Nov  6 08:49:37 1994')).toBe(expected)
  })

  it('rejects invalid dates', () => {
    for (const bad of [
      '0',
      '-1',
      '',
      'Sun, 31 Feb 1994 08:49:37 GMT',
      'Sun, 06 Foo 1994 08:49:37 GMT',
      'Sun, 06 Nov 1994 25:00:00 GMT',
    ]) {
      expect(parseHttpDate(bad), bad).toBeUndefined()
    }
    expect(parseHttpDate(undefined)).toBeUndefined()
  })

  it('formats an IMF-fixdate that parses back', () => {
    expect(formatHttpDate(expected)).toBe('Sun, 06 Nov 1994 08:49:37 GMT')
    expect(parseHttpDate(formatHttpDate(expected))).toBe(expected)
  })
})
