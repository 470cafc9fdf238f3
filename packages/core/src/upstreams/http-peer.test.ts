import { describe, expect, it } from 'vitest'
import { BasicPeer } from './basic-peer.ts'
import { HttpPeer } from './http-peer.ts'
import { formatPeerAddress, parsePeerAddress } from './peer.ts'
import { PeerOptions } from './peer-options.ts'

describe('parsePeerAddress', () => {
  it('parses IPv4, bracketed IPv6, host names and unix paths', () => {
    expect(parsePeerAddress('127.0.0.1:8080')).toEqual({
      kind: 'inet',
      host: '127.0.0.1',
      port: 8080,
      family: 4,
    })
    expect(parsePeerAddress('[::1]:443')).toEqual({
      kind: 'inet',
      host: '::1',
      port: 443,
      family: 6,
    })
    expect(parsePeerAddress('one.one.one.one:443')).toEqual({
      kind: 'inet',
      host: 'one.one.one.one',
      port: 443,
      family: 0,
    })
    expect(parsePeerAddress('/run/app.sock')).toEqual({ kind: 'unix', path: '/run/app.sock' })
    expect(parsePeerAddress('unix:/run/app.sock')).toEqual({ kind: 'unix', path: '/run/app.sock' })
    expect(parsePeerAddress({ addr: '10.0.0.1:80' })).toMatchObject({ host: '10.0.0.1', port: 80 })
  })

  it('rejects malformed addresses with exact messages', () => {
    expect(() => parsePeerAddress('127.0.0.1')).toThrow(
      new TypeError(
        'invalid peer address "127.0.0.1": expected host:port, [ipv6]:port or a unix socket path',
      ),
    )
    expect(() => parsePeerAddress('::1:80')).toThrow(TypeError)
    expect(() => parsePeerAddress('[::1]80')).toThrow(TypeError)
    expect(() => parsePeerAddress('a b:80')).toThrow(TypeError)
    expect(() => parsePeerAddress('127.0.0.1:0')).toThrow(
      new RangeError('peer port must be from 1 to 65535, got 0 in "127.0.0.1:0"'),
    )
    expect(() => parsePeerAddress('127.0.0.1:70000')).toThrow(RangeError)
  })

  it('returns frozen addresses, so parsed ones can be shared between peers', () => {
    const first = parsePeerAddress('10.1.2.3:8080')
    expect(Object.isFrozen(first)).toBe(true)
    expect(parsePeerAddress('10.1.2.3:8080')).toEqual(first)
  })

  it('formats addresses back the way they are written', () => {
    for (const text of ['127.0.0.1:80', '[::1]:8080', 'example.com:443', 'unix:/tmp/x.sock']) {
      expect(formatPeerAddress(parsePeerAddress(text))).toBe(text)
    }
  })
})

