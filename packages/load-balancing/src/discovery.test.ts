import { describe, expect, it } from 'vitest'
import { Backend } from './backend.ts'
import { Static } from './discovery.ts'

describe('Static', () => {
  it('returns its backends and follows add, remove and set', async () => {
    const a = Backend.new('10.0.0.1:80')
    const b = Backend.new('10.0.0.2:80')
    const discovery = new Static([a])
    discovery.add(b)
    expect((await discovery.discover()).backends).toEqual([a, b])
    discovery.remove(Backend.new('10.0.0.1:80'))
    expect((await discovery.discover()).backends).toEqual([b])
    discovery.set([a])
    expect(discovery.get()).toEqual([a])
  })

  it('resolves host names on every discovery with dns.lookup', async () => {
    const discovery = Static.tryFromIter(['localhost:9000', 'unix:/tmp/app.sock'])
    expect(discovery.hasHostNames).toBe(true)
    const { backends } = await discovery.discover()
    expect(backends.map(String)).toContain('unix:/tmp/app.sock')
    expect(backends.filter((b) => b.port === 9000).length).toBeGreaterThan(0)
    expect(backends.every((b) => b.family !== 'ipv4' || b.host.startsWith('127.'))).toBe(true)
  })

  it('rejects an address without a port with an exact message', () => {
    expect(() => Static.tryFromIter(['example.com'])).toThrow(
      new TypeError('invalid backend address: "example.com"'),
    )
  })
})
