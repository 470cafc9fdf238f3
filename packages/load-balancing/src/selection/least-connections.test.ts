import { describe, expect, it } from 'vitest'
import { key, tally } from '../../test/helpers/random.ts'
import { Backend } from '../backend.ts'
import type { BackendLoad, SelectionContext } from './backend-selection.ts'
import { LeastConnections } from './least-connections.ts'

const EMPTY = key('')

function contextWith(loads: Map<string, { inFlight: number }>): SelectionContext {
  return {
    random: Math.random,
    load: (backend): BackendLoad => {
      let load = loads.get(backend.addr)
      if (load === undefined) {
        load = { inFlight: 0 }
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
    const loads = new Map<string, { inFlight: number }>()
    const selection = LeastConnections.build([a, b, c], contextWith(loads))
    ;(loads.get(a.addr) as { inFlight: number }).inFlight = 3
    ;(loads.get(b.addr) as { inFlight: number }).inFlight = 1
    ;(loads.get(c.addr) as { inFlight: number }).inFlight = 4
    // c: 4/2 = 2 > b: 1/1.
    expect(selection.iter(EMPTY).next()).toBe(b)
    ;(loads.get(b.addr) as { inFlight: number }).inFlight = 3
    // a 3/1, b 3/1, c 4/2 = 2: c is least loaded relative to its weight.
    expect(selection.iter(EMPTY).next()).toBe(c)
  })

  it('reads live counts: the same selection follows load changes', () => {
    const loads = new Map<string, { inFlight: number }>()
    const selection = LeastConnections.build([a, b], contextWith(loads))
    const held: Backend[] = []
    for (let i = 0; i < 10; i++) {
      const backend = selection.iter(EMPTY).next() as Backend
      ;(loads.get(backend.addr) as { inFlight: number }).inFlight++
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

  it('falls back to the other backends', () => {
    const selection = LeastConnections.build([a, b, c], contextWith(new Map()))
    const iter = selection.iter(EMPTY)
    const order = [iter.next(), iter.next(), iter.next(), iter.next()]
    expect(new Set(order.slice(0, 3))).toEqual(new Set([a, b, c]))
    expect(order[3]).toBeUndefined()
  })
})
