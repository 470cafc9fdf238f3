import { describe, expect, it } from 'vitest'
import { key, seededRandom, tally } from '../../test/helpers/random.ts'
import { Backend } from '../backend.ts'
import { PowerOfTwoChoices } from './power-of-two-choices.ts'

const EMPTY = key('')

describe('PowerOfTwoChoices', () => {
  const backends = [
    Backend.newWithWeight('10.0.0.1:80', 1),
    Backend.newWithWeight('10.0.0.2:80', 2),
    Backend.newWithWeight('10.0.0.3:80', 3),
    Backend.newWithWeight('10.0.0.4:80', 4),
  ]

  it('honours weights within 1% over 100,000 idle selections', () => {
    const selection = PowerOfTwoChoices.build(backends, {
      random: seededRandom(11),
      status: () => ({ inFlight: 0, ready: true }),
    })
    const counts = tally(100_000, () => selection.iter(EMPTY).next())
    for (const backend of backends) {
      expect(
        Math.abs((counts.get(backend.addr) ?? 0) / 100_000 - backend.weight / 10),
      ).toBeLessThan(0.01)
    }
  })

  it('takes the less loaded of its two draws and never the most loaded backend', () => {
    const loads = new Map(backends.map((b) => [b.addr, { inFlight: 0, ready: true }]))
    ;(loads.get('10.0.0.4:80') as { inFlight: number }).inFlight = 1000
    const selection = PowerOfTwoChoices.build(backends, {
      random: seededRandom(5),
      status: (b) => loads.get(b.addr) as { inFlight: number; ready: boolean },
    })
    for (let i = 0; i < 1000; i++) {
      const iter = selection.iter(EMPTY)
      const first = iter.next() as Backend
      const second = iter.next() as Backend
      expect(first).not.toBe(second)
      expect(first.addr).not.toBe('10.0.0.4:80')
    }
  })

  it('balances in-flight counts when requests are held', () => {
    const equal = [
      Backend.new('10.0.1.1:80'),
      Backend.new('10.0.1.2:80'),
      Backend.new('10.0.1.3:80'),
    ]
    const loads = new Map(equal.map((b) => [b.addr, { inFlight: 0, ready: true }]))
    const selection = PowerOfTwoChoices.build(equal, {
      random: seededRandom(8),
      status: (b) => loads.get(b.addr) as { inFlight: number; ready: boolean },
    })
    for (let i = 0; i < 3000; i++) {
      const backend = selection.iter(EMPTY).next() as Backend
      ;(loads.get(backend.addr) as { inFlight: number }).inFlight++
    }
    const counts = [...loads.values()].map((l) => l.inFlight)
    // Two choices keep the spread tiny (random alone would differ by ~±50).
    expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(10)
  })

  it('prefers a ready backend over one that is not', () => {
    const loads = new Map(backends.map((b) => [b.addr, { inFlight: 0, ready: true }]))
    ;(loads.get('10.0.0.4:80') as { ready: boolean }).ready = false
    const selection = PowerOfTwoChoices.build(backends, {
      random: seededRandom(9),
      status: (b) => loads.get(b.addr) as { inFlight: number; ready: boolean },
    })
    const counts = tally(6000, () => selection.iter(EMPTY).next())
    // Only when both draws hit the not-ready backend can it come first; draws are distinct.
    expect(counts.get('10.0.0.4:80')).toBeUndefined()
    // The others keep roughly their 1:2:3 weights.
    expect((counts.get('10.0.0.3:80') ?? 0) / (counts.get('10.0.0.1:80') ?? 1)).toBeGreaterThan(2)
  })

  it('works with a single backend and yields it once', () => {
    const only = Backend.new('10.0.0.9:80')
    const iter = PowerOfTwoChoices.build([only]).iter(EMPTY)
    expect(iter.next()).toBe(only)
    expect(iter.next()).toBeUndefined()
  })
})
