import { execFile } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import diagnosticsChannel from 'node:diagnostics_channel'
import { existsSync } from 'node:fs'
import { copyFile, mkdtemp, rename, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import tls from 'node:tls'
import { PingoraError } from '@pingora-ts/error'
import { TLS_CHANNELS, TlsSettings } from '@pingora-ts/tls'
import { Agent, request } from 'undici'
import { describe, expect, it, onTestFinished } from 'vitest'
import { HANDSHAKE_TIMEOUT_MS } from '../../src/listeners/listeners.ts'
import { tlsListenerConfig } from '../../src/listeners/tls.ts'
import { ListeningService } from '../../src/services/listening.ts'
import { closed, connect, portOf, startServer } from '../server/helpers.ts'
import { certs, collectConnectionErrors, digestApp, httpsGet, readPem } from './helpers.ts'

interface DigestBody {
  path: string
  tls: {
    version?: string
    cipher?: string
    sni?: string
    alpn?: string
    sessionReused?: boolean
    peerCertificate?: { commonName?: string; subjectAltNames: string[]; issuer: string }
    extension?: unknown
  } | null
}

async function tlsService(settings: TlsSettings): Promise<number> {
  const service = new ListeningService('tls', digestApp)
  service.addTlsWithSettings('127.0.0.1:0', undefined, settings)
  await startServer([service])
  return portOf(service)
}

function curl(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('curl', ['-sS', ...args], (error, stdout, stderr) =>
      error ? reject(new Error(`${error.message}: ${stderr}`)) : resolve(stdout),
    )
  })
}

describe('ListeningService.addTls', () => {
  it('serves HTTPS to undici and shows the TLS digest to every request of a connection', async () => {
    const service = new ListeningService('tls', digestApp)
    service.addTls('127.0.0.1:0', certs.localhost.cert, certs.localhost.key)
    await startServer([service])
    const port = portOf(service)
    const dispatcher = new Agent({
      connections: 1,
      connect: { ca: readPem(certs.ca), servername: 'localhost' },
    })
    onTestFinished(() => dispatcher.close())
    for (const path of ['/one', '/two']) {
      const response = await request(`https://127.0.0.1:${port}${path}`, { dispatcher })
      expect(response.statusCode).toBe(200)
      const body = (await response.body.json()) as DigestBody
      expect(body.path).toBe(path)
      expect(body.tls).toMatchObject({ version: 'TLSv1.3', sni: 'localhost' })
      expect(body.tls?.cipher).toMatch(/^TLS_/)
      expect(body.tls?.peerCertificate).toBeUndefined()
    }
    // Both requests went over one TLS connection.
    expect(service.connectionCount).toBe(1)
  })

  it.runIf(existsSync('/usr/bin/curl'))(
    'answers curl, which negotiates HTTP/1.1 through ALPN',
    async () => {
      const service = new ListeningService('tls', digestApp)
      service.addTls('127.0.0.1:0', certs.localhost.cert, certs.localhost.key)
      await startServer([service])
      const port = portOf(service)
      const output = await curl([
        '--cacert',
        certs.ca,
        '--resolve',
        `localhost:${port}:127.0.0.1`,
        '-w',
        '\n%{http_version}',
        `https://localhost:${port}/curl`,
      ])
      const [json, version] = output.split('\n')
      expect(version).toBe('1.1')
      const body = JSON.parse(json ?? '') as DigestBody
      expect(body.tls).toMatchObject({ sni: 'localhost', alpn: 'http/1.1' })
    },
  )

  it('serves node:https without SNI with the default certificate', async () => {
    const port = await tlsService(
      TlsSettings.intermediate(certs.localhost.cert, certs.localhost.key),
    )
    // An IP host: Node sends no SNI; the localhost certificate also names 127.0.0.1.
    const reply = await httpsGet(port, {}, '/ip')
    expect(reply.status).toBe(200)
    expect(reply.serverCert.subjectaltname).toContain('IP Address:127.0.0.1')
    const body = JSON.parse(reply.body) as DigestBody
    expect(body.tls?.sni).toBeUndefined()
    expect(body.tls?.version).toBe('TLSv1.3')
  })

  it('rejects unreadable certificate files when the endpoint is added', () => {
    const service = new ListeningService('tls', digestApp)
    let error: unknown
    try {
      service.addTls('127.0.0.1:0', '/nonexistent/cert.pem', certs.localhost.key)
    } catch (caught) {
      error = caught
    }
    expect(PingoraError.is(error)).toBe(true)
    expect(error).toMatchObject({ type: 'TLSConfigError', source: 'internal' })
    expect(service.endpoints().configs).toHaveLength(0)
  })

  it('uses the settings handshake timeout, 60 s by default', () => {
    const fallback = tlsListenerConfig(
      { kind: 'tcp', address: '127.0.0.1:0' },
      TlsSettings.intermediate(certs.localhost.cert, certs.localhost.key),
    )
    // The service-level limit only backs up the TLS handshake's own limit.
    expect(fallback.handshakeTimeoutMs).toBeGreaterThan(HANDSHAKE_TIMEOUT_MS)
    expect(() =>
      tlsListenerConfig(
        { kind: 'tcp', address: '127.0.0.1:0' },
        TlsSettings.intermediate(certs.localhost.cert, certs.localhost.key),
        { handshakeTimeoutMs: 0 },
      ),
    ).toThrow(new RangeError('handshakeTimeoutMs must be an integer from 1 to 2147482647, got 0'))
  })
})

