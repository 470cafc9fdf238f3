import { describe, expect, it } from 'vitest'
import { formatHostPort, parseTcpAddress } from './server-address.ts'

describe('parseTcpAddress', () => {
  it('splits IPv4, host name and bracketed IPv6 addresses', () => {
    expect(parseTcpAddress('127.0.0.1:6188')).toEqual({ host: '127.0.0.1', port: 6188 })
    expect(parseTcpAddress('localhost:0')).toEqual({ host: 'localhost', port: 0 })
    expect(parseTcpAddress('[::1]:0')).toEqual({ host: '::1', port: 0 })
    expect(parseTcpAddress('[::]:65535')).toEqual({ host: '::', port: 65535 })
  })

  it.each(['127.0.0.1', ':80', '::1:80', '[::1]80', '[::1]:', 'host:http', 'host:-1', 'h:99999'])(
    'rejects %s',
    (address) => {
      expect(() => parseTcpAddress(address)).toThrow(
        new TypeError(
          `Invalid TCP listen address "${address}": expected "host:port" or "[ipv6]:port"`,
        ),
      )
    },
  )
})

describe('formatHostPort', () => {
  it('brackets IPv6 hosts only', () => {
    expect(formatHostPort('::1', 80)).toBe('[::1]:80')
    expect(formatHostPort('10.0.0.1', 80)).toBe('10.0.0.1:80')
  })
})
