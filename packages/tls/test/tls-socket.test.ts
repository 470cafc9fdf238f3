import { X509Certificate } from 'node:crypto'
import { copyFileSync, mkdtempSync } from 'node:fs'
import type net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import tls from 'node:tls'
import { certs, readCert, startRawServer } from '@pingora-ts/test-utils'
import { describe, expect, it, onTestFinished } from 'vitest'
import { readClientHello } from '../src/client-hello.ts'
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

/** Like startListener, but reads the ClientHello first and picks the context with contextFor. */
async function startPeekingListener(settings: TlsSettings) {
  const options = settings.toServerOptions()
  const raw = await startRawServer((socket: net.Socket) => {
    socket.on('error', () => undefined)
    readClientHello(socket)
      .then((hello) => settings.contextFor(hello?.servername, hello?.ticket))
      .then((secureContext) => {
        // The context is already chosen: skip node:tls's own SNI lookup.
        const secure = new tls.TLSSocket(socket, {
          ...options,
          isServer: true,
          secureContext,
          SNICallback: undefined,
        })
        secure.on('error', () => undefined)
        secure.once('secure', () => respond(secure))
      })
      .catch(() => socket.destroy())
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
    expect(accepted.server?.peerVerified).toBe(true)
    // A bare server TLSSocket does not reject an untrusted certificate by itself (tls.Server
    // does, in its own handler): the listener must check the digest, as core's does.
    const untrusted = await connect(port, {
      servername: 'localhost',
      ca,
      cert: readCert('untrusted-client.pem'),
      key: readCert('untrusted-client.key'),
    })
    expect(untrusted.server?.peerVerified).toBe(false)
    expect(untrusted.server?.verifyError).toMatch(/^UNABLE_TO_/)
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

  it('serves the right certificate when RSA and ECDSA certificates are mixed, after reading the ClientHello', async () => {
    const settings = new TlsSettings({ cert: certs.localhost.cert, key: certs.localhost.key })
      .addCertificate('a.test', certs.aTest.cert, certs.aTest.key)
      .addCertificate('localhost', certs.rsaLocalhost.cert, certs.rsaLocalhost.key)
    const { port } = await startPeekingListener(settings)
    expect(await servedCert(port, 'localhost')).toBe(print('rsa-localhost.pem'))
    expect(await servedCert(port, 'a.test')).toBe(print('a.test.pem'))
    expect(await servedCert(port, undefined)).toBe(print('localhost.pem'))
    const verified = await connect(port, { servername: 'localhost', ca })
    expect(verified.ok).toBe(true)
  })

  it('runs the async certificate callback before the handshake through contextFor', async () => {
    const settings = new TlsSettings({ cert: certs.localhost.cert, key: certs.localhost.key })
    settings.setCertificateCallback(async (name) =>
      name === 'dynamic.test'
        ? { cert: readCert('rsa-localhost.pem'), key: readCert('rsa-localhost.key') }
        : undefined,
    )
    const { port } = await startPeekingListener(settings)
    expect(await servedCert(port, 'dynamic.test')).toBe(print('rsa-localhost.pem'))
    expect(await servedCert(port, 'other.test')).toBe(print('localhost.pem'))
    expect(settings.contextFor(undefined)).toBe(settings.secureContext)
    expect(await settings.contextFor('other.test')).toBe(settings.secureContext)
  })

  it('stores the handshake-complete callback result in the digest extension', async () => {
    const settings = new TlsSettings({ cert: certs.localhost.cert, key: certs.localhost.key })
    settings.setClientAuth({ ca: certs.clientCa, mode: 'request' })
    settings.setHandshakeCompleteCallback(async (_socket, digest) => {
      await new Promise((resolve) => setImmediate(resolve))
      const uri = digest.peerCertificate?.subjectAltNames.find((san) => san.startsWith('URI:'))
      return uri === undefined ? { spiffeId: undefined } : { spiffeId: uri.slice(4) }
    })
    const options = settings.toServerOptions()
    const raw = await startRawServer((socket: net.Socket) => {
      const secure = new tls.TLSSocket(socket, {
        ...options,
        isServer: true,
        secureContext: options.secureContext,
      })
      secure.on('error', () => undefined)
      secure.once('secure', async () => {
        const digest = await settings.handshakeComplete(secure)
        secure.end(JSON.stringify(digest.extension))
      })
    })
    onTestFinished(raw.close)
    const read = (extra: tls.ConnectionOptions) =>
      new Promise<string>((resolve, reject) => {
        const client = tls.connect({
          host: '127.0.0.1',
          port: raw.port,
          servername: 'localhost',
          ca,
          ...extra,
        })
        let text = ''
        client.setEncoding('utf8')
        client.on('data', (chunk: string) => {
          text += chunk
        })
        client.on('end', () => resolve(text))
        client.on('error', reject)
      })
    const withCert = await read({ cert: readCert('client.pem'), key: readCert('client.key') })
    expect(JSON.parse(withCert)).toEqual({ spiffeId: 'spiffe://pingora-ts.test/client' })
    expect(JSON.parse(await read({}))).toEqual({})
  })

  it.each([
    ['TLSv1.3', undefined],
    ['TLSv1.2', 'TLSv1.2'],
  ] as const)(
    'keeps resuming %s tickets of the previous key for one rotation',
    async (_name, maxVersion) => {
      const settings = new TlsSettings({
        cert: certs.localhost.cert,
        key: certs.localhost.key,
      }).addCertificate('a.test', certs.aTest.cert, certs.aTest.key)
      const { port } = await startPeekingListener(settings)
      for (const servername of ['localhost', 'a.test']) {
        const first = await connect(port, { servername, ca, maxVersion })
        expect(first.session).toBeInstanceOf(Buffer)
        settings.rotateTicketKeys()
        const afterOne = await connect(port, { servername, ca, maxVersion, session: first.session })
        expect(afterOne.client?.sessionReused).toBe(true)
        settings.rotateTicketKeys()
        settings.rotateTicketKeys()
        const afterTwo = await connect(port, { servername, ca, maxVersion, session: first.session })
        expect(afterTwo.ok).toBe(true)
        expect(afterTwo.client?.sessionReused).toBe(false)
      }
    },
  )
})
