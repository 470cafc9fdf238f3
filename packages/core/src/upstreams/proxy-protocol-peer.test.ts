import { describe, expect, it } from 'vitest'
import { BasicPeer } from './basic-peer.ts'
import { HttpPeer } from './http-peer.ts'
import { PeerOptions } from './peer-options.ts'

const client = (port: number) => ({ address: '203.0.113.9', port, family: 'IPv4' })
const destination = { address: '192.0.2.1', port: 80, family: 'IPv4' }

describe('PeerOptions.proxyProtocol', () => {
  it('keeps connections announcing different clients apart in the reuse hash', () => {
    const plain = new HttpPeer('127.0.0.1:8080', false, '')
    const one = new HttpPeer('127.0.0.1:8080', false, '')
    one.options.proxyProtocol = { version: 2, source: client(1000), destination }
    const same = new HttpPeer('127.0.0.1:8080', false, '')
    same.options.proxyProtocol = { version: 2, source: client(1000), destination }
    const other = new HttpPeer('127.0.0.1:8080', false, '')
    other.options.proxyProtocol = { version: 2, source: client(1001), destination }
    const v1 = new HttpPeer('127.0.0.1:8080', false, '')
    v1.options.proxyProtocol = { version: 1, source: client(1000), destination }
    expect(one.reuseHash()).toBe(same.reuseHash())
    expect(new Set([plain, one, other, v1].map((peer) => peer.reuseHash())).size).toBe(4)
  })

  it('recomputes a cached hash when the header is set later', () => {
    const peer = new HttpPeer('127.0.0.1:8080', false, '')
    const before = peer.reuseHash()
    peer.options.proxyProtocol = { version: 1, source: client(5), destination }
    expect(peer.reuseHash()).not.toBe(before)
    const basic = new BasicPeer('127.0.0.1:8080')
    const basicBefore = basic.reuseHash()
    basic.options.proxyProtocol = { version: 2, source: client(5), destination }
    expect(basic.reuseHash()).not.toBe(basicBefore)
  })

  it('validates the version', () => {
    expect(
      () =>
        new PeerOptions({
          proxyProtocol: { version: 3 as 1, source: undefined, destination: undefined },
        }),
    ).toThrow(new RangeError('proxyProtocol.version must be 1 or 2, got 3'))
  })
})
