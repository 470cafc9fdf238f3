import { X509Certificate } from 'node:crypto'
import diagnostics from 'node:diagnostics_channel'
import tls from 'node:tls'
import { certs, readCert } from '@pingora-ts/test-utils'
import { describe, expect, it, onTestFinished } from 'vitest'
import { TLS_CHANNELS } from '../src/diagnostics.ts'
import type { CertificateRequest } from '../src/tls-options.ts'
import { TlsSettings } from '../src/tls-settings.ts'
import { connect, servedCert, startTlsServer } from './helpers.ts'

const ca = readCert('ca.pem')
const pem = (name: string) => ({ cert: readCert(`${name}.pem`), key: readCert(`${name}.key`) })
const print = (name: string) => new X509Certificate(readCert(`${name}.pem`)).fingerprint256
const tick = () => new Promise((resolve) => setImmediate(resolve))

describe('certificate callback', () => {
  it('serves a certificate looked up asynchronously per server name', async () => {
    const requests: CertificateRequest[] = []
    const settings = TlsSettings.withCallbacks(async (servername, request) => {
      requests.push(request)
      await tick()
      return servername === 'a.test' ? pem('a.test') : pem('b.test')
    })
    const { port } = await startTlsServer(settings)
    const a = await connect(port, { servername: 'a.test', ca })
    expect(a.ok).toBe(true)
    expect(a.client?.peerCertificate?.fingerprint256).toBe(print('a.test'))
    expect(await servedCert(port, 'b.test')).toBe(print('b.test'))
    expect(requests[0]?.servername).toBe('a.test')
    expect(requests[0]?.socket).toBeInstanceOf(tls.TLSSocket)
  })

  it('falls back to the default certificate when the callback returns undefined', async () => {
    const settings = new TlsSettings({ cert: certs.localhost.cert, key: certs.localhost.key })
    settings.setCertificateCallback(() => undefined)
    const { port } = await startTlsServer(settings)
    expect(await servedCert(port, 'unknown.test')).toBe(print('localhost'))
  })

  it('accepts a ready SecureContext and resumes sessions on it', async () => {
    const context = tls.createSecureContext(pem('a.test'))
    const settings = TlsSettings.withCallbacks(() => context)
    const { port } = await startTlsServer(settings)
    const first = await connect(port, { servername: 'a.test', ca })
    expect(first.ok).toBe(true)
    const second = await connect(port, { servername: 'a.test', ca, session: first.session })
    expect(second.client?.sessionReused).toBe(true)
  })

  it('is not consulted for names with an added certificate', async () => {
    let calls = 0
    const settings = TlsSettings.withCallbacks(() => {
      calls++
      return pem('b.test')
    }).addCertificate('a.test', certs.aTest.cert, certs.aTest.key)
    const { port } = await startTlsServer(settings)
    expect(await servedCert(port, 'a.test')).toBe(print('a.test'))
    expect(calls).toBe(0)
    expect(await servedCert(port, 'other.test')).toBe(print('b.test'))
    expect(calls).toBe(1)
  })

  it('fails the handshake and reports when the callback rejects', async () => {
    const failures: unknown[] = []
    const settings = TlsSettings.withCallbacks(async () => {
      throw new Error('lookup failed')
    })
    const fn = (message: unknown) => {
      if ((message as { settings: unknown }).settings === settings) failures.push(message)
    }
    diagnostics.subscribe(TLS_CHANNELS.certificateCallbackFailed, fn)
    onTestFinished(() => {
      diagnostics.unsubscribe(TLS_CHANNELS.certificateCallbackFailed, fn)
    })
    const { port, clientErrors } = await startTlsServer(settings)
    const result = await connect(port, { servername: 'a.test', ca })
    expect(result.ok).toBe(false)
    expect(failures).toMatchObject([{ servername: 'a.test', error: { message: 'lookup failed' } }])
    expect(clientErrors.length).toBe(1)
  })

  it('fails the handshake when the callback returns a mismatched pair', async () => {
    const settings = TlsSettings.withCallbacks(() => ({
      cert: readCert('a.test.pem'),
      key: readCert('b.test.key'),
    }))
    const { port } = await startTlsServer(settings)
    const result = await connect(port, { servername: 'a.test', ca })
    expect(result.ok).toBe(false)
  })
})
