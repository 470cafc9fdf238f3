import { describe, expect, it } from 'vitest'
import { CacheKey } from './key.ts'
import { Predictor } from './predictor.ts'

describe('Predictor', () => {
  it('remembers OriginNotCache, ResponseTooLarge and custom reasons only', () => {
    const predictor = new Predictor({ skipCustomReason: (reason) => reason === 'skip-me' })
    const key = (n: number) => new CacheKey('', `k${n}`)
    expect(predictor.markUncacheable(key(1), 'OriginNotCache')).toBe(true)
    expect(predictor.markUncacheable(key(2), 'ResponseTooLarge')).toBe(true)
    expect(predictor.markUncacheable(key(3), 'my-reason')).toBe(true)
    expect(predictor.markUncacheable(key(4), 'StorageError')).toBe(false)
    expect(predictor.markUncacheable(key(5), 'skip-me')).toBe(false)
    expect([1, 2, 3, 4, 5].map((n) => predictor.cacheablePrediction(key(n)))).toEqual([
      false,
      false,
      false,
      true,
      true,
    ])
    expect(predictor.markCacheable(key(1))).toBe(true)
    expect(predictor.cacheablePrediction(key(1))).toBe(true)
  })

  it('forgets the oldest key past its capacity', () => {
    const predictor = new Predictor({ capacity: 2 })
    for (const n of [1, 2, 3])
      predictor.markUncacheable(new CacheKey('', `k${n}`), 'OriginNotCache')
    expect(predictor.cacheablePrediction(new CacheKey('', 'k1'))).toBe(true)
    expect(predictor.cacheablePrediction(new CacheKey('', 'k3'))).toBe(false)
  })
})
