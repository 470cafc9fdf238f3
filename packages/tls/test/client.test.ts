import { once } from 'node:events'
import { existsSync, mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import tls from 'node:tls'
import { PingoraError } from '@pingora-ts/error'
import { certs, readCert } from '@pingora-ts/test-utils'
import { describe, expect, it } from 'vitest'
import { attachKeylog, clientTlsOptions } from '../src/client-tls.ts'
import { tlsErrorToPingora } from '../src/tls-error.ts'
import { TlsSettings } from '../src/tls-settings.ts'
import { connect, startTlsServer } from './helpers.ts'

const ca = readCert('ca.pem')

/** One server with every interesting certificate, chosen by SNI. */
async function zoo() {
  const settings = new TlsSettings({ cert: certs.localhost.cert, key: certs.localhost.key })
    .addCertificate('expired.test', certs.expired.cert, certs.expired.key)
    .addCertificate('wrong.test', certs.wrongHost.cert, certs.wrongHost.key)
    .addCertificate('a.test', certs.aTest.cert, certs.aTest.key)
    .addCertificate('*.wild.test', certs.wildcard.cert, certs.wildcard.key)
    .addCertificate('untrusted.test', certs.untrustedClient.cert, certs.untrustedClient.key)
    .enableH2()
  return startTlsServer(settings)
}

/** A server whose only certificate is for wrong.test. */
function wrongHostServer() {
  return startTlsServer(new TlsSettings({ cert: certs.wrongHost.cert, key: certs.wrongHost.key }))
}

/** Connects with clientTlsOptions, mapping a failure the way core's connector does. */
async function upstream(port: number, options: tls.ConnectionOptions) {
  const result = await connect(port, options)
  return {
    ...result,
    pingoraError: result.error ? tlsErrorToPingora(result.error, 'upstream') : undefined,
  }
}

describe('clientTlsOptions', () => {
  it('verifies a good certificate against the peer CA', async () => {
    const { port } = await zoo()
    const result = await upstream(port, clientTlsOptions({ sni: 'a.test', ca }))
    expect(result.ok).toBe(true)
    expect(result.client?.peerVerified).toBe(true)
    expect(result.server?.servername).toBe('a.test')
  })

  it('rejects an expired certificate with InvalidCert', async () => {
    const { port } = await zoo()
    const result = await upstream(port, clientTlsOptions({ sni: 'expired.test', ca }))
    expect(result.ok).toBe(false)
    expect(result.error?.code).toBe('CERT_HAS_EXPIRED')
    expect(result.pingoraError?.type).toBe('InvalidCert')
    expect(result.pingoraError?.source).toBe('upstream')
  })

  it('rejects a certificate for another host with InvalidCert', async () => {
    const { port } = await wrongHostServer()
    const result = await upstream(port, clientTlsOptions({ sni: 'a.test', ca }))
    expect(result.error?.code).toBe('ERR_TLS_CERT_ALTNAME_INVALID')
    expect(result.pingoraError?.type).toBe('InvalidCert')
  })

  it('rejects a certificate from an unknown CA with InvalidCert', async () => {
    const { port } = await zoo()
    const result = await upstream(port, clientTlsOptions({ sni: 'untrusted.test' }))
    expect(result.ok).toBe(false)
    expect(result.pingoraError?.type).toBe('InvalidCert')
    expect(result.error?.code).toMatch(/UNABLE_TO_GET_ISSUER_CERT|SELF_SIGNED|UNABLE_TO_VERIFY/)
  })

  it('accepts expired and wrong-host certificates when verifyCert is false', async () => {
    const { port } = await zoo()
    const expired = await upstream(
      port,
      clientTlsOptions({ sni: 'expired.test', ca, verifyCert: false }),
    )
    expect(expired.ok).toBe(true)
    expect(expired.client?.peerVerified).toBe(false)
    const other = await wrongHostServer()
    const wrong = await upstream(
      other.port,
      clientTlsOptions({ sni: 'a.test', ca, verifyCert: false }),
    )
    expect(wrong.ok).toBe(true)
  })

  it('skips only the hostname check when verifyHostname is false', async () => {
    const other = await wrongHostServer()
    const mismatch = await upstream(
      other.port,
      clientTlsOptions({ sni: 'a.test', ca, verifyHostname: false }),
    )
    expect(mismatch.ok).toBe(true)
    const { port } = await zoo()
    const expired = await upstream(
      port,
      clientTlsOptions({ sni: 'expired.test', ca, verifyHostname: false }),
    )
    expect(expired.pingoraError?.type).toBe('InvalidCert')
  })

  it('accepts the alternative CN when the SNI does not match', async () => {
    const { port } = await wrongHostServer()
    const strict = await upstream(port, clientTlsOptions({ sni: 'origin.internal', ca }))
    expect(strict.pingoraError?.type).toBe('InvalidCert')
    const alt = await upstream(
      port,
      clientTlsOptions({ sni: 'origin.internal', ca, alternativeCn: 'wrong.test' }),
    )
    expect(alt.ok).toBe(true)
  })

  it('tolerates underscores in the leftmost SNI label', async () => {
    const { port } = await zoo()
    const result = await upstream(port, clientTlsOptions({ sni: 'my_api.wild.test', ca }))
    expect(result.ok).toBe(true)
  })

  it('disables verification for an empty SNI, as Pingora does', async () => {
    const { port } = await zoo()
    const options = clientTlsOptions({ sni: '' })
    expect(options.servername).toBeUndefined()
    expect(options.rejectUnauthorized).toBe(false)
    const result = await upstream(port, options)
    expect(result.ok).toBe(true)
    expect(result.server?.servername).toBeUndefined()
  })

  it('sends no SNI for an IP literal but verifies the IP against the certificate', async () => {
    const { port } = await zoo()
    const options = clientTlsOptions({ sni: '127.0.0.1', ca })
    expect(options.servername).toBeUndefined()
    const result = await upstream(port, options)
    expect(result.ok).toBe(true)
    expect(result.server?.servername).toBeUndefined()
    const other = await wrongHostServer()
    const refused = await upstream(other.port, clientTlsOptions({ sni: '127.0.0.1', ca }))
    expect(refused.pingoraError?.type).toBe('InvalidCert')
  })

  it("falls back to the connector's caFile", async () => {
    const { port } = await zoo()
    const result = await upstream(port, clientTlsOptions({ sni: 'a.test' }, { caFile: certs.ca }))
    expect(result.ok).toBe(true)
  })

  it('caches one SecureContext per distinct setting', () => {
    const a = clientTlsOptions({ sni: 'a.test', ca })
    const b = clientTlsOptions({ sni: 'b.test', ca: Buffer.from(ca), verifyHostname: false })
    const c = clientTlsOptions({ sni: 'a.test', ca: readCert('client-ca.pem') })
    const d = clientTlsOptions({ sni: 'a.test', ca, groups: ['P-256'] })
    expect(a.secureContext).toBe(b.secureContext)
    expect(clientTlsOptions({ sni: 'c.test', ca: ca.toString() }).secureContext).toBe(
      a.secureContext,
    )
    expect(a.secureContext).not.toBe(c.secureContext)
    expect(a.secureContext).not.toBe(d.secureContext)
  })

  it('offers the peer ALPN list', async () => {
    const { port } = await zoo()
    const result = await upstream(
      port,
      clientTlsOptions({ sni: 'a.test', ca, alpn: ['h2', 'http/1.1'] }),
    )
    expect(result.client?.alpn).toBe('h2')
  })

  it('presents a client certificate for upstream mTLS', async () => {
    const settings = new TlsSettings({ cert: certs.localhost.cert, key: certs.localhost.key })
    settings.setClientAuth({ ca: certs.clientCa })
    const { port } = await startTlsServer(settings)
    const certKey = { cert: readCert('client.pem'), key: readCert('client.key') }
    const withCert = await upstream(port, clientTlsOptions({ sni: 'localhost', ca, certKey }))
    expect(withCert.server?.peerCertificate?.commonName).toBe('client.test')
    const fromFiles = await upstream(
      port,
      clientTlsOptions(
        { sni: 'localhost', ca },
        { certKeyFile: { certPath: certs.client.cert, keyPath: certs.client.key } },
      ),
    )
    expect(fromFiles.server?.peerCertificate?.commonName).toBe('client.test')
  })

  it('writes TLS secrets to the key log file', async () => {
    const { port } = await zoo()
    const file = join(mkdtempSync(join(tmpdir(), 'keylog-')), 'keys.log')
    const socket = tls.connect({
      host: '127.0.0.1',
      port,
      ...clientTlsOptions({ sni: 'a.test', ca }),
    })
    expect(attachKeylog(socket, file)).toBe(true)
    expect(attachKeylog(socket, '')).toBe(false)
    // Only the secrets matter here: ignore how the server closes (end or reset).
    socket.on('error', () => undefined)
    const closed = once(socket, 'close')
    socket.once('secureConnect', () => socket.end())
    socket.resume()
    await closed
    // Lines are appended asynchronously; wait until the stream has written them.
    const waitForContent = async (): Promise<string> => {
      for (;;) {
        // The append stream opens the file asynchronously, so it may not exist yet.
        const text = existsSync(file) ? readFileSync(file, 'utf8') : ''
        if (text.includes('CLIENT_TRAFFIC_SECRET_0')) return text
        await new Promise((resolve) => setImmediate(resolve))
      }
    }
    expect(await waitForContent()).toMatch(/^CLIENT_HANDSHAKE_TRAFFIC_SECRET [0-9a-f]+ [0-9a-f]+$/m)
  })

  it('verifies without SNI when verifyCert is given explicitly, and fails closed without a name', () => {
    const legacy = clientTlsOptions({ sni: '' })
    expect(legacy.rejectUnauthorized).toBe(false)
    const verified = clientTlsOptions({ sni: '', verifyCert: true })
    expect(verified.rejectUnauthorized).toBe(true)
    expect(verified.servername).toBeUndefined()
    const cert = { subject: { CN: 'localhost' }, subjectaltname: 'DNS:localhost' }
    const check = verified.checkServerIdentity as (host: string, cert: unknown) => unknown
    expect((check('localhost', cert) as { code?: string }).code).toBe(
      'ERR_TLS_CERT_ALTNAME_INVALID',
    )
    const named = clientTlsOptions({ sni: '', verifyCert: true, alternativeCn: 'localhost' })
    const checkNamed = named.checkServerIdentity as (host: string, cert: unknown) => unknown
    expect(checkNamed('localhost', cert)).toBeUndefined()
  })

  it('rejects a non-string SNI', () => {
    expect(() => clientTlsOptions({ sni: undefined as unknown as string })).toThrow(
      new TypeError('peer.sni must be a string'),
    )
  })

  it('maps a handshake timeout to TLSHandshakeTimedout and passes PingoraErrors through', () => {
    const timeout = Object.assign(new Error('TLS handshake timeout'), {
      code: 'ERR_TLS_HANDSHAKE_TIMEOUT',
    })
    expect(tlsErrorToPingora(timeout, 'downstream').type).toBe('TLSHandshakeTimedout')
    const existing = PingoraError.explain('ConnectRefused', 'x')
    expect(tlsErrorToPingora(existing)).toBe(existing)
  })
})
