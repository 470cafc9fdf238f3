import { describe, expect, it } from 'vitest'
import { key, tally } from '../../test/helpers/random.ts'
import { Backend } from '../backend.ts'
import { SmoothWeightedRoundRobin } from './smooth-weighted-round-robin.ts'

const EMPTY = key('')

function sequence(selection: SmoothWeightedRoundRobin, n: number, names: Map<string, string>) {
  return Array.from({ length: n }, () => names.get(String(selection.iter(EMPTY).next()))).join(' ')
}

describe('SmoothWeightedRoundRobin', () => {
  const a = Backend.newWithWeight('10.0.0.1:80', 5)
  const b = Backend.new('10.0.0.2:80')
  const c = Backend.new('10.0.0.3:80')
  const names = new Map([
    [a.addr, 'a'],
    [b.addr, 'b'],
    [c.addr, 'c'],
  ])

  it("matches nginx's sequence for weights 5,1,1: a a b a c a a", () => {
    const selection = SmoothWeightedRoundRobin.build([a, b, c])
    expect(sequence(selection, 14, names)).toBe('a a b a c a a a a b a c a a')
  })

  it('interleaves weights 2,1,1 without the repeat nginx makes across cycles', () => {
    const selection = SmoothWeightedRoundRobin.build([
      Backend.newWithWeight('10.0.0.1:80', 2),
      b,
      c,
    ])
    const short = new Map([...names, ['10.0.0.1:80', 'a']])
    expect(sequence(selection, 12, short)).toBe('a b c a b a c a b a c a')
  })

  it('keeps every cycle exact and repeat-free for random weights', () => {
    let seed = 1
    const next = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648
      return seed / 2147483648
    }
    for (let round = 0; round < 50; round++) {
      const n = 2 + Math.floor(next() * 8)
      const weights = Array.from({ length: n }, () => 1 + Math.floor(next() * 9))
      const total = weights.reduce((x, y) => x + y, 0)
      const backends = weights.map((w, i) => Backend.newWithWeight(`10.1.${round}.${i}:80`, w))
      const selection = SmoothWeightedRoundRobin.build(backends)
      const counts = new Map<Backend, number>()
      let previous: Backend | undefined
      let repeats = 0
      for (let i = 0; i < total * 20; i++) {
        const pick = selection.iter(EMPTY).next() as Backend
        if (2 * pick.weight <= total && pick === previous) repeats++
        counts.set(pick, (counts.get(pick) ?? 0) + 1)
        previous = pick
      }
      expect(repeats).toBe(0)
      for (const backend of backends) {
        expect(Math.abs((counts.get(backend) ?? 0) - backend.weight * 20)).toBeLessThanOrEqual(1)
      }
    }
  })

  it('never picks the same backend twice in a row when the weights allow it', () => {
    const weights = [3, 2, 1]
    const backends = weights.map((w, i) => Backend.newWithWeight(`10.0.1.${i + 1}:80`, w))
    const selection = SmoothWeightedRoundRobin.build(backends)
    let previous: Backend | undefined
    for (let i = 0; i < 600; i++) {
      const next = selection.iter(EMPTY).next()
      expect(next).not.toBe(previous)
      previous = next
    }
  })

  it('honours weights exactly over 100,000 selections', () => {
    const selection = SmoothWeightedRoundRobin.build([a, b, c])
    const counts = tally(98_000, () => selection.iter(EMPTY).next())
    expect(counts.get(a.addr)).toBe(70_000)
    expect(counts.get(b.addr)).toBe(14_000)
    expect(counts.get(c.addr)).toBe(14_000)
    const big = SmoothWeightedRoundRobin.build(
      Array.from({ length: 10 }, (_, i) => Backend.newWithWeight(`10.0.2.${i}:80`, i + 1)),
    )
    const bigCounts = tally(110_000, () => big.iter(EMPTY).next())
    for (let i = 0; i < 10; i++) expect(bigCounts.get(`10.0.2.${i}:80`)).toBe((i + 1) * 2000)
  })

  it('keeps interleaving the ready backends when one is down, as nginx skips down peers', () => {
    const x = Backend.new('10.0.3.1:80')
    const y = Backend.new('10.0.3.2:80')
    const z = Backend.new('10.0.3.3:80')
    const statuses = new Map([x, y, z].map((backend) => [backend, { inFlight: 0, ready: true }]))
    const selection = SmoothWeightedRoundRobin.build([x, y, z], {
      random: Math.random,
      status: (backend) => statuses.get(backend) as { inFlight: number; ready: boolean },
    })
    ;(statuses.get(y) as { ready: boolean }).ready = false
    const picks = Array.from({ length: 6 }, () => selection.iter(EMPTY).next())
    expect(picks).toEqual([x, z, x, z, x, z])
  })

  it('falls back to the other backends in list order', () => {
    const selection = SmoothWeightedRoundRobin.build([a, b, c])
    selection.iter(EMPTY) // a
    selection.iter(EMPTY) // a
    const iter = selection.iter(EMPTY) // b first
    expect([iter.next(), iter.next(), iter.next(), iter.next()]).toEqual([b, c, a, undefined])
  })
})
