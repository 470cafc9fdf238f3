import { describe, expect, it } from 'vitest'
import { proportionalRateEstimate, Rate, type RateComponents, slidingWindowCount } from './rate.ts'

function clock(start = 1000) {
  const state = { now: start }
  return { state, now: () => state.now }
}

describe('Rate', () => {
  it('reports the last full interval per second and rotates on the injected clock', () => {
    const { state, now } = clock()
    const rate = new Rate(1000, { now, seed: 1 })
    expect(rate.observe('a', 3)).toBe(3)
    expect(rate.observe('a', 2)).toBe(5)
    expect(rate.rate('a')).toBe(0) // no full interval yet
    state.now += 1000
    expect(rate.rate('a')).toBe(5)
    expect(rate.observe('a')).toBe(1) // a new current interval
    state.now += 1000
    expect(rate.rate('a')).toBe(1)
    state.now += 2000 // two intervals with nothing
    expect(rate.rate('a')).toBe(0)
    expect(rate.observe('a')).toBe(1)
  })

  it('scales the rate to events per second for intervals other than one second', () => {
    const { state, now } = clock()
    const rate = new Rate(250, { now, seed: 2 })
    rate.observe('a', 10)
    state.now += 250
    expect(rate.rate('a')).toBe(40)
  })

  it('keeps interval boundaries aligned when observed late', () => {
    const { state, now } = clock(0)
    const rate = new Rate(1000, { now, seed: 3 })
    state.now = 1500 // interval [1000, 2000)
    rate.observe('a', 4)
    expect(rate.msToNextInterval()).toBe(500)
    state.now = 2000
    expect(rate.rate('a')).toBe(4)
  })

  it('hands previous, current and the elapsed fraction to rateWith', () => {
    const { state, now } = clock(0)
    const rate = new Rate(1000, { now, seed: 4 })
    rate.observe('a', 10)
    state.now = 1250
    rate.observe('a', 2)
    const seen = rate.rateWith('a', (c: RateComponents) => ({ ...c }))
    expect(seen).toEqual({
      previousSamples: 10,
      currentSamples: 2,
      intervalMs: 1000,
      currentIntervalFraction: 0.25,
    })
    // 10 * 0.75 + 2 = 9.5 events in the sliding window of one second.
    expect(rate.rateWith('a', slidingWindowCount)).toBe(9.5)
    expect(rate.rateWith('a', proportionalRateEstimate)).toBe(9.5)
  })

  it('matches the exact sliding-window count of a steady stream within one event', () => {
    const { state, now } = clock(0)
    const rate = new Rate(1000, { now, seed: 5 })
    // 100 events per second, evenly spaced, for 3.5 seconds.
    for (let t = 0; t < 3500; t += 10) {
      state.now = t
      rate.observe('steady')
    }
    state.now = 3500
    expect(rate.rateWith('steady', proportionalRateEstimate)).toBeCloseTo(100, 0)
  })

  it('rejects an interval that is not positive', () => {
    expect(() => new Rate(0)).toThrow(
      new RangeError('intervalMs must be a positive finite number, got 0'),
    )
  })
})
