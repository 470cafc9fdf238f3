import { X509Certificate } from 'node:crypto'
import { copyFileSync, mkdtempSync } from 'node:fs'
import type net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import tls from 'node:tls'
import { certs, readCert, startRawServer } from '@pingora-ts/test-utils'
import { describe, expect, it, onTestFinished } from 'vitest'
import { TlsSettings } from '../src/tls-settings.ts'
import { connect, respond, servedCert } from './helpers.ts'

const ca = readCert('ca.pem')
const print = (file: string) => new X509Certificate(readCert(file)).fingerprint256

/**
 * Accepts TCP and upgrades with `new tls.TLSSocket(socket, { isServer: true, ...})`, the way
 * core's listener does, reading the options object per connection.
 */
async function startListener(settings: TlsSettings) {
  const options = settings.toServerOptions()
  const raw = await startRawServer((socket: net.Socket) => {
    const secure = new tls.TLSSocket(socket, {
      ...options,
      isServer: true,
      secureContext: options.secureContext,
    })
    secure.on('error', () => undefined)
    secure.once('secure', () => respond(secure))
  })
  onTestFinished(() => {
    settings.close()
    return raw.close()
  })
  return raw
}

describe('TLSSocket server path (core listener)', () => {
  it('selects certificates by SNI and negotiates ALPN', async () => {
    const settings = new TlsSettings({ cert: certs.localhost.cert, key: certs.localhost.key })
      .addCertificate('a.test', certs.aTest.cert, certs.aTest.key)
      .enableH2()
    const { port } = await startListener(settings)
    const result = await connect(port, { servername: 'a.test', ca, ALPNProtocols: ['h2'] })
    expect(result.ok).toBe(true)
    expect(result.server?.servername).toBe('a.test')
    expect(result.server?.alpn).toBe('h2')
    expect(await servedCert(port, undefined)).toBe(print('localhost.pem'))
  })

  it('resumes sessions', async () => {
    const settings = new TlsSettings({ cert: certs.localhost.cert, key: certs.localhost.key })
    const { port } = await startListener(settings)
    const first = await connect(port, { servername: 'localhost', ca })
    const second = await connect(port, { servername: 'localhost', ca, session: first.session })
    expect(second.client?.sessionReused).toBe(true)
  })

  it('requires client certificates', async () => {
    const settings = new TlsSettings({ cert: certs.localhost.cert, key: certs.localhost.key })
    settings.setClientAuth({ ca: certs.clientCa })
    const { port } = await startListener(settings)
    const refused = await connect(port, { servername: 'localhost', ca })
    expect(refused.ok).toBe(false)
    const accepted = await connect(port, {
      servername: 'localhost',
      ca,
      cert: readCert('client.pem'),
      key: readCert('client.key'),
    })
    expect(accepted.server?.peerCertificate?.commonName).toBe('client.test')
  })

  it('serves a reloaded default certificate to clients without SNI', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pingora-tls-'))
    const cert = join(dir, 'cert.pem')
    const key = join(dir, 'key.pem')
    copyFileSync(certs.localhost.cert, cert)
    copyFileSync(certs.localhost.key, key)
    const settings = new TlsSettings({ cert, key })
    const { port } = await startListener(settings)
    expect(await servedCert(port, undefined)).toBe(print('localhost.pem'))
    copyFileSync(certs.rsaLocalhost.cert, cert)
    copyFileSync(certs.rsaLocalhost.key, key)
    await settings.reload()
    expect(await servedCert(port, undefined)).toBe(print('rsa-localhost.pem'))
  })

  it('exposes the current context through the secureContext getter', async () => {
    const settings = new TlsSettings({ cert: certs.localhost.cert, key: certs.localhost.key })
    const options = settings.toServerOptions()
    const before = options.secureContext
    settings.setDefaultCertificate(certs.aTest.cert, certs.aTest.key)
    expect(options.secureContext).not.toBe(before)
    expect(options.secureContext).toBe(settings.secureContext)
  })
})
