import { describe, expect, it } from 'vitest'
import { getCachedDate } from './date.ts'

describe('getCachedDate', () => {
  it('formats an IMF-fixdate', () => {
    expect(getCachedDate(784111777000)).toBe('Sun, 06 Nov 1994 08:49:37 GMT')
  })

  it('formats once per second and changes with the second', () => {
    const a = getCachedDate(1_700_000_000_100)
    expect(getCachedDate(1_700_000_000_900)).toBe(a)
    expect(getCachedDate(1_700_000_001_000)).not.toBe(a)
  })
})
