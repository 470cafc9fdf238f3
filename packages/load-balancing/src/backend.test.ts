import { describe, expect, it } from 'vitest'
import { Backend } from './backend.ts'

describe('Backend', () => {
  it('parses an IPv4 address with a port and defaults the weight to 1', () => {
    const backend = Backend.new('10.0.0.1:443')
    expect(backend.addr).toBe('10.0.0.1:443')
    expect(backend.family).toBe('ipv4')
    expect(backend.host).toBe('10.0.0.1')
    expect(backend.port).toBe(443)
    expect(backend.weight).toBe(1)
  })

  it('canonicalises IPv6 addresses so equal addresses have equal identity', () => {
    const a = Backend.new('[0:0:0:0:0:0:0:1]:80')
    const b = Backend.new('[::1]:80')
    expect(a.addr).toBe('[::1]:80')
    expect(a.host).toBe('::1')
    expect(a.family).toBe('ipv6')
    expect(a.equals(b)).toBe(true)
    expect(Backend.new('[2001:DB8:0::1]:8080').addr).toBe('[2001:db8::1]:8080')
  })

  it('accepts unix socket paths', () => {
    const backend = Backend.newWithWeight('unix:/run/app.sock', 3)
    expect(backend.family).toBe('unix')
    expect(backend.host).toBe('/run/app.sock')
    expect(backend.port).toBe(0)
    expect(backend.weight).toBe(3)
  })

  it('rejects addresses without a valid port or with a host name', () => {
    for (const addr of [
      '10.0.0.1',
      '10.0.0.1:',
      '10.0.0.1:70000',
      '::1:80',
      'example.com:80',
      'unix:',
    ]) {
      expect(() => Backend.new(addr)).toThrow(new TypeError(`invalid backend address: "${addr}"`))
    }
  })

  it('rejects weights outside 1..65535 with an exact message', () => {
    expect(() => Backend.newWithWeight('1.1.1.1:80', 0)).toThrow(
      new RangeError('backend weight must be an integer from 1 to 65535, got 0'),
    )
    expect(() => Backend.newWithWeight('1.1.1.1:80', 1.5)).toThrow(RangeError)
  })

  it('keeps ext out of the identity but weight in it', () => {
    const a = Backend.new('1.1.1.1:80')
    const b = Backend.new('1.1.1.1:80')
    a.ext.set('region', 'eu')
    expect(a.hashKey()).toBe(b.hashKey())
    expect(a.equals(b)).toBe(true)
    expect(a.equals(Backend.newWithWeight('1.1.1.1:80', 2))).toBe(false)
  })

  it("orders backends like Pingora's BTreeSet: numeric IPv4, then IPv6, then unix", () => {
    const list = [
      Backend.new('unix:/a'),
      Backend.new('[::1]:80'),
      Backend.new('1.1.1.1:80'),
      Backend.new('1.0.0.255:80'),
      Backend.new('1.0.0.1:80'),
      Backend.new('1.0.0.1:9'),
      Backend.new('9.0.0.1:80'),
    ]
    expect(list.sort(Backend.compare).map(String)).toEqual([
      '1.0.0.1:9',
      '1.0.0.1:80',
      '1.0.0.255:80',
      '1.1.1.1:80',
      '9.0.0.1:80',
      '[::1]:80',
      'unix:/a',
    ])
  })
})
