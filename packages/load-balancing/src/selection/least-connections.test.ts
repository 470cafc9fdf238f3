import { describe, expect, it } from 'vitest'
import { key, tally } from '../../test/helpers/random.ts'
import { Backend } from '../backend.ts'
import type { BackendStatus, SelectionContext } from './backend-selection.ts'
import { LeastConnections } from './least-connections.ts'

const EMPTY = key('')

type Status = { inFlight: number; ready: boolean }

function contextWith(loads: Map<string, Status>): SelectionContext {
  return {
    random: Math.random,
    status: (backend): BackendStatus => {
      let load = loads.get(backend.addr)
      if (load === undefined) {
        load = { inFlight: 0, ready: true }
        loads.set(backend.addr, load)
      }
      return load
    },
  }
}

describe('LeastConnections', () => {
  const a = Backend.new('10.0.0.1:80')
  const b = Backend.new('10.0.0.2:80')
  const c = Backend.newWithWeight('10.0.0.3:80', 2)

  it('picks the backend with the fewest in-flight requests', () => {
    const loads = new Map<string, Status>()
    const selection = LeastConnections.build([a, b, c], contextWith(loads))
    ;(loads.get(a.addr) as Status).inFlight = 3
    ;(loads.get(b.addr) as Status).inFlight = 1
    ;(loads.get(c.addr) as Status).inFlight = 4
    // c: 4/2 = 2 > b: 1/1.
    expect(selection.iter(EMPTY).next()).toBe(b)
    ;(loads.get(b.addr) as Status).inFlight = 3
    // a 3/1, b 3/1, c 4/2 = 2: c is least loaded relative to its weight.
    expect(selection.iter(EMPTY).next()).toBe(c)
  })

  it('reads live counts: the same selection follows load changes', () => {
    const loads = new Map<string, Status>()
    const selection = LeastConnections.build([a, b], contextWith(loads))
    const held: Backend[] = []
    for (let i = 0; i < 10; i++) {
      const backend = selection.iter(EMPTY).next() as Backend
      ;(loads.get(backend.addr) as Status).inFlight++
      held.push(backend)
    }
    expect(held.filter((x) => x === a)).toHaveLength(5)
    expect(held.filter((x) => x === b)).toHaveLength(5)
  })

  it('shares idle traffic by weight, smoothly, over 100,000 selections', () => {
    const selection = LeastConnections.build([a, b, c], contextWith(new Map()))
    const counts = tally(100_000, () => selection.iter(EMPTY).next())
    expect(counts.get(a.addr)).toBe(25_000)
    expect(counts.get(b.addr)).toBe(25_000)
    expect(counts.get(c.addr)).toBe(50_000)
  })

  it('leaves out a backend that is not ready instead of piling its share onto a neighbour', () => {
    const loads = new Map<string, Status>()
    const d = Backend.new('10.0.0.4:80')
    const selection = LeastConnections.build([a, b, c, d], contextWith(loads))
    ;(loads.get(a.addr) as Status).ready = false
    const held = new Map<string, number>()
    for (let i = 0; i < 400; i++) {
      const backend = selection.iter(EMPTY).next() as Backend
      ;(loads.get(backend.addr) as Status).inFlight++
      held.set(backend.addr, (held.get(backend.addr) ?? 0) + 1)
    }
    expect(held.get(a.addr)).toBeUndefined()
    // b, c (weight 2) and d share by weight: 100, 200, 100.
    expect(held.get(b.addr)).toBe(100)
    expect(held.get(c.addr)).toBe(200)
    expect(held.get(d.addr)).toBe(100)
  })

  it('considers every backend when none is ready', () => {
    const loads = new Map<string, Status>()
    const selection = LeastConnections.build([a, b], contextWith(loads))
    for (const status of loads.values()) status.ready = false
    expect(selection.iter(EMPTY).next()).toBeDefined()
  })

  it('falls back to the other backends', () => {
    const selection = LeastConnections.build([a, b, c], contextWith(new Map()))
    const iter = selection.iter(EMPTY)
    const order = [iter.next(), iter.next(), iter.next(), iter.next()]
    expect(new Set(order.slice(0, 3))).toEqual(new Set([a, b, c]))
    expect(order[3]).toBeUndefined()
  })
})
