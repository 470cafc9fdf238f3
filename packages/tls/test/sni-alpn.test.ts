import { execFile } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { promisify } from 'node:util'
import { certs, readCert } from '@pingora-ts/test-utils'
import { describe, expect, it } from 'vitest'
import { ALPN } from '../src/alpn.ts'
import { TlsSettings } from '../src/tls-settings.ts'
import { connect, servedCert, startTlsServer } from './helpers.ts'

const ca = readCert('ca.pem')
const fingerprint = (file: string) => new X509Certificate(readCert(file)).fingerprint256
const hasCurl = await promisify(execFile)('curl', ['--version']).then(
  () => true,
  () => false,
)

function multiCertSettings(): TlsSettings {
  return new TlsSettings({ cert: certs.localhost.cert, key: certs.localhost.key })
    .addCertificate('a.test', certs.aTest.cert, certs.aTest.key)
    .addCertificate(['b.test'], readCert('b.test.pem'), readCert('b.test.key'))
    .addCertificate('*.wild.test', certs.wildcard.cert, certs.wildcard.key)
}

describe('SNI certificate selection', () => {
  it('serves the certificate added for an exact name', async () => {
    const { port } = await startTlsServer(multiCertSettings())
    const a = await connect(port, { servername: 'a.test', ca })
    expect(a.ok).toBe(true)
    expect(a.server?.servername).toBe('a.test')
    expect(await servedCert(port, 'a.test')).toBe(fingerprint('a.test.pem'))
    expect(await servedCert(port, 'b.test')).toBe(fingerprint('b.test.pem'))
  })

  it('serves a wildcard certificate for one extra label only', async () => {
    const { port } = await startTlsServer(multiCertSettings())
    const result = await connect(port, { servername: 'api.wild.test', ca })
    expect(result.ok).toBe(true)
    expect(await servedCert(port, 'api.wild.test')).toBe(fingerprint('wild.test.pem'))
    expect(await servedCert(port, 'deep.api.wild.test')).toBe(fingerprint('localhost.pem'))
  })

  it('prefers an exact name over a wildcard', async () => {
    const settings = multiCertSettings().addCertificate(
      'exact.wild.test',
      certs.aTest.cert,
      certs.aTest.key,
    )
    const { port } = await startTlsServer(settings)
    expect(await servedCert(port, 'exact.wild.test')).toBe(fingerprint('a.test.pem'))
    expect(await servedCert(port, 'other.wild.test')).toBe(fingerprint('wild.test.pem'))
  })

  it('matches names case-insensitively', async () => {
    const { port } = await startTlsServer(multiCertSettings())
    expect(await servedCert(port, 'A.Test')).toBe(fingerprint('a.test.pem'))
  })

  it('serves the default certificate for unknown names and for clients without SNI', async () => {
    const { port } = await startTlsServer(multiCertSettings())
    expect(await servedCert(port, 'unknown.test')).toBe(fingerprint('localhost.pem'))
    expect(await servedCert(port, undefined)).toBe(fingerprint('localhost.pem'))
    const verified = await connect(port, { ca, checkServerIdentity: () => undefined })
    expect(verified.ok).toBe(true)
    expect(verified.server?.servername).toBeUndefined()
  })

  it('serves an RSA certificate', async () => {
    const settings = new TlsSettings({ cert: certs.rsaLocalhost.cert, key: certs.rsaLocalhost.key })
    const { port } = await startTlsServer(settings)
    const result = await connect(port, { servername: 'localhost', ca, maxVersion: 'TLSv1.2' })
    expect(result.ok).toBe(true)
    expect(result.client?.cipher).toMatch(/^ECDHE-RSA-/)
    expect(result.client?.version).toBe('TLSv1.2')
  })

  it('negotiates TLS 1.3 with a Mozilla intermediate cipher by default and refuses TLS 1.1', async () => {
    const { port } = await startTlsServer(multiCertSettings())
    const modern = await connect(port, { servername: 'a.test', ca })
    expect(modern.server?.version).toBe('TLSv1.3')
    expect(modern.server?.cipher).toMatch(/^TLS_(AES_128_GCM|AES_256_GCM|CHACHA20_POLY1305)/)
    const old = await connect(port, {
      servername: 'a.test',
      ca,
      minVersion: 'TLSv1',
      maxVersion: 'TLSv1.1',
      ciphers: 'DEFAULT:@SECLEVEL=0',
    })
    expect(old.ok).toBe(false)
  })

  it('honours overridden ciphers for TLS 1.3 and TLS 1.2', async () => {
    const settings = multiCertSettings().setCiphers(
      'TLS_CHACHA20_POLY1305_SHA256:ECDHE-ECDSA-AES256-GCM-SHA384',
    )
    const { port } = await startTlsServer(settings)
    const modern = await connect(port, { servername: 'a.test', ca })
    expect(modern.server?.cipher).toBe('TLS_CHACHA20_POLY1305_SHA256')
    const legacy = await connect(port, { servername: 'a.test', ca, maxVersion: 'TLSv1.2' })
    expect(legacy.server?.cipher).toBe('ECDHE-ECDSA-AES256-GCM-SHA384')
    // A TLS 1.2 client offering only a cipher the override removed gets no handshake.
    const refused = await connect(port, {
      servername: 'a.test',
      ca,
      maxVersion: 'TLSv1.2',
      ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256',
    })
    expect(refused.ok).toBe(false)
  })

  it('honours a lowered maximum version', async () => {
    const settings = multiCertSettings().setMaxVersion('TLSv1.2')
    const { port } = await startTlsServer(settings)
    const result = await connect(port, { servername: 'b.test', ca })
    expect(result.server?.version).toBe('TLSv1.2')
  })
})

