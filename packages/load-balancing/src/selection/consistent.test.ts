import { describe, expect, it } from 'vitest'
import { key, tally } from '../../test/helpers/random.ts'
import { Backend } from '../backend.ts'
import { Consistent } from './consistent.ts'

function first(selection: Consistent, k: string): string {
  return String(selection.iter(key(k)).next())
}

describe('Consistent', () => {
  it("picks what Pingora's ketama picks for the same backends, before and after a removal", () => {
    const b1 = Backend.new('1.1.1.1:80')
    const b2 = Backend.new('1.0.0.1:80')
    const b3 = Backend.new('1.0.0.255:80')
    const three = Consistent.build([b1, b2, b3].sort(Backend.compare))
    const keys = Array.from({ length: 10 }, (_, i) => `test${i}`)
    // Expected values from pingora-load-balancing's consistent.rs test.
    expect(keys.map((k) => first(three, k))).toEqual(
      [b2, b1, b1, b1, b1, b3, b1, b3, b1, b2].map(String),
    )
    const two = Consistent.build([b1, b2].sort(Backend.compare))
    expect(keys.map((k) => first(two, k))).toEqual(
      [b2, b1, b1, b1, b1, b2, b1, b1, b1, b2].map(String),
    )
  })

  it('agrees with the nginx sample in pingora-ketama for two local upstreams', () => {
    const ring = Consistent.build([Backend.new('127.0.0.1:7777'), Backend.new('127.0.0.1:7778')])
    const expected: [string, string][] = [
      ['/some/path', '127.0.0.1:7778'],
      ['/some/longer/path', '127.0.0.1:7777'],
      ['/sad/zaidoon', '127.0.0.1:7778'],
      ['/g', '127.0.0.1:7777'],
      ['/pingora/team/is/cool/and/this/is/a/long/uri', '127.0.0.1:7778'],
      ['/i/am/not/confident/in/this/code', '127.0.0.1:7777'],
    ]
    expect(expected.map(([k]) => [k, first(ring, k)])).toEqual(expected)
  })

  it('keeps keys in place when a host is added (pingora-ketama sample)', () => {
    const hosts = (n: number) =>
      Array.from({ length: n }, (_, i) => Backend.new(`127.0.0.${i + 1}:6443`))
    for (const n of [10, 11]) {
      const ring = Consistent.build(hosts(n))
      expect(first(ring, 'a')).toBe('127.0.0.10:6443')
      expect(first(ring, 'b')).toBe('127.0.0.5:6443')
    }
  })

  it('moves only about 1/n of the keys, all to the new backend, when one is added', () => {
    const ten = Array.from({ length: 10 }, (_, i) => Backend.new(`10.0.0.${i + 1}:80`))
    const added = Backend.new('10.0.0.11:80')
    const before = Consistent.build(ten)
    const after = Consistent.build([...ten, added])
    let moved = 0
    const total = 20_000
    for (let i = 0; i < total; i++) {
      const k = `user-${i}`
      const a = first(before, k)
      const b = first(after, k)
      if (a !== b) {
        moved++
        expect(b).toBe(added.addr)
      }
    }
    // Ideal: 1/11 = 9.1%.
    expect(moved / total).toBeGreaterThan(0.05)
    expect(moved / total).toBeLessThan(0.14)
  })

  it('honours weights within 15% (relative) over 100,000 keys', () => {
    const backends = [1, 2, 3, 4].map((w, i) => Backend.newWithWeight(`10.0.1.${i + 1}:80`, w))
    const ring = Consistent.build(backends)
    const counts = tally(100_000, (i) => ring.iter(key(`k${i}`)).next())
    for (const backend of backends) {
      const share = (counts.get(backend.addr) ?? 0) / 100_000
      expect(Math.abs(share - backend.weight / 10) / (backend.weight / 10)).toBeLessThan(0.15)
    }
  })

  it('falls back along the ring to each other backend, never the same one twice in a row', () => {
    const backends = Array.from({ length: 5 }, (_, i) => Backend.new(`10.0.2.${i + 1}:80`))
    const iter = Consistent.build(backends).iter(key('fallback'))
    const seen = new Set<string>()
    let previous: string | undefined
    for (let i = 0; i < 200 && seen.size < 5; i++) {
      const next = String(iter.next())
      expect(next).not.toBe(previous)
      seen.add(next)
      previous = next
    }
    expect(seen.size).toBe(5)
  })

  it('places unix socket backends on the ring', () => {
    const ring = Consistent.build([
      Backend.new('unix:/tmp/a.sock'),
      Backend.new('unix:/tmp/b.sock'),
    ])
    const counts = tally(10_000, (i) => ring.iter(key(`k${i}`)).next())
    expect(counts.get('unix:/tmp/a.sock')).toBeGreaterThan(3000)
    expect(counts.get('unix:/tmp/b.sock')).toBeGreaterThan(3000)
  })

  it('yields nothing without backends', () => {
    expect(Consistent.build([]).iter(key('x')).next()).toBeUndefined()
  })
})
