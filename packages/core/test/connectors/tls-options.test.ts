import { once } from 'node:events'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import type net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import tls from 'node:tls'
import { fileURLToPath } from 'node:url'
import { PingoraError } from '@pingora-ts/error'
import { describe, expect, it, onTestFinished, vi } from 'vitest'
import { TransportConnector } from '../../src/connectors/transport-connector.ts'
import type { Stream } from '../../src/protocols/l4/stream.ts'
import { HttpPeer } from '../../src/upstreams/http-peer.ts'
import type { PeerOptionsInit } from '../../src/upstreams/peer-options.ts'
import { rejection, testCert } from './helpers.ts'

const certDir = fileURLToPath(new URL('../../../../tooling/test-utils/certs/', import.meta.url))
const [major = 0, minor = 0] = process.versions.openssl.split('.').map(Number)
const opensslHasMlkem = major > 3 || (major === 3 && minor >= 5)
const canSetDefaultCa =
  typeof (tls as { setDefaultCACertificates?: unknown }).setDefaultCACertificates === 'function'

/** A TLS origin on 127.0.0.1 with the `localhost` test certificate; closes each connection. */
async function tlsOrigin(options: tls.TlsOptions = {}): Promise<{ address: string }> {
  const server = tls.createServer(
    { cert: testCert('localhost.pem'), key: testCert('localhost.key'), ...options },
    (socket) => {
      socket.on('error', () => undefined)
      socket.resume()
    },
  )
  server.on('tlsClientError', () => undefined)
  const sockets = new Set<net.Socket>()
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  onTestFinished(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      }),
  )
  return { address: `127.0.0.1:${(server.address() as net.AddressInfo).port}` }
}

function tlsPeer(address: string, options: PeerOptionsInit = {}): HttpPeer {
  return new HttpPeer({ address, tls: true, sni: 'localhost', options })
}

async function connectOk(connector: TransportConnector, peer: HttpPeer): Promise<Stream> {
  const stream = await connector.newStream(peer)
  onTestFinished(() => stream.destroy())
  return stream
}

function expectUpstreamError(error: unknown, type: string): void {
  expect(PingoraError.is(error)).toBe(true)
  expect({ type: (error as PingoraError).type, source: (error as PingoraError).source }).toEqual({
    type,
    source: 'upstream',
  })
}

function negotiatedGroup(stream: Stream): string | undefined {
  const info = (stream.socket as tls.TLSSocket).getEphemeralKeyInfo() as { name?: string } | null
  return info?.name
}

describe('upstream CA precedence: peer, then caFile, then the system store', () => {
  it("prefers the peer's CA over the connector's caFile", async () => {
    const { address } = await tlsOrigin()
    // The caFile alone cannot verify the origin; the peer's CA can.
    const connector = new TransportConnector({ caFile: `${certDir}untrusted-ca.pem` })
    await connectOk(connector, tlsPeer(address, { ca: testCert('ca.pem') }))
    expectUpstreamError(await rejection(connector.newStream(tlsPeer(address))), 'InvalidCert')
    // And the other way round: a peer CA that cannot verify wins over a caFile that could.
    const withGoodFile = new TransportConnector({ caFile: `${certDir}ca.pem` })
    await connectOk(withGoodFile, tlsPeer(address))
    const badPeer = tlsPeer(address, { ca: testCert('untrusted-ca.pem') })
    expectUpstreamError(await rejection(withGoodFile.newStream(badPeer)), 'InvalidCert')
  })

  it.skipIf(!canSetDefaultCa)(
    'falls back to the system store when neither the peer nor the connector has a CA',
    async () => {
      const { address } = await tlsOrigin()
      const setDefault = (tls as unknown as { setDefaultCACertificates(certs: string[]): void })
        .setDefaultCACertificates
      const getCa = (tls as unknown as { getCACertificates(type: string): string[] })
        .getCACertificates
      const original = getCa('default')
      setDefault([...original, testCert('ca.pem').toString()])
      onTestFinished(() => setDefault(original))
      const stream = await connectOk(new TransportConnector(), tlsPeer(address))
      expect((stream.socket as tls.TLSSocket).authorized).toBe(true)
    },
  )
})