describe('SNI', () => {
  it('picks the certificate by server name: exact names, wildcard, then the default', async () => {
    const settings = TlsSettings.intermediate(certs.localhost.cert, certs.localhost.key)
    settings.addCertificate('a.test', certs.aTest.cert, certs.aTest.key)
    settings.addCertificate(['b.test'], certs.bTest.cert, certs.bTest.key)
    settings.addCertificate('*.wild.test', certs.wildcard.cert, certs.wildcard.key)
    const port = await tlsService(settings)
    const cases: Array<[string, string]> = [
      ['a.test', 'DNS:a.test'],
      ['b.test', 'DNS:b.test'],
      ['x.wild.test', 'DNS:*.wild.test'],
      ['localhost', 'DNS:localhost'],
    ]
    for (const [servername, san] of cases) {
      const reply = await httpsGet(port, { servername })
      expect(reply.serverCert.subjectaltname).toContain(san)
      expect((JSON.parse(reply.body) as DigestBody).tls?.sni).toBe(servername)
    }
  })

  it('serves an RSA SNI certificate next to an ECDSA default', async () => {
    const settings = TlsSettings.intermediate(certs.aTest.cert, certs.aTest.key)
    settings.addCertificate('localhost', certs.rsaLocalhost.cert, certs.rsaLocalhost.key)
    const port = await tlsService(settings)
    // TLS 1.2 so the negotiated cipher names the key type.
    const reply = await httpsGet(port, { servername: 'localhost', maxVersion: 'TLSv1.2' })
    expect(reply.serverCert.pubkey?.length).toBeGreaterThan(200) // RSA 2048, not P-256
    expect((JSON.parse(reply.body) as DigestBody).tls?.cipher).toMatch(/^ECDHE-RSA-/)
  })

  it('awaits an async certificate callback for unknown names', async () => {
    const settings = TlsSettings.withCallbacks(async (servername) =>
      servername === 'b.test'
        ? { cert: readPem(certs.bTest.cert), key: readPem(certs.bTest.key) }
        : undefined,
    )
    settings.setDefaultCertificate(certs.localhost.cert, certs.localhost.key)
    const port = await tlsService(settings)
    const reply = await httpsGet(port, { servername: 'b.test' })
    expect(reply.serverCert.subjectaltname).toContain('DNS:b.test')
  })
})

