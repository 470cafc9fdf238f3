import { describe, expect, it } from 'vitest'
import { HttpPeer } from '../upstreams/http-peer.ts'
import { ConnectorOptions } from './connector-options.ts'
import { bindToRandom, mapConnectError } from './l4.ts'

function osError(code: string, syscall = 'connect'): NodeJS.ErrnoException {
  return Object.assign(new Error(`${syscall} ${code}`), { code, syscall })
}

describe('mapConnectError', () => {
  const peer = new HttpPeer('10.0.0.1:80', false, '')

  it('maps OS errors to Pingora connect error types with source upstream', () => {
    const cases: Array<[string, string]> = [
      ['ECONNREFUSED', 'ConnectRefused'],
      ['ETIMEDOUT', 'ConnectTimedout'],
      ['ENETUNREACH', 'ConnectNoRoute'],
      ['EHOSTUNREACH', 'ConnectNoRoute'],
      ['ECONNRESET', 'ConnectError'],
      ['ENOTFOUND', 'ConnectError'],
    ]
    for (const [code, type] of cases) {
      const error = mapConnectError(osError(code), peer)
      expect({ code, type: error.type, source: error.source }).toEqual({
        code,
        type,
        source: 'upstream',
      })
      expect(error.context).toBe('Fail to connect to addr: 10.0.0.1:80, scheme: http')
    }
  })

  it('maps local bind failures to an internal error caused by BindError', () => {
    for (const error of [osError('EADDRNOTAVAIL'), osError('EINVAL', 'bind')]) {
      const mapped = mapConnectError(error, peer)
      expect(mapped.type).toBe('InternalError')
      expect(mapped.source).toBe('internal')
      expect(mapped.findCause('BindError')).toBeDefined()
    }
  })
})

describe('bindToRandom', () => {
  const options = new ConnectorOptions({
    bindToV4: ['127.0.0.2', '127.0.0.3'],
    bindToV6: ['::1'],
  })

  it('prefers the peer bindTo, else picks an address of the peer family', () => {
    const own = new HttpPeer({
      address: '10.0.0.1:80',
      options: { bindTo: { address: '127.0.0.9' } },
    })
    expect(bindToRandom(own, options.bindToV4, options.bindToV6)).toEqual({
      address: '127.0.0.9',
      port: 0,
    })
    const v4 = new HttpPeer('10.0.0.1:80', false, '')
    expect(bindToRandom(v4, options.bindToV4, options.bindToV6, () => 0)?.address).toBe('127.0.0.2')
    expect(bindToRandom(v4, options.bindToV4, options.bindToV6, () => 0.99)?.address).toBe(
      '127.0.0.3',
    )
    const v6 = new HttpPeer('[::1]:80', false, '')
    expect(bindToRandom(v6, options.bindToV4, options.bindToV6)?.address).toBe('::1')
  })

  it('binds nothing for host names, Unix sockets or empty lists', () => {
    const named = new HttpPeer('origin.test:80', false, '')
    expect(bindToRandom(named, options.bindToV4, options.bindToV6)).toBeUndefined()
    const uds = HttpPeer.newUds('/tmp/x.sock', false, '')
    expect(bindToRandom(uds, options.bindToV4, options.bindToV6)).toBeUndefined()
    expect(bindToRandom(new HttpPeer('10.0.0.1:80', false, ''), [], [])).toBeUndefined()
  })
})

describe('ConnectorOptions', () => {
  it('defaults to a pool of 128 and no source addresses', () => {
    expect(new ConnectorOptions()).toMatchObject({
      keepalivePoolSize: 128,
      bindToV4: [],
      bindToV6: [],
      debugSslKeylog: false,
      caFile: undefined,
    })
  })

  it('rejects bad values with exact messages', () => {
    expect(() => new ConnectorOptions({ keepalivePoolSize: -1 })).toThrow(
      new RangeError('keepalivePoolSize must be an integer >= 0, got -1'),
    )
    expect(() => new ConnectorOptions({ bindToV4: ['::1'] })).toThrow(
      new TypeError('bindToV4 entries must be IPv4 addresses, got "::1"'),
    )
    expect(() => new ConnectorOptions({ bindToV6: ['127.0.0.1'] })).toThrow(
      new TypeError('bindToV6 entries must be IPv6 addresses, got "127.0.0.1"'),
    )
  })
})