describe('upstream ALPN and key exchange groups', () => {
  it("offers the peer's ALPN list and records the result in the digest", async () => {
    const { address } = await tlsOrigin({ ALPNProtocols: ['h2', 'http/1.1'] })
    const connector = new TransportConnector()
    const h2 = tlsPeer(address, { ca: testCert('ca.pem'), alpn: ['h2', 'http/1.1'] })
    expect((await connectOk(connector, h2)).digest.tls?.alpn).toBe('h2')
    const h1 = tlsPeer(address, { ca: testCert('ca.pem') })
    expect((await connectOk(connector, h1)).digest.tls?.alpn).toBe('http/1.1')
  })

  it("offers only the peer's curves", async () => {
    const { address } = await tlsOrigin({ ecdhCurve: 'P-384' })
    const connector = new TransportConnector()
    const p384 = tlsPeer(address, { ca: testCert('ca.pem'), curves: 'P-384' })
    expect(negotiatedGroup(await connectOk(connector, p384))).toMatch(/^(P-384|secp384r1)$/)
    const x25519 = tlsPeer(address, { ca: testCert('ca.pem'), curves: 'X25519' })
    expectUpstreamError(await rejection(connector.newStream(x25519)), 'TLSHandshakeFailure')
  })

  it('negotiates X25519MLKEM768 with an origin that supports it, X25519 otherwise', async () => {
    const { address } = await tlsOrigin({
      ecdhCurve: opensslHasMlkem ? 'X25519MLKEM768:X25519' : 'X25519',
    })
    const peer = tlsPeer(address, { ca: testCert('ca.pem'), curves: 'X25519MLKEM768:X25519' })
    const stream = await connectOk(new TransportConnector(), peer)
    // Node 22 names only (EC)DH groups in getEphemeralKeyInfo(): it reports `{}` for the hybrid
    // group, while X25519 would be named. Node 24 names both.
    const nodeNamesKemGroups = Number(process.versions.node.split('.')[0]) >= 24
    const expected = nodeNamesKemGroups ? 'X25519MLKEM768' : undefined
    expect(negotiatedGroup(stream)).toBe(opensslHasMlkem ? expected : 'X25519')
  })
})

describe('SSLKEYLOGFILE with upstream_debug_ssl_keylog', () => {
  /** Resolves with the file's text once it holds a TLS 1.3 traffic secret. */
  async function secretsIn(file: string): Promise<string> {
    for (;;) {
      // The key log is appended through a write stream that opens the file asynchronously.
      const text = existsSync(file) ? readFileSync(file, 'utf8') : ''
      if (text.includes('CLIENT_TRAFFIC_SECRET_0')) return text
      await new Promise((resolve) => setImmediate(resolve))
    }
  }

  function keylogFile(): string {
    const dir = mkdtempSync(join(tmpdir(), 'pingora-keylog-'))
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
    const file = join(dir, 'keys.log')
    vi.stubEnv('SSLKEYLOGFILE', file)
    onTestFinished(() => {
      vi.unstubAllEnvs()
    })
    return file
  }

  it('writes the upstream TLS secrets when the server configuration turns it on', async () => {
    const file = keylogFile()
    const { address } = await tlsOrigin()
    const connector = new TransportConnector({
      caFile: `${certDir}ca.pem`,
      upstreamDebugSslKeylog: true,
    })
    expect(connector.options.debugSslKeylog).toBe(true)
    const stream = await connectOk(connector, tlsPeer(address))
    expect((stream.socket as tls.TLSSocket).listenerCount('keylog')).toBe(1)
    expect(await secretsIn(file)).toMatch(/^CLIENT_HANDSHAKE_TRAFFIC_SECRET [0-9a-f]+ [0-9a-f]+$/m)
  })

  it('writes nothing when it is off, even with SSLKEYLOGFILE set', async () => {
    const file = keylogFile()
    const { address } = await tlsOrigin()
    const connector = new TransportConnector({
      caFile: `${certDir}ca.pem`,
      upstreamDebugSslKeylog: false,
    })
    const stream = await connectOk(connector, tlsPeer(address))
    expect((stream.socket as tls.TLSSocket).listenerCount('keylog')).toBe(0)
    expect(existsSync(file)).toBe(false)
  })
})