describe('mTLS', () => {
  async function mtlsPort(mode: 'require' | 'request'): Promise<number> {
    const settings = TlsSettings.intermediate(certs.localhost.cert, certs.localhost.key)
    settings.setClientAuth({ ca: certs.clientCa, mode })
    return tlsService(settings)
  }
  const client = () => ({ cert: readPem(certs.client.cert), key: readPem(certs.client.key) })
  const untrusted = () => ({
    cert: readPem(certs.untrustedClient.cert),
    key: readPem(certs.untrustedClient.key),
  })

  it('accepts a trusted client certificate and shows its identity to the app', async () => {
    const port = await mtlsPort('require')
    const reply = await httpsGet(port, { servername: 'localhost', ...client() })
    expect(reply.status).toBe(200)
    const identity = (JSON.parse(reply.body) as DigestBody).tls?.peerCertificate
    expect(identity?.commonName).toBe('client.test')
    expect(identity?.subjectAltNames.length).toBeGreaterThan(0)
  })

  it('refuses a client without a certificate, typed InvalidCert', async () => {
    const port = await mtlsPort('require')
    const errors = collectConnectionErrors()
    await expect(httpsGet(port, { servername: 'localhost' })).rejects.toThrow()
    const message = await errors.next()
    expect(message.error).toMatchObject({ type: 'InvalidCert', source: 'downstream' })
  })

  it('refuses a client certificate from an untrusted CA, typed InvalidCert', async () => {
    const port = await mtlsPort('require')
    const errors = collectConnectionErrors()
    await expect(httpsGet(port, { servername: 'localhost', ...untrusted() })).rejects.toThrow()
    const message = await errors.next()
    expect(message.error).toMatchObject({ type: 'InvalidCert', source: 'downstream' })
    // The server still serves trusted clients.
    expect((await httpsGet(port, { servername: 'localhost', ...client() })).status).toBe(200)
  })

  it("in 'request' mode serves clients with and without a certificate", async () => {
    const port = await mtlsPort('request')
    const without = await httpsGet(port, { servername: 'localhost' })
    expect((JSON.parse(without.body) as DigestBody).tls?.peerCertificate).toBeUndefined()
    const withCert = await httpsGet(port, { servername: 'localhost', ...client() })
    const identity = (JSON.parse(withCert.body) as DigestBody).tls?.peerCertificate
    expect(identity?.commonName).toBe('client.test')
  })

  it('carries the handshake-complete callback result in digest.tls.extension', async () => {
    const settings = TlsSettings.intermediate(certs.localhost.cert, certs.localhost.key)
    settings.setClientAuth({ ca: certs.clientCa })
    settings.setHandshakeCompleteCallback(async (_socket, digest) => ({
      user: digest.peerCertificate?.commonName,
    }))
    const port = await tlsService(settings)
    const reply = await httpsGet(port, { servername: 'localhost', ...client() })
    expect((JSON.parse(reply.body) as DigestBody).tls?.extension).toEqual({ user: 'client.test' })
  })
})

describe('handshake failures are contained', () => {
  it('closes a client that sends nothing after the handshake timeout, typed TLSHandshakeTimedout', async () => {
    const port = await tlsService(
      new TlsSettings({
        cert: certs.localhost.cert,
        key: certs.localhost.key,
        handshakeTimeoutMs: 100,
      }),
    )
    const errors = collectConnectionErrors()
    const socket = await connect(port)
    await closed(socket)
    const message = await errors.next()
    expect(message.error).toMatchObject({ type: 'TLSHandshakeTimedout', source: 'downstream' })
    expect(message.service).toBe('tls')
  })

  it('times out a client that stops in the middle of its ClientHello', async () => {
    const port = await tlsService(
      new TlsSettings({
        cert: certs.localhost.cert,
        key: certs.localhost.key,
        handshakeTimeoutMs: 100,
      }),
    )
    const errors = collectConnectionErrors()
    const socket = await connect(port)
    // A handshake record header announcing 512 bytes, then silence.
    socket.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00]))
    await closed(socket)
    expect((await errors.next()).error).toMatchObject({ type: 'TLSHandshakeTimedout' })
  })

  it('closes a connection that sends garbage instead of a ClientHello and keeps serving', async () => {
    const port = await tlsService(
      TlsSettings.intermediate(certs.localhost.cert, certs.localhost.key),
    )
    const errors = collectConnectionErrors()
    for (const garbage of [
      'GET / HTTP/1.1\r\nHost: localhost\r\n\r\n',
      Buffer.from([0x16, 0x03, 0x01, 0x00, 0x04, 0x02, 0x00, 0x00, 0x00]),
    ]) {
      const socket = await connect(port)
      socket.write(garbage)
      await closed(socket)
      const message = await errors.next()
      expect(message.error).toMatchObject({ type: 'TLSHandshakeFailure', source: 'downstream' })
    }
    expect((await httpsGet(port, { servername: 'localhost' })).status).toBe(200)
  })

  it('types a failed negotiation (no common protocol version) as TLSHandshakeFailure', async () => {
    const settings = TlsSettings.intermediate(certs.localhost.cert, certs.localhost.key)
    settings.setMinVersion('TLSv1.3')
    const port = await tlsService(settings)
    const errors = collectConnectionErrors()
    await expect(
      httpsGet(port, { servername: 'localhost', maxVersion: 'TLSv1.2' }),
    ).rejects.toThrow()
    expect((await errors.next()).error).toMatchObject({
      type: 'TLSHandshakeFailure',
      source: 'downstream',
    })
    expect((await httpsGet(port, { servername: 'localhost' })).status).toBe(200)
  })

  it('closes a client that leaves during the handshake without an unhandled error', async () => {
    const port = await tlsService(
      TlsSettings.intermediate(certs.localhost.cert, certs.localhost.key),
    )
    const errors = collectConnectionErrors()
    const socket = await connect(port)
    socket.end()
    await closed(socket)
    expect((await errors.next()).error).toMatchObject({ type: 'TLSHandshakeFailure' })
  })
})

