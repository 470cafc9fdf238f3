import { describe, expect, it } from 'vitest'
import { checkBytes, checkCount, checkMs } from './option-checks.ts'

describe('option checks', () => {
  it('read undefined as "not set" and return the fallback, whatever it is', () => {
    expect(checkMs('a', undefined, 60_000)).toBe(60_000)
    expect(checkMs('a', undefined, undefined)).toBeUndefined()
    expect(checkCount('b', undefined, 256)).toBe(256)
    expect(checkCount('b', undefined, undefined)).toBeUndefined()
    expect(checkBytes('c', undefined, 0)).toBe(0)
  })

  it('keep valid values, zero included where it means "none"', () => {
    expect(checkMs('a', 0, 5)).toBe(0)
    expect(checkMs('a', 1.5, 5)).toBe(1.5)
    expect(checkCount('b', 1, 5)).toBe(1)
    expect(checkBytes('c', 0, 5)).toBe(0)
  })

  it('reject bad values with one message per kind', () => {
    for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => checkMs('readTimeoutMs', bad, 0)).toThrow(
        new RangeError(`readTimeoutMs must be a finite number >= 0, got ${bad}`),
      )
    }
    for (const bad of [0, 1.5, -3]) {
      expect(() => checkCount('maxHeaders', bad, 1)).toThrow(
        new RangeError(`maxHeaders must be an integer >= 1, got ${bad}`),
      )
    }
    expect(() => checkBytes('maxDrainBytes', 0.5, 0)).toThrow(
      new RangeError('maxDrainBytes must be a non-negative integer number of bytes, got 0.5'),
    )
  })
})
