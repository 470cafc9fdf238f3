// Issue 17: core's TLS listener refuses client-initiated renegotiation (a cheap CPU denial of
// service: each one costs the server a full handshake) and still signals RFC 5746 support.
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import tls from 'node:tls'
import { TlsSettings } from '@pingora-ts/tls'
import { describe, expect, it, onTestFinished } from 'vitest'
import { ListeningService } from '../../src/services/listening.ts'
import { portOf, startServer } from '../server/helpers.ts'
import { certs, digestApp, readPem } from './helpers.ts'

async function tlsPort(): Promise<number> {
  const service = new ListeningService('tls', digestApp)
  service.addTls('127.0.0.1:0', certs.localhost.cert, certs.localhost.key)
  await startServer([service])
  return portOf(service)
}

function connectTls12(port: number): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: '127.0.0.1',
      port,
      servername: 'localhost',
      ca: readPem(certs.ca),
      maxVersion: 'TLSv1.2',
    })
    onTestFinished(() => {
      socket.destroy()
    })
    socket.once('secureConnect', () => resolve(socket))
    socket.once('error', reject)
  })
}

describe('TLS renegotiation', () => {
  it('refuses a client-initiated renegotiation on TLS 1.2', async () => {
    const socket = await connectTls12(await tlsPort())
    expect(socket.getProtocol()).toBe('TLSv1.2')
    const error = await new Promise<Error | null>((resolve) => {
      // The refusal (a no_renegotiation alert) surfaces on the socket's next read.
      socket.once('error', resolve)
      socket.resume()
      const started = socket.renegotiate({ rejectUnauthorized: true }, (err) => resolve(err))
      if (!started) resolve(new Error('renegotiation could not start'))
    })
    expect(error?.message).toMatch(/no renegotiation/)
  })

  it('signals secure renegotiation (RFC 5746) while refusing it', async () => {
    const socket = await connectTls12(await tlsPort())
    // The handshake completed with a server that sent renegotiation_info: OpenSSL reports it as
    // "secure renegotiation"; `openssl s_client` prints it.
    socket.destroy()
    if (!existsSync('/usr/bin/openssl')) return
    const port = await tlsPort()
    const output = await new Promise<string>((resolve) => {
      const child = execFile(
        'openssl',
        ['s_client', '-connect', `127.0.0.1:${port}`, '-tls1_2', '-servername', 'localhost'],
        { timeout: 10_000 },
        (_error, stdout, stderr) => resolve(stdout + stderr),
      )
      // `R` asks for a renegotiation; the server refuses, then the client quits.
      child.stdin?.write('R\n')
      setImmediate(() => child.stdin?.end())
    })
    expect(output).toContain('Secure Renegotiation IS supported')
    expect(output).toContain('RENEGOTIATING')
    // The server answered the renegotiation ClientHello with a no_renegotiation alert.
    expect(output).toContain(':no renegotiation:')
  })
})

describe('DHE group', () => {
  it.runIf(existsSync('/usr/bin/openssl'))(
    "uses the RFC 7919 ffdhe2048 group for DHE suites (not OpenSSL's RFC 3526 default)",
    async () => {
      const settings = TlsSettings.intermediate(certs.rsaLocalhost.cert, certs.rsaLocalhost.key)
      const service = new ListeningService('tls', digestApp)
      service.addTlsWithSettings('127.0.0.1:0', undefined, settings)
      await startServer([service])
      const port = portOf(service)
      const output = await new Promise<string>((resolve) => {
        const child = execFile(
          'openssl',
          [
            's_client',
            '-connect',
            `127.0.0.1:${port}`,
            '-tls1_2',
            '-cipher',
            'DHE-RSA-AES128-GCM-SHA256',
            '-msg',
          ],
          { timeout: 10_000 },
          (_error, stdout, stderr) => resolve(stdout + stderr),
        )
        child.stdin?.end()
      })
      expect(output).toContain('Cipher is DHE-RSA-AES128-GCM-SHA256')
      // The ServerKeyExchange carries the prime: ffdhe2048's starts 64 one bits, then ADF85458
      // (RFC 3526's group 14 goes on with C90FDAA2).
      const hex = output
        .split('\n')
        .filter((line) => /^\s+([0-9a-f]{2} )+/.test(line))
        .map((line) => line.replace(/[^0-9a-f]/g, ''))
        .join('')
      expect(hex).toContain('ffffffffffffffffadf85458a2bb4a9a')
      expect(hex).not.toContain('ffffffffffffffffc90fdaa22168c234')
    },
  )
})