describe('ALPN', () => {
  it('negotiates http/1.1 by default', async () => {
    const { port } = await startTlsServer(multiCertSettings())
    const result = await connect(port, {
      servername: 'a.test',
      ca,
      ALPNProtocols: ['h2', 'http/1.1'],
    })
    expect(result.client?.alpn).toBe('http/1.1')
    expect(result.server?.alpn).toBe('http/1.1')
  })

  it('prefers h2 after enableH2 and still serves http/1.1-only clients', async () => {
    const settings = multiCertSettings().enableH2()
    expect(settings.alpn).toEqual(ALPN.H2H1)
    const { port } = await startTlsServer(settings)
    const h2 = await connect(port, { servername: 'a.test', ca, ALPNProtocols: ['http/1.1', 'h2'] })
    expect(h2.server?.alpn).toBe('h2')
    const h1 = await connect(port, { servername: 'a.test', ca, ALPNProtocols: ['http/1.1'] })
    expect(h1.server?.alpn).toBe('http/1.1')
  })

  it('refuses a client without a common protocol when only h2 is offered', async () => {
    const { port, clientErrors } = await startTlsServer(multiCertSettings().setAlpn(ALPN.H2))
    const result = await connect(port, { servername: 'a.test', ca, ALPNProtocols: ['http/1.1'] })
    expect(result.ok).toBe(false)
    expect(result.error?.code).toBe('ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL')
    expect(clientErrors.length).toBe(1)
  })

  it('serves a client that sends no ALPN without a protocol', async () => {
    const { port } = await startTlsServer(multiCertSettings().setAlpn(ALPN.H2))
    const result = await connect(port, { servername: 'a.test', ca })
    expect(result.ok).toBe(true)
    expect(result.server?.alpn).toBeUndefined()
  })

  it('accepts a custom protocol list', async () => {
    const { port } = await startTlsServer(multiCertSettings().setAlpn(['pingora/1', 'http/1.1']))
    const result = await connect(port, { servername: 'a.test', ca, ALPNProtocols: ['pingora/1'] })
    expect(result.server?.alpn).toBe('pingora/1')
  })
})

describe.skipIf(!hasCurl)('with curl', () => {
  const curl = promisify(execFile)
  const get = (port: number, host: string, extra: string[] = []) =>
    curl('curl', [
      '-sS',
      '--http1.1',
      '--cacert',
      certs.ca,
      '--resolve',
      `${host}:${port}:127.0.0.1`,
      ...extra,
      `https://${host}:${port}/`,
    ])

  it('selects certificates by SNI for curl', async () => {
    const { port } = await startTlsServer(multiCertSettings())
    for (const host of ['a.test', 'b.test', 'x.wild.test']) {
      const { stdout } = await get(port, host)
      expect(JSON.parse(stdout).servername).toBe(host)
    }
  })

  it('fails curl verification for a name no certificate covers', async () => {
    const { port } = await startTlsServer(multiCertSettings())
    await expect(get(port, 'nope.test')).rejects.toMatchObject({ code: 60 })
  })

  it('negotiates h2 with curl when enabled', async () => {
    const { port } = await startTlsServer(multiCertSettings().enableH2())
    // --http2 offers h2; the test server only speaks HTTP/1 framing, so read the verbose log.
    const result = await curl('curl', [
      '-sv',
      '--http2',
      '--max-time',
      '10',
      '--cacert',
      certs.ca,
      '--resolve',
      `a.test:${port}:127.0.0.1`,
      `https://a.test:${port}/`,
    ]).catch((error: { stderr: string }) => error)
    expect(result.stderr).toMatch(/ALPN[:,] server accepted (to use )?h2/)
  })
})
