import { PingoraError } from '@pingora-ts/error'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { DISCOVERY_ERROR } from '../src/discovery.ts'
import { DnsDiscovery } from '../src/dns-discovery.ts'
import { LoadBalancer } from '../src/load-balancer.ts'
import { RoundRobin } from '../src/selection/weighted.ts'
import { addressRecord, startDnsServer, type TestDnsServer } from './helpers/dns-server.ts'

let dns: TestDnsServer

beforeEach(async () => {
  dns = await startDnsServer()
})

afterEach(async () => {
  vi.useRealTimers()
  await dns.close()
})

const addrs = (result: { backends: readonly { addr: string; weight: number }[] }) =>
  result.backends.map((b) => `${b.addr} w${b.weight}`).sort()

describe('DnsDiscovery', () => {
  it('turns A records into backends on the given port', async () => {
    dns.records.set('api.test', [addressRecord('10.0.0.1', 30), addressRecord('10.0.0.2', 30)])
    const discovery = new DnsDiscovery({ name: 'api.test', port: 8080, servers: [dns.address] })
    expect(addrs(await discovery.discover())).toEqual(['10.0.0.1:8080 w1', '10.0.0.2:8080 w1'])
  })

  it('takes both families with A/AAAA and tolerates a missing family', async () => {
    dns.records.set('dual.test', [addressRecord('10.0.0.1', 30), addressRecord('2001:db8::7', 30)])
    dns.records.set('v4only.test', [addressRecord('10.0.0.9', 30)])
    const dual = new DnsDiscovery({
      name: 'dual.test',
      recordType: 'A/AAAA',
      port: 443,
      servers: [dns.address],
    })
    expect(addrs(await dual.discover())).toEqual(['10.0.0.1:443 w1', '[2001:db8::7]:443 w1'])
    const v4only = new DnsDiscovery({
      name: 'v4only.test',
      recordType: 'A/AAAA',
      port: 443,
      servers: [dns.address],
    })
    expect(addrs(await v4only.discover())).toEqual(['10.0.0.9:443 w1'])
  })

  it('turns SRV records into weighted backends, lowest priority only', async () => {
    dns.records.set('_http._tcp.svc.test', [
      { type: 'SRV', priority: 10, weight: 5, port: 8001, target: 'a.svc.test', ttl: 60 },
      { type: 'SRV', priority: 10, weight: 1, port: 8002, target: 'b.svc.test', ttl: 60 },
      { type: 'SRV', priority: 20, weight: 1, port: 8003, target: 'backup.svc.test', ttl: 60 },
    ])
    dns.records.set('a.svc.test', [addressRecord('10.0.1.1', 60)])
    dns.records.set('b.svc.test', [addressRecord('10.0.1.2', 60), addressRecord('fd00::2', 60)])
    dns.records.set('backup.svc.test', [addressRecord('10.0.1.3', 60)])
    const discovery = new DnsDiscovery({
      name: '_http._tcp.svc.test',
      recordType: 'SRV',
      servers: [dns.address],
    })
    expect(addrs(await discovery.discover())).toEqual([
      '10.0.1.1:8001 w5',
      '10.0.1.2:8002 w1',
      '[fd00::2]:8002 w1',
    ])
  })

  it('serves the cached answer until the TTL expires, then re-queries', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    dns.records.set('ttl.test', [addressRecord('10.0.0.1', 5)])
    const discovery = new DnsDiscovery({ name: 'ttl.test', port: 80, servers: [dns.address] })
    await discovery.discover()
    const asked = dns.queries.length
    dns.records.set('ttl.test', [addressRecord('10.0.0.2', 5)])
    vi.advanceTimersByTime(4000)
    expect(addrs(await discovery.discover())).toEqual(['10.0.0.1:80 w1'])
    expect(dns.queries.length).toBe(asked)
    vi.advanceTimersByTime(1500)
    expect(addrs(await discovery.discover())).toEqual(['10.0.0.2:80 w1'])
    expect(dns.queries.length).toBeGreaterThan(asked)
  })

  it('re-queries on a fixed interval when one is set, whatever the TTL', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    dns.records.set('fixed.test', [addressRecord('10.0.0.1', 3600)])
    const discovery = new DnsDiscovery({
      name: 'fixed.test',
      port: 80,
      servers: [dns.address],
      refreshIntervalMs: 2000,
    })
    await discovery.discover()
    dns.records.set('fixed.test', [addressRecord('10.0.0.3', 3600)])
    vi.advanceTimersByTime(2001)
    expect(addrs(await discovery.discover())).toEqual(['10.0.0.3:80 w1'])
  })

  it('keeps the last good set when a refresh fails (SERVFAIL or NXDOMAIN)', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    dns.records.set('flaky.test', [addressRecord('10.0.0.1', 1)])
    const discovery = new DnsDiscovery({
      name: 'flaky.test',
      port: 80,
      servers: [dns.address],
      tries: 1,
    })
    await discovery.discover()
    dns.failing = true
    vi.advanceTimersByTime(1001)
    expect(addrs(await discovery.discover())).toEqual(['10.0.0.1:80 w1'])
    dns.failing = false
    dns.records.delete('flaky.test')
    vi.advanceTimersByTime(1001)
    expect(addrs(await discovery.discover())).toEqual(['10.0.0.1:80 w1'])
    dns.records.set('flaky.test', [addressRecord('10.0.0.5', 1)])
    vi.advanceTimersByTime(1001)
    expect(addrs(await discovery.discover())).toEqual(['10.0.0.5:80 w1'])
  })

  it('rejects with a DiscoveryError when the first resolution fails', async () => {
    const discovery = new DnsDiscovery({ name: 'missing.test', port: 80, servers: [dns.address] })
    const error = await discovery.discover().catch((e: unknown) => e)
    expect(PingoraError.is(error)).toBe(true)
    expect((error as PingoraError).type).toBe(DISCOVERY_ERROR)
    expect((error as PingoraError).source).toBe('internal')
  })

  it('requires a port for address records with an exact message', () => {
    expect(() => new DnsDiscovery({ name: 'x.test' })).toThrow(
      new TypeError('DnsDiscovery needs a port from 1 to 65535 for A records'),
    )
  })

  it('feeds a LoadBalancer that follows DNS changes on update', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    dns.records.set('lb.test', [addressRecord('10.0.0.1', 1), addressRecord('10.0.0.2', 1)])
    const lb = new LoadBalancer(
      RoundRobin,
      new DnsDiscovery({ name: 'lb.test', port: 80, servers: [dns.address] }),
    )
    await lb.update()
    expect(lb.backends().map(String)).toEqual(['10.0.0.1:80', '10.0.0.2:80'])
    dns.records.set('lb.test', [addressRecord('10.0.0.3', 1)])
    vi.advanceTimersByTime(1001)
    await lb.update()
    expect(lb.backends().map(String)).toEqual(['10.0.0.3:80'])
    expect(String(lb.select(new Uint8Array(), 4))).toBe('10.0.0.3:80')
  })
})
