import { execFile } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { promisify } from 'node:util'
import { certs, readCert } from '@pingora-ts/test-utils'
import { describe, expect, it } from 'vitest'
import type { ClientAuthMode } from '../src/tls-options.ts'
import { TlsSettings } from '../src/tls-settings.ts'
import { connect, startTlsServer } from './helpers.ts'

const ca = readCert('ca.pem')
const goodClient = { cert: readCert('client.pem'), key: readCert('client.key') }
const untrustedClient = {
  cert: readCert('untrusted-client.pem'),
  key: readCert('untrusted-client.key'),
}
const hasCurl = await promisify(execFile)('curl', ['--version']).then(
  () => true,
  () => false,
)

function mtlsSettings(mode: ClientAuthMode): TlsSettings {
  return new TlsSettings({ cert: certs.localhost.cert, key: certs.localhost.key })
    .addCertificate('a.test', certs.aTest.cert, certs.aTest.key)
    .setClientAuth({ ca: certs.clientCa, mode })
}

describe('client certificates (mTLS)', () => {
  it('accepts a client certificate from the trusted CA and exposes its identity', async () => {
    const { port } = await startTlsServer(mtlsSettings('require'))
    const result = await connect(port, { servername: 'localhost', ca, ...goodClient })
    expect(result.ok).toBe(true)
    const identity = result.server?.peerCertificate
    expect(result.server?.peerVerified).toBe(true)
    expect(identity?.commonName).toBe('client.test')
    expect(identity?.organization).toBe('pingora-ts test')
    expect(identity?.subjectAltNames).toEqual([
      'DNS:client.test',
      'URI:spiffe://pingora-ts.test/client',
      'email:client@pingora-ts.test',
    ])
    const x509 = new X509Certificate(goodClient.cert)
    expect(identity?.fingerprint256).toBe(x509.fingerprint256)
    expect(identity?.serialNumber).toBe(x509.serialNumber)
    expect(identity?.issuer).toContain('CN=pingora-ts Test Client CA')
  })

  it('verifies client certificates on SNI-selected certificates too', async () => {
    const { port } = await startTlsServer(mtlsSettings('require'))
    const result = await connect(port, { servername: 'a.test', ca, ...goodClient })
    expect(result.ok).toBe(true)
    expect(result.server?.peerCertificate?.commonName).toBe('client.test')
    const refused = await connect(port, { servername: 'a.test', ca, ...untrustedClient })
    expect(refused.ok).toBe(false)
  })

  it('refuses a client without a certificate when one is required', async () => {
    const { port, server } = await startTlsServer(mtlsSettings('require'))
    let accepted = 0
    server.on('secureConnection', () => accepted++)
    const result = await connect(port, { servername: 'localhost', ca })
    expect(result.ok).toBe(false)
    expect(result.server).toBeUndefined()
    expect(accepted).toBe(0)
  })

  it('refuses a client certificate from an untrusted CA', async () => {
    const { port, server } = await startTlsServer(mtlsSettings('require'))
    let accepted = 0
    server.on('secureConnection', () => accepted++)
    const result = await connect(port, { servername: 'localhost', ca, ...untrustedClient })
    expect(result.ok).toBe(false)
    expect(result.server).toBeUndefined()
    expect(accepted).toBe(0)
  })

  it('lets clients without a certificate in when only requesting one', async () => {
    const { port } = await startTlsServer(mtlsSettings('request'))
    const result = await connect(port, { servername: 'localhost', ca })
    expect(result.ok).toBe(true)
    expect(result.server?.peerCertificate).toBeUndefined()
    expect(result.server?.peerVerified).toBe(false)
  })

  it('marks an untrusted client certificate as unverified in request mode', async () => {
    const { port } = await startTlsServer(mtlsSettings('request'))
    const result = await connect(port, { servername: 'localhost', ca, ...untrustedClient })
    expect(result.ok).toBe(true)
    expect(result.server?.peerVerified).toBe(false)
    expect(result.server?.verifyError).toMatch(/^UNABLE_TO_(GET_ISSUER_CERT|VERIFY_LEAF_SIGNATURE)/)
    expect(result.server?.peerCertificate?.commonName).toBe('untrusted.test')
  })

  it.skipIf(!hasCurl)(
    'accepts curl with a client certificate and refuses curl without',
    async () => {
      const { port } = await startTlsServer(mtlsSettings('require'))
      const curl = promisify(execFile)
      const base = [
        '-sS',
        '--http1.1',
        '--cacert',
        certs.ca,
        '--resolve',
        `a.test:${port}:127.0.0.1`,
      ]
      const url = `https://a.test:${port}/`
      const { stdout } = await curl('curl', [
        ...base,
        '--cert',
        certs.client.cert,
        '--key',
        certs.client.key,
        url,
      ])
      expect(JSON.parse(stdout).peerCertificate.commonName).toBe('client.test')
      await expect(curl('curl', [...base, url])).rejects.toBeTruthy()
    },
  )
})