describe('hot reload through the listener', () => {
  async function certDir(): Promise<{
    cert: string
    key: string
    put(pair: { cert: string; key: string }): Promise<void>
  }> {
    const dir = await mkdtemp(join(tmpdir(), 'pingora-tls-'))
    onTestFinished(() => rm(dir, { recursive: true, force: true }))
    const cert = join(dir, 'site.pem')
    const key = join(dir, 'site.key')
    return {
      cert,
      key,
      // Like certbot: write new files beside the old ones, then rename them into place.
      async put(pair) {
        await copyFile(pair.cert, `${cert}.new`)
        await copyFile(pair.key, `${key}.new`)
        await rename(`${cert}.new`, cert)
        await rename(`${key}.new`, key)
      },
    }
  }
  const fingerprintOf = (pem: string): string => new X509Certificate(readPem(pem)).fingerprint256

  it('applies reload() to new handshakes under a loop of handshakes, with no failure', async () => {
    const files = await certDir()
    await files.put(certs.localhost)
    const settings = TlsSettings.intermediate(files.cert, files.key)
    const port = await tlsService(settings)
    const ecdsa = fingerprintOf(certs.localhost.cert)
    const rsa = fingerprintOf(certs.rsaLocalhost.cert)
    expect((await httpsGet(port, { servername: 'localhost' })).serverCert.fingerprint256).toBe(
      ecdsa,
    )

    let running = true
    let handshakes = 0
    const failures: unknown[] = []
    const loop = async (): Promise<void> => {
      while (running) {
        try {
          await httpsGet(port, { servername: 'localhost' })
          handshakes++
        } catch (error) {
          failures.push(error)
        }
      }
    }
    const loops = [loop(), loop(), loop()]
    for (let round = 0; round < 6; round++) {
      const next = round % 2 === 0 ? certs.rsaLocalhost : certs.localhost
      await files.put(next)
      await settings.reload()
      const seen = (await httpsGet(port, { servername: 'localhost' })).serverCert.fingerprint256
      expect(seen).toBe(next === certs.localhost ? ecdsa : rsa)
    }
    running = false
    await Promise.all(loops)
    expect(failures).toEqual([])
    expect(handshakes).toBeGreaterThan(0)
  })

  it('sees certificate file changes through watchFiles on a running service', async () => {
    const files = await certDir()
    await files.put(certs.localhost)
    const settings = TlsSettings.intermediate(files.cert, files.key)
    onTestFinished(() => settings.close())
    const port = await tlsService(settings)
    settings.watchFiles({ debounceMs: 20 })
    const reloaded = new Promise<void>((resolve) => {
      const onReload = (): void => {
        diagnosticsChannel.unsubscribe(TLS_CHANNELS.reloaded, onReload)
        resolve()
      }
      diagnosticsChannel.subscribe(TLS_CHANNELS.reloaded, onReload)
    })
    await files.put(certs.rsaLocalhost)
    await reloaded
    const reply = await httpsGet(port, { servername: 'localhost' })
    expect(reply.serverCert.fingerprint256).toBe(fingerprintOf(certs.rsaLocalhost.cert))
  })
})

/** Connects once and resolves with the session ticket the server issues. */
function firstSessionTicket(port: number): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const socket = tls.connect({
      port,
      host: '127.0.0.1',
      servername: 'localhost',
      ca: readPem(certs.ca),
    })
    socket.once('session', (ticket: Buffer) => {
      resolve(ticket)
      socket.end()
    })
    socket.on('error', reject)
    socket.once('secureConnect', () => socket.write('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n'))
    socket.resume()
  })
}

describe('session resumption', () => {
  it('resumes a TLS session with the ticket of an earlier connection', async () => {
    const port = await tlsService(
      TlsSettings.intermediate(certs.localhost.cert, certs.localhost.key),
    )
    const session = await firstSessionTicket(port)
    const reply = await httpsGet(port, { servername: 'localhost', session })
    expect((JSON.parse(reply.body) as DigestBody).tls?.sessionReused).toBe(true)
  })

  it('still resumes a ticket issued before one ticket-key rotation', async () => {
    const settings = TlsSettings.intermediate(certs.localhost.cert, certs.localhost.key)
    const port = await tlsService(settings)
    const session = await firstSessionTicket(port)
    settings.rotateTicketKeys()
    const reply = await httpsGet(port, { servername: 'localhost', session })
    expect((JSON.parse(reply.body) as DigestBody).tls?.sessionReused).toBe(true)
  })
})
