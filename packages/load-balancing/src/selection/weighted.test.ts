import { describe, expect, it } from 'vitest'
import { key, seededRandom, tally } from '../../test/helpers/random.ts'
import { Backend } from '../backend.ts'
import { FNVHash, Random, RoundRobin } from './weighted.ts'

const ROUNDS = 100_000

function sorted(...backends: Backend[]): Backend[] {
  return backends.sort(Backend.compare)
}

function take(iter: { next(): Backend | undefined }, n: number): string[] {
  const out: string[] = []
  for (let i = 0; i < n; i++) out.push(String(iter.next()))
  return out
}

describe('FNVHash', () => {
  const b1 = Backend.new('1.1.1.1:80')
  const b2 = Backend.newWithWeight('1.0.0.1:80', 10)
  const b3 = Backend.new('1.0.0.255:80')
  const selection = FNVHash.build(sorted(b1, b2, b3))

  it("picks the same first choice and fallbacks as Pingora's FNVHash", () => {
    // Expected values from pingora-load-balancing's weighted.rs test for the same backends.
    expect(take(selection.iter(key('test')), 11)).toEqual(
      [b2, b2, b2, b1, b3, b2, b2, b1, b2, b3, b1].map(String),
    )
    const firsts = ['test1', 'test2', 'test3', 'test4', 'test5', 'test6', 'test7'].map((k) =>
      String(selection.iter(key(k)).next()),
    )
    expect(firsts).toEqual([b2, b2, b3, b1, b2, b2, b2].map(String))
  })

  it('maps the same key to the same backend every time', () => {
    const first = selection.iter(key('session-42')).next()
    for (let i = 0; i < 100; i++) expect(selection.iter(key('session-42')).next()).toBe(first)
  })

  it('spreads distinct keys by weight within 2% over 100,000 keys', () => {
    const counts = tally(ROUNDS, (i) => selection.iter(key(`key-${i}`)).next())
    expect(Math.abs((counts.get(b2.addr) ?? 0) / ROUNDS - 10 / 12)).toBeLessThan(0.02)
    expect(Math.abs((counts.get(b1.addr) ?? 0) / ROUNDS - 1 / 12)).toBeLessThan(0.02)
    expect(Math.abs((counts.get(b3.addr) ?? 0) / ROUNDS - 1 / 12)).toBeLessThan(0.02)
  })
})

describe('RoundRobin', () => {
  const b1 = Backend.new('1.1.1.1:80')
  const b2 = Backend.newWithWeight('1.0.0.1:80', 8)
  const b3 = Backend.new('1.0.0.255:80')

  it("walks the weighted table like Pingora's RoundRobin, fallbacks included", () => {
    const selection = RoundRobin.build(sorted(b1, b2, b3))
    // First pick from table slot 0, then fallbacks advance the same counter over the unique list.
    expect(take(selection.iter(key('test')), 5)).toEqual([b2, b3, b1, b2, b3].map(String))
    const firsts = Array.from({ length: 7 }, () => String(selection.iter(key('x')).next()))
    expect(firsts).toEqual([b2, b2, b2, b3, b1, b2, b2].map(String))
  })

  it('honours weights exactly over 100,000 selections', () => {
    const selection = RoundRobin.build(sorted(b1, b2, b3))
    const counts = tally(ROUNDS, () => selection.iter(key('')).next())
    expect(counts.get(b2.addr)).toBe(80_000)
    expect(counts.get(b1.addr)).toBe(10_000)
    expect(counts.get(b3.addr)).toBe(10_000)
  })

  it('yields nothing without backends', () => {
    expect(RoundRobin.build([]).iter(key('a')).next()).toBeUndefined()
  })

  it('rejects a weighted table larger than 2^24 slots with an exact message', () => {
    const many = Array.from({ length: 300 }, (_, i) =>
      Backend.newWithWeight(`10.0.${i >> 8}.${i & 255}:80`, 65_535),
    )
    expect(() => RoundRobin.build(many)).toThrow(
      new RangeError('the sum of backend weights must be at most 16777216, got 19660500'),
    )
  })
})

describe('Random', () => {
  it('honours weights within 1% over 100,000 seeded selections', () => {
    const a = Backend.newWithWeight('10.0.0.1:80', 5)
    const b = Backend.newWithWeight('10.0.0.2:80', 3)
    const c = Backend.newWithWeight('10.0.0.3:80', 2)
    const selection = Random.build([a, b, c], {
      random: seededRandom(1),
      status: () => ({ inFlight: 0, ready: true }),
    })
    const counts = tally(ROUNDS, () => selection.iter(key('')).next())
    expect(Math.abs((counts.get(a.addr) ?? 0) / ROUNDS - 0.5)).toBeLessThan(0.01)
    expect(Math.abs((counts.get(b.addr) ?? 0) / ROUNDS - 0.3)).toBeLessThan(0.01)
    expect(Math.abs((counts.get(c.addr) ?? 0) / ROUNDS - 0.2)).toBeLessThan(0.01)
  })

  it('is deterministic for a given seed', () => {
    const backends = [
      Backend.new('10.0.0.1:80'),
      Backend.new('10.0.0.2:80'),
      Backend.new('10.0.0.3:80'),
    ]
    const run = () => {
      const selection = Random.build(backends, {
        random: seededRandom(99),
        status: () => ({ inFlight: 0, ready: true }),
      })
      return Array.from({ length: 20 }, () => String(selection.iter(key('')).next()))
    }
    expect(run()).toEqual(run())
  })
})
