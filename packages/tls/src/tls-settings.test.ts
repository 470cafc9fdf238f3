import { PingoraError } from '@pingora-ts/error'
import { certs, readCert } from '@pingora-ts/test-utils'
import { describe, expect, it } from 'vitest'
import { ALPN } from './alpn.ts'
import { TLS_HANDSHAKE_TIMEOUT_MS } from './profile.ts'
import { TlsSettings } from './tls-settings.ts'

function configError(fn: () => unknown): PingoraError | undefined {
  try {
    fn()
  } catch (error) {
    if (PingoraError.is(error)) return error
    throw error
  }
  return undefined
}

describe('TlsSettings options', () => {
  it('builds server options with the intermediate profile and Pingora defaults', () => {
    const settings = TlsSettings.intermediate(certs.localhost.cert, certs.localhost.key)
    const options = settings.toServerOptions()
    settings.close()
    expect(options.minVersion).toBe('TLSv1.2')
    expect(options.maxVersion).toBe('TLSv1.3')
    expect(options.ciphers).toContain('ECDHE-ECDSA-AES128-GCM-SHA256')
    expect(options.ALPNProtocols).toEqual(['http/1.1'])
    expect(options.requestCert).toBe(false)
    expect(options.rejectUnauthorized).toBe(false)
    expect(options.handshakeTimeout).toBe(TLS_HANDSHAKE_TIMEOUT_MS)
    expect(TLS_HANDSHAKE_TIMEOUT_MS).toBe(60_000)
    expect(options.ticketKeys).toHaveLength(48)
    expect(typeof options.SNICallback).toBe('function')
    expect(options.secureContext).toBe(settings.secureContext)
  })

  it('sets requestCert and rejectUnauthorized from the client auth mode', () => {
    const require = new TlsSettings({ cert: certs.localhost.cert, key: certs.localhost.key })
    require.setClientAuth({ ca: readCert('client-ca.pem') })
    expect(require.toServerOptions()).toMatchObject({ requestCert: true, rejectUnauthorized: true })
    require.close()
    const request = new TlsSettings({
      cert: certs.localhost.cert,
      key: certs.localhost.key,
      clientAuth: { ca: certs.clientCa, mode: 'request' },
    })
    expect(request.toServerOptions()).toMatchObject({
      requestCert: true,
      rejectUnauthorized: false,
    })
    request.close()
  })

  it('accepts PEM strings and buffers as well as paths', () => {
    const settings = new TlsSettings({
      cert: readCert('localhost.pem').toString(),
      key: readCert('localhost.key'),
    }).build()
    expect(settings.secureContext).toBeDefined()
  })

  it('throws TLSConfigError for a missing file', () => {
    const error = configError(() =>
      TlsSettings.intermediate('/nonexistent/cert.pem', certs.localhost.key),
    )
    expect(error?.type).toBe('TLSConfigError')
    expect(error?.source).toBe('internal')
    expect(error?.context).toBe('failed to read cert file /nonexistent/cert.pem')
  })

  it('throws TLSConfigError for a certificate and key that do not match', () => {
    const error = configError(() => TlsSettings.intermediate(certs.aTest.cert, certs.bTest.key))
    expect(error?.type).toBe('TLSConfigError')
    expect(error?.context).toContain('do not match')
  })

  it('throws TLSConfigError when a later change cannot be built', () => {
    const settings = TlsSettings.intermediate(certs.localhost.cert, certs.localhost.key)
    const before = settings.secureContext
    const error = configError(() =>
      settings.addCertificate('a.test', certs.aTest.cert, certs.bTest.key),
    )
    expect(error?.type).toBe('TLSConfigError')
    expect(settings.secureContext).toBe(before)
  })

  it.each([
    [
      () => new TlsSettings({ cert: certs.localhost.cert }),
      new TypeError('cert and key must be given together'),
    ],
    [
      () => new TlsSettings().addCertificate('bad name!', 'a', 'b'),
      new TypeError('invalid server name: bad name!'),
    ],
    [
      () => new TlsSettings().addCertificate('*.*.x', 'a', 'b'),
      new TypeError('invalid server name: *.*.x'),
    ],
    [
      () => new TlsSettings().addCertificate([], 'a', 'b'),
      new TypeError('names must not be empty'),
    ],
    [
      () => new TlsSettings().addCertificate('a.test', '', 'b'),
      new TypeError('cert must be a PEM string, a Buffer or a file path'),
    ],
    [
      () => new TlsSettings().setMinVersion('SSLv3' as never),
      new RangeError('unknown TLS version: SSLv3'),
    ],
    [
      () => new TlsSettings().setCiphers('NOT-A-CIPHER'),
      new RangeError('no usable cipher in: NOT-A-CIPHER'),
    ],
    [
      () => new TlsSettings().setGroups(['nope']),
      new RangeError('unsupported key exchange group: nope'),
    ],
    [
      () => new TlsSettings().setGroups([]),
      new TypeError('groups must be a non-empty array of group names'),
    ],
    [
      () => new TlsSettings().setGroups(['X25519:P-256']),
      new TypeError('invalid key exchange group: X25519:P-256'),
    ],
    [
      () => new TlsSettings().setAlpn([]),
      new TypeError('alpn must be a non-empty array of protocol ids'),
    ],
    [() => new TlsSettings().setAlpn(['']), new TypeError('invalid ALPN protocol id: ')],
    [
      () => new TlsSettings().setClientAuth({ ca: certs.clientCa, mode: 'maybe' as never }),
      new RangeError("clientAuth.mode must be 'request' or 'require', got maybe"),
    ],
    [
      () => new TlsSettings().setClientAuth({ ca: [] }),
      new TypeError('clientAuth.ca must not be empty'),
    ],
    [
      () => new TlsSettings({ sessionTimeoutMs: 10 }),
      new RangeError('sessionTimeoutMs must be an integer from 1000 to 2147483647, got 10'),
    ],
    [
      () => new TlsSettings({ ticketKeyRotationMs: -1 }),
      new RangeError('ticketKeyRotationMs must be an integer from 0 to 2147483647, got -1'),
    ],
    [
      () => new TlsSettings({ ticketKeyRotationMs: 2 ** 31 }),
      new RangeError('ticketKeyRotationMs must be an integer from 0 to 2147483647, got 2147483648'),
    ],
    [
      () => new TlsSettings().watchFiles({ debounceMs: 1.5 }),
      new RangeError('debounceMs must be an integer from 0 to 2147483647, got 1.5'),
    ],
    [
      () => new TlsSettings({ minVersion: 'TLSv1.3', maxVersion: 'TLSv1.2' }).build(),
      new RangeError('minVersion TLSv1.3 is above maxVersion TLSv1.2'),
    ],
    [
      () => new TlsSettings().setCertificateCallback('x' as never),
      new TypeError('certificateCallback must be a function'),
    ],
  ])('rejects bad options with an exact message (%#)', (fn, expected) => {
    expect(fn).toThrow(expected)
    try {
      fn()
    } catch (error) {
      expect((error as Error).constructor).toBe(expected.constructor)
    }
  })

  it('sets ALPN through the named lists and enableH2', () => {
    const settings = new TlsSettings()
    expect(settings.alpn).toEqual(['http/1.1'])
    expect(settings.setAlpn(ALPN.H2).alpn).toEqual(['h2'])
    expect(settings.enableH2().alpn).toEqual(['h2', 'http/1.1'])
  })

  it('uses the default rotation interval of 12 hours', () => {
    expect(new TlsSettings().ticketKeyRotationMs).toBe(43_200_000)
    expect(new TlsSettings({ ticketKeyRotationMs: 0 }).ticketKeyRotationMs).toBe(0)
  })

  it('rejects a handshake-complete callback that is not a function', () => {
    const settings = new TlsSettings()
    expect(() => settings.setHandshakeCompleteCallback(1 as never)).toThrow(
      new TypeError('handshakeCompleteCallback must be a function'),
    )
  })
})
