import { once } from 'node:events'
import tls from 'node:tls'
import { certs, readCert } from '@pingora-ts/test-utils'
import { describe, expect, it } from 'vitest'
import { clientTlsOptions } from '../src/client-tls.ts'
import { TlsSessionCache } from '../src/tls-session-cache.ts'
import { TlsSettings } from '../src/tls-settings.ts'
import { startTlsServer } from './helpers.ts'

describe('TlsSessionCache', () => {
  it('evicts the least recently used session', () => {
    const cache = new TlsSessionCache(2)
    cache.set('a', Buffer.from('1'))
    cache.set('b', Buffer.from('2'))
    expect(cache.get('a')?.toString()).toBe('1')
    cache.set('c', Buffer.from('3'))
    expect(cache.get('b')).toBeUndefined()
    expect(cache.get('a')?.toString()).toBe('1')
    expect(cache.size).toBe(2)
    cache.delete('a')
    expect(cache.get('a')).toBeUndefined()
  })

  it('rejects a bad size', () => {
    expect(() => new TlsSessionCache(0)).toThrow(
      new RangeError('maxEntries must be an integer >= 1, got 0'),
    )
  })

  it('lets the next upstream connection resume', async () => {
    const { port } = await startTlsServer(
      new TlsSettings({ cert: certs.localhost.cert, key: certs.localhost.key }),
    )
    const cache = new TlsSessionCache()
    const options = clientTlsOptions({ sni: 'localhost', ca: readCert('ca.pem') })
    const upstream = async () => {
      const socket = tls.connect({
        host: '127.0.0.1',
        port,
        ...options,
        session: cache.get('origin'),
      })
      cache.track(socket, 'origin')
      socket.on('error', () => undefined)
      socket.resume()
      await once(socket, 'secureConnect')
      const reused = socket.isSessionReused()
      await once(socket, 'close')
      return reused
    }
    expect(await upstream()).toBe(false)
    expect(cache.size).toBe(1)
    expect(await upstream()).toBe(true)
  })
})