describe('HttpPeer', () => {
  it('takes Pingora defaults for every option', () => {
    const peer = new HttpPeer('1.1.1.1:443', true, 'one.one.one.one')
    expect(peer.isTls()).toBe(true)
    expect(peer.scheme).toBe('https')
    expect(peer.sni).toBe('one.one.one.one')
    expect(peer.groupKey).toBe(0)
    expect(peer.clientCertKey).toBeUndefined()
    const o = peer.options
    expect(o.verifyCert).toBe(true)
    expect(o.verifyHostname).toBe(true)
    expect(o.alpn).toEqual(['http/1.1'])
    expect(o.maxH2Streams).toBe(1)
    expect(o.allowH1ResponseInvalidContentLength).toBe(false)
    expect(o.connectionTimeoutMs).toBeUndefined()
    expect(o.totalConnectionTimeoutMs).toBeUndefined()
    expect(o.readTimeoutMs).toBeUndefined()
    expect(o.writeTimeoutMs).toBeUndefined()
    expect(o.idleTimeoutMs).toBeUndefined()
    expect(o.ca).toBeUndefined()
    expect(o.bindTo).toBeUndefined()
    expect(o.extraProxyHeaders).toEqual({})
  })

  it('accepts a Backend-like object with an addr string as the address', () => {
    const backend = { addr: '10.0.0.7:8443', weight: 1 }
    const peer = new HttpPeer(backend, true, 'origin.example')
    expect(peer.address).toEqual({ kind: 'inet', host: '10.0.0.7', port: 8443, family: 4 })
    expect(peer.toString()).toBe('addr: 10.0.0.7:8443, scheme: https, sni: origin.example')
  })

  it('builds from an options object and as a unix socket peer', () => {
    const peer = new HttpPeer({
      address: '[::1]:8080',
      options: { idleTimeoutMs: 0, connectionTimeoutMs: 100 },
    })
    expect(peer.isTls()).toBe(false)
    expect(peer.sni).toBe('')
    expect(peer.options.idleTimeoutMs).toBe(0)
    expect(peer.options.connectionTimeoutMs).toBe(100)
    const uds = HttpPeer.newUds('/tmp/app.sock', false, '')
    expect(uds.address).toEqual({ kind: 'unix', path: '/tmp/app.sock' })
    expect(uds.toString()).toBe('addr: unix:/tmp/app.sock, scheme: http')
  })

  it('rejects bad options with exact messages', () => {
    expect(() => new HttpPeer({ address: '127.0.0.1:80', options: { readTimeoutMs: -1 } })).toThrow(
      new RangeError('readTimeoutMs must be a finite number >= 0, got -1'),
    )
    expect(() => new HttpPeer({ address: '127.0.0.1:80', options: { maxH2Streams: 0 } })).toThrow(
      new RangeError('maxH2Streams must be an integer >= 1, got 0'),
    )
    expect(() => new HttpPeer({ address: '127.0.0.1:80', options: { alpn: [] } })).toThrow(
      new TypeError('alpn must be a non-empty array of protocol ids'),
    )
    // @ts-expect-error: tls must be a boolean
    expect(() => new HttpPeer('127.0.0.1:80', 'yes', '')).toThrow(
      new TypeError('HttpPeer(address, tls, sni): tls must be a boolean'),
    )
  })

  it('gives equal reuse hashes to peers that may share connections', () => {
    const a = new HttpPeer('127.0.0.1:443', true, 'a.test')
    const b = new HttpPeer({ address: { addr: '127.0.0.1:443' }, tls: true, sni: 'a.test' })
    expect(a.reuseHash()).toBe(b.reuseHash())
    // Plain HTTP ignores TLS-only settings.
    const plain1 = new HttpPeer('127.0.0.1:80', false, '')
    const plain2 = new HttpPeer({
      address: '127.0.0.1:80',
      options: { verifyCert: false, readTimeoutMs: 5, idleTimeoutMs: 10 },
    })
    expect(plain1.reuseHash()).toBe(plain2.reuseHash())
  })

  it('gives different reuse hashes whenever connections are not interchangeable', () => {
    const base = () => new HttpPeer('127.0.0.1:443', true, 'a.test')
    const variants: Array<(p: HttpPeer) => void> = [
      (p) => {
        p.sni = 'b.test'
      },
      (p) => {
        p.scheme = 'http'
      },
      (p) => {
        p.groupKey = 7
      },
      (p) => {
        p.clientCertKey = { cert: 'CERT', key: 'KEY' }
      },
      (p) => {
        p.options.verifyCert = false
      },
      (p) => {
        p.options.verifyHostname = false
      },
      (p) => {
        p.options.alternativeCn = 'alt.test'
      },
      (p) => {
        p.options.alpn = ['h2', 'http/1.1']
      },
      (p) => {
        p.options.ca = '-----BEGIN CERTIFICATE-----x'
      },
      (p) => {
        p.options.curves = 'X25519'
      },
      (p) => {
        p.options.bindTo = { address: '127.0.0.2' }
      },
      (p) => {
        p.options.maxH2Streams = 100
      },
    ]
    const hashes = new Set([
      base().reuseHash(),
      new HttpPeer('127.0.0.1:444', true, 'a.test').reuseHash(),
    ])
    for (const change of variants) {
      const peer = base()
      peer.reuseHash()
      change(peer)
      hashes.add(peer.reuseHash())
    }
    expect(hashes.size).toBe(variants.length + 2)
  })

  it('caches the reuse hash and recomputes it only after a relevant change', () => {
    const peer = new HttpPeer('127.0.0.1:443', true, 'a.test')
    const first = peer.reuseHash()
    expect(peer.reuseHash()).toBe(first)
    peer.options.readTimeoutMs = 10
    expect(peer.reuseHash()).toBe(first)
    peer.options.verifyCert = false
    const second = peer.reuseHash()
    expect(second).not.toBe(first)
    peer.options.verifyCert = true
    expect(peer.reuseHash()).toBe(first)
  })

  it('hashes CA material by content', () => {
    const a = new HttpPeer({
      address: '127.0.0.1:443',
      tls: true,
      sni: 's',
      options: { ca: 'PEM-A' },
    })
    const b = new HttpPeer({
      address: '127.0.0.1:443',
      tls: true,
      sni: 's',
      options: { ca: [Buffer.from('PEM-A')] },
    })
    const c = new HttpPeer({
      address: '127.0.0.1:443',
      tls: true,
      sni: 's',
      options: new PeerOptions({ ca: Buffer.from('PEM-B') }),
    })
    expect(a.reuseHash()).not.toBe(c.reuseHash())
    expect(b.reuseHash()).not.toBe(c.reuseHash())
  })
})

describe('BasicPeer', () => {
  it('uses TLS if and only if the SNI is set, and hashes the address alone', () => {
    const peer = new BasicPeer('127.0.0.1:80')
    expect(peer.isTls()).toBe(false)
    const before = peer.reuseHash()
    peer.sni = 'a.test'
    expect(peer.isTls()).toBe(true)
    expect(peer.reuseHash()).toBe(before)
    expect(new BasicPeer('127.0.0.1:81').reuseHash()).not.toBe(before)
    expect(BasicPeer.newUds('/tmp/x.sock').address).toEqual({ kind: 'unix', path: '/tmp/x.sock' })
  })
})
