import { mkdtempSync, rmSync } from 'node:fs'
import https from 'node:https'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type tls from 'node:tls'
import { PingoraError } from '@pingora-ts/error'
import { describe, expect, it, onTestFinished } from 'vitest'
import { TransportConnector } from '../../src/connectors/transport-connector.ts'
import { BasicPeer } from '../../src/upstreams/basic-peer.ts'
import { HttpPeer } from '../../src/upstreams/http-peer.ts'
import {
  closed,
  rejection,
  startBlackHole,
  startHttpsOrigin,
  startTcpServer,
  testCert,
} from './helpers.ts'

// IPv6 loopback may be missing on some CI machines; the IPv6 test says so by being skipped.
const ipv6 = await new Promise<boolean>((resolve) => {
  const probe = net.createServer()
  probe.once('error', () => resolve(false))
  probe.listen(0, '::1', () => probe.close(() => resolve(true)))
})

function expectPingoraError(error: unknown, type: string, source: string): PingoraError {
  expect(PingoraError.is(error)).toBe(true)
  const e = error as PingoraError
  expect({ type: e.type, source: e.source }).toEqual({ type, source })
  return e
}

/** A TCP origin that echoes nothing and keeps connections open. */
async function idleOrigin() {
  const origin = await startTcpServer()
  onTestFinished(origin.close)
  return origin
}

describe('TransportConnector', () => {
  it('reuses an idle connection with the same reuse hash', async () => {
    const origin = await idleOrigin()
    const connector = new TransportConnector()
    const peer = new HttpPeer(origin.address, false, '')
    for (let i = 0; i < 5; i++) {
      const [stream, reused] = await connector.getStream(peer)
      expect(reused).toBe(i > 0)
      connector.releaseStream(stream, peer.reuseHash())
    }
    expect(origin.accepted()).toBe(1)
    expect(connector.stats()).toMatchObject({
      newConnections: 1,
      reusedConnections: 4,
      reuseRatio: 0.8,
      idle: 1,
    })
  })

  it('never pools a stream from newStream and shares connections only between equal hashes', async () => {
    const origin = await idleOrigin()
    const connector = new TransportConnector()
    const a = new HttpPeer(origin.address, false, '')
    const b = new HttpPeer({ address: origin.address, groupKey: 1 })
    const stream = await connector.newStream(a)
    connector.releaseStream(stream, a.reuseHash())
    expect(connector.reusedStream(b)).toBeUndefined()
    expect(connector.reusedStream(a)).toBe(stream)
    stream.destroy()
  })

  it('drops a connection the origin closes while idle and connects anew', async () => {
    const origin = await idleOrigin()
    const connector = new TransportConnector()
    const peer = new HttpPeer(origin.address, false, '')
    const accepted = origin.nextConnection()
    const [first] = await connector.getStream(peer)
    const serverSide = await accepted
    connector.releaseStream(first, peer.reuseHash())
    expect(connector.stats().idle).toBe(1)
    serverSide.destroy()
    await closed(first.socket)
    expect(connector.stats().idle).toBe(0)
    const [second, reused] = await connector.getStream(peer)
    expect(reused).toBe(false)
    expect(second).not.toBe(first)
    expect(origin.accepted()).toBe(2)
    second.destroy()
  })

  it('drops an idle connection that receives unexpected bytes and counts it', async () => {
    const origin = await idleOrigin()
    const connector = new TransportConnector()
    const peer = new HttpPeer(origin.address, false, '')
    const accepted = origin.nextConnection()
    const [stream] = await connector.getStream(peer)
    const serverSide = await accepted
    connector.releaseStream(stream, peer.reuseHash())
    serverSide.write('HTTP/1.1 200 OK\r\n\r\n')
    await closed(stream.socket)
    expect(connector.unexpectedDataConnectionCount()).toBe(1)
    expect(connector.stats().unexpectedDataConnectionCount).toBe(1)
    expect(connector.reusedStream(peer)).toBeUndefined()
  })

  it('evicts the least recently used connection beyond keepalivePoolSize', async () => {
    const origin = await idleOrigin()
    const connector = new TransportConnector({ keepalivePoolSize: 2 })
    const peers = [0, 1, 2].map((groupKey) => new HttpPeer({ address: origin.address, groupKey }))
    const streams = []
    for (const peer of peers) streams.push((await connector.getStream(peer))[0])
    for (let i = 0; i < 3; i++) {
      connector.releaseStream(streams[i] as never, (peers[i] as HttpPeer).reuseHash())
    }
    await closed((streams[0] as { socket: net.Socket }).socket)
    expect(connector.stats().idle).toBe(2)
    expect(connector.reusedStream(peers[0] as HttpPeer)).toBeUndefined()
    expect(connector.reusedStream(peers[2] as HttpPeer)).toBe(streams[2])
    expect(connector.reusedStream(peers[1] as HttpPeer)).toBe(streams[1])
    for (const stream of streams) stream.destroy()
  })

  it('closes a connection once its idle timeout passes', async () => {
    const origin = await idleOrigin()
    const connector = new TransportConnector()
    const peer = new HttpPeer({ address: origin.address, options: { idleTimeoutMs: 20 } })
    const [stream] = await connector.getStream(peer)
    connector.releaseStream(stream, peer.reuseHash(), peer.options.idleTimeoutMs)
    await closed(stream.socket)
    expect(connector.stats().idle).toBe(0)
    const [, reused] = await connector.getStream(peer)
    expect(reused).toBe(false)
  })

  it('does not pool when idleTimeoutMs is 0', async () => {
    const origin = await idleOrigin()
    const connector = new TransportConnector()
    const peer = new HttpPeer({ address: origin.address, options: { idleTimeoutMs: 0 } })
    const [stream] = await connector.getStream(peer)
    connector.releaseStream(stream, peer.reuseHash(), 0)
    expect(connector.stats()).toMatchObject({ idle: 0, discarded: 1 })
    await closed(stream.socket)
  })

  it('fails with ConnectRefused on a closed port', async () => {
    const origin = await startTcpServer()
    const address = origin.address
    await origin.close()
    const error = await rejection(new TransportConnector().newStream(new BasicPeer(address)))
    const e = expectPingoraError(error, 'ConnectRefused', 'upstream')
    expect(e.context).toContain(address)
  })

  it('fails with ConnectTimedout when the TCP handshake hangs', async () => {
    const hole = await startBlackHole()
    onTestFinished(hole.close)
    const connector = new TransportConnector()
    const tcp = new BasicPeer(`127.0.0.1:${hole.port}`, { connectionTimeoutMs: 100 })
    expectPingoraError(await rejection(connector.newStream(tcp)), 'ConnectTimedout', 'upstream')
    const total = new HttpPeer({
      address: `127.0.0.1:${hole.port}`,
      options: { totalConnectionTimeoutMs: 100 },
    })
    expectPingoraError(await rejection(connector.newStream(total)), 'ConnectTimedout', 'upstream')
  })

  it("applies the caller's default connect timeout when the peer sets none, leaving the peer untouched", async () => {
    const hole = await startBlackHole()
    onTestFinished(hole.close)
    const peer = new BasicPeer(`127.0.0.1:${hole.port}`)
    const error = await rejection(new TransportConnector().newStream(peer, undefined, 100))
    expect(expectPingoraError(error, 'ConnectTimedout', 'upstream').context).toContain('100ms')
    expect(peer.options.connectionTimeoutMs).toBeUndefined()
  })

  it('fails with TLSHandshakeTimedout when the server never answers the handshake', async () => {
    const origin = await idleOrigin()
    const connector = new TransportConnector()
    const total = new HttpPeer({
      address: origin.address,
      tls: true,
      sni: 'localhost',
      options: { totalConnectionTimeoutMs: 100 },
    })
    expectPingoraError(
      await rejection(connector.newStream(total)),
      'TLSHandshakeTimedout',
      'upstream',
    )
    const step = new HttpPeer({
      address: origin.address,
      tls: true,
      sni: 'localhost',
      options: { connectionTimeoutMs: 100 },
    })
    expectPingoraError(
      await rejection(connector.newStream(step)),
      'TLSHandshakeTimedout',
      'upstream',
    )
  })

  it('connects to Unix socket peers and reuses the connection', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pingora-ts-uds-'))
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
    const origin = await startTcpServer(undefined, join(dir, 'origin.sock'))
    onTestFinished(origin.close)
    const connector = new TransportConnector()
    const peer = HttpPeer.newUds(origin.address, false, '')
    const [stream, reused] = await connector.getStream(peer)
    expect(reused).toBe(false)
    connector.releaseStream(stream, peer.reuseHash())
    const [again, reusedAgain] = await connector.getStream(peer)
    expect(reusedAgain).toBe(true)
    expect(again).toBe(stream)
    expect(origin.accepted()).toBe(1)
    again.destroy()
  })

  it.skipIf(!ipv6)('connects to bracketed IPv6 peers', async () => {
    const server = net.createServer()
    await new Promise<void>((resolve) => server.listen(0, '::1', resolve))
    onTestFinished(() => {
      server.close()
    })
    const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve))
    const port = (server.address() as net.AddressInfo).port
    const stream = await new TransportConnector().newStream(
      new HttpPeer(`[::1]:${port}`, false, ''),
    )
    expect((await accepted).remoteAddress).toBe('::1')
    stream.destroy()
    ;(await accepted).destroy()
  })

  it('binds to the peer bindTo address, or to one of the connector bindToV4 addresses', async () => {
    const origin = await idleOrigin()
    const accepted = origin.nextConnection()
    const peer = new HttpPeer({
      address: origin.address,
      options: { bindTo: { address: '127.0.0.2' } },
    })
    const stream = await new TransportConnector().newStream(peer)
    expect((await accepted).remoteAddress).toBe('127.0.0.2')
    stream.destroy()

    const next = origin.nextConnection()
    const connector = new TransportConnector({ bindToV4: ['127.0.0.3'] })
    const other = await connector.newStream(new HttpPeer(origin.address, false, ''))
    expect((await next).remoteAddress).toBe('127.0.0.3')
    other.destroy()
  })

  it('fails with an internal error when the local address cannot be bound', async () => {
    const origin = await idleOrigin()
    const peer = new HttpPeer({
      address: origin.address,
      // TEST-NET-1: not assigned to any local interface.
      options: { bindTo: { address: '192.0.2.1' } },
    })
    const e = expectPingoraError(
      await rejection(new TransportConnector().newStream(peer)),
      'InternalError',
      'internal',
    )
    expect(e.findCause('BindError')).toBeDefined()
  })
})

describe('TransportConnector over TLS', () => {
  it('verifies the origin with the peer CA and reuses the TLS connection', async () => {
    const origin = await startHttpsOrigin((_req, res) => res.end('ok'))
    onTestFinished(origin.close)
    const connector = new TransportConnector()
    const peer = new HttpPeer({
      address: origin.address,
      tls: true,
      sni: 'localhost',
      options: { ca: testCert('ca.pem') },
    })
    const [stream, reused] = await connector.getStream(peer)
    expect(reused).toBe(false)
    expect(stream.digest.tls?.version).toMatch(/^TLSv1\.[23]$/)
    expect(stream.digest.tls?.alpn).toBe('http/1.1')
    connector.releaseStream(stream, peer.reuseHash())
    const [again, reusedAgain] = await connector.getStream(peer)
    expect(reusedAgain).toBe(true)
    expect(again).toBe(stream)
    again.destroy()
  })

  it('never shares a connection between peers with different TLS settings', async () => {
    const origin = await startHttpsOrigin((_req, res) => res.end('ok'))
    onTestFinished(origin.close)
    const connector = new TransportConnector({ caFile: `${testCertPath('ca.pem')}` })
    const verified = new HttpPeer(origin.address, true, 'localhost')
    const unverified = new HttpPeer(origin.address, true, 'localhost')
    unverified.options.verifyCert = false
    expect(unverified.reuseHash()).not.toBe(verified.reuseHash())
    const [stream] = await connector.getStream(verified)
    connector.releaseStream(stream, verified.reuseHash())
    const [other, reused] = await connector.getStream(unverified)
    expect(reused).toBe(false)
    expect(other).not.toBe(stream)
    expect(origin.accepted()).toBe(2)
    other.destroy()
    stream.destroy()
  })

  it('skips verification when the SNI is empty, as Pingora does', async () => {
    const origin = await startHttpsOrigin((_req, res) => res.end('ok'))
    onTestFinished(origin.close)
    // No CA: with an SNI this would be InvalidCert.
    const stream = await new TransportConnector().newStream(new HttpPeer(origin.address, true, ''))
    expect(stream.digest.tls?.sni).toBeUndefined()
    stream.destroy()
  })

  it('verifies an IP-literal SNI against the certificate IP addresses', async () => {
    const origin = await startHttpsOrigin((_req, res) => res.end('ok'))
    onTestFinished(origin.close)
    const peer = new HttpPeer({
      address: origin.address,
      tls: true,
      sni: '127.0.0.1',
      options: { ca: testCert('ca.pem') },
    })
    const stream = await new TransportConnector().newStream(peer)
    stream.destroy()
  })

  it('rejects an untrusted or mismatching certificate with InvalidCert', async () => {
    const origin = await startHttpsOrigin((_req, res) => res.end('ok'))
    onTestFinished(origin.close)
    const connector = new TransportConnector()
    const untrusted = new HttpPeer(origin.address, true, 'localhost')
    expectPingoraError(await rejection(connector.newStream(untrusted)), 'InvalidCert', 'upstream')
    const wrongName = new HttpPeer({
      address: origin.address,
      tls: true,
      sni: 'wrong.test',
      options: { ca: testCert('ca.pem') },
    })
    expectPingoraError(await rejection(connector.newStream(wrongName)), 'InvalidCert', 'upstream')
    // The alternative CN rescues a mismatching SNI.
    wrongName.options.alternativeCn = 'localhost'
    const stream = await connector.newStream(wrongName)
    stream.destroy()
  })

  it('verifies a peer without SNI (sni undefined) unless the options turn it off', async () => {
    const origin = await startHttpsOrigin((_req, res) => res.end('ok'))
    onTestFinished(origin.close)
    const connector = new TransportConnector()
    // The chain is verified: without the CA the self-signed test chain is refused.
    const untrusted = new HttpPeer({ address: origin.address, tls: true })
    expect(untrusted.emptySniSkipsVerification).toBe(false)
    expectPingoraError(await rejection(connector.newStream(untrusted)), 'InvalidCert', 'upstream')
    // A trusted chain with no name to check the certificate against fails closed.
    const noName = new HttpPeer({
      address: origin.address,
      tls: true,
      options: { ca: testCert('ca.pem') },
    })
    expectPingoraError(await rejection(connector.newStream(noName)), 'InvalidCert', 'upstream')
    // alternativeCn gives it the name; verifyHostname: false opts out of the name check only.
    const named = new HttpPeer({
      address: origin.address,
      tls: true,
      options: { ca: testCert('ca.pem'), alternativeCn: 'localhost' },
    })
    const first = await connector.newStream(named)
    expect(first.digest.tls?.sni).toBeUndefined()
    first.destroy()
    const unnamed = new HttpPeer({
      address: origin.address,
      tls: true,
      options: { ca: testCert('ca.pem'), verifyHostname: false },
    })
    const second = await connector.newStream(unnamed)
    second.destroy()
    // Turning verification off is explicit: verifyCert: false.
    const off = new HttpPeer({ address: origin.address, tls: true, options: { verifyCert: false } })
    const third = await connector.newStream(off)
    third.destroy()
  })

  it('keeps the deprecated sni "" apart from no SNI in the reuse hash', () => {
    const legacy = new HttpPeer({ address: '127.0.0.1:443', tls: true, sni: '' })
    const none = new HttpPeer({ address: '127.0.0.1:443', tls: true })
    expect(legacy.sni).toBe('')
    expect(none.sni).toBe('')
    expect(legacy.emptySniSkipsVerification).toBe(true)
    expect(none.emptySniSkipsVerification).toBe(false)
    expect(legacy.reuseHash()).not.toBe(none.reuseHash())
    none.sni = ''
    expect(none.reuseHash()).toBe(legacy.reuseHash())
    none.sni = undefined
    expect(none.emptySniSkipsVerification).toBe(false)
  })
})

describe('TransportConnector mTLS and tracing', () => {
  it('presents the peer client certificate and keeps peers with different certificates apart', async () => {
    const server = https.createServer(
      {
        cert: testCert('localhost.pem'),
        key: testCert('localhost.key'),
        ca: testCert('client-ca.pem'),
        requestCert: true,
        rejectUnauthorized: true,
      },
      (_req, res) => res.end('ok'),
    )
    const names: string[] = []
    server.on('secureConnection', (socket: tls.TLSSocket) => {
      names.push(String(socket.getPeerCertificate().subject?.CN))
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    onTestFinished(() => {
      server.closeAllConnections()
      server.close()
    })
    const address = `127.0.0.1:${(server.address() as net.AddressInfo).port}`
    const certKey = { cert: testCert('client.pem'), key: testCert('client.key') }
    const peer = HttpPeer.newMtls(address, 'localhost', certKey)
    peer.options.ca = testCert('ca.pem')
    const connector = new TransportConnector()
    const [stream] = await connector.getStream(peer)
    // The server has read the certificate by the time it answers anything; poke it.
    stream.write('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n')
    await stream.read()
    expect(names).toEqual(['client.test'])
    connector.releaseStream(stream, peer.reuseHash())
    const otherCert = HttpPeer.newMtls(address, 'localhost', {
      cert: testCert('untrusted-client.pem'),
      key: testCert('untrusted-client.key'),
    })
    otherCert.options.ca = testCert('ca.pem')
    expect(otherCert.reuseHash()).not.toBe(peer.reuseHash())
    expect(connector.reusedStream(otherCert)).toBeUndefined()
    expect(connector.reusedStream(peer)).toBe(stream)
    stream.destroy()

    // A peer without a client certificate gets the connector's certKeyFile.
    const withDefault = new TransportConnector({
      certKeyFile: { certFile: testCertPath('client.pem'), keyFile: testCertPath('client.key') },
    })
    const plain = new HttpPeer(address, true, 'localhost')
    plain.options.ca = testCert('ca.pem')
    const viaDefault = await withDefault.newStream(plain)
    viaDefault.write('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n')
    await viaDefault.read()
    expect(names).toEqual(['client.test', 'client.test'])
    viaDefault.destroy()
  })

  it('tells the peer tracer when each new connection opens and closes', async () => {
    const origin = await idleOrigin()
    const events: string[] = []
    const peer = new HttpPeer({
      address: origin.address,
      options: {
        tracer: {
          onConnected: () => events.push('connected'),
          onDisconnected: () => events.push('disconnected'),
        },
      },
    })
    const connector = new TransportConnector()
    const [stream] = await connector.getStream(peer)
    connector.releaseStream(stream, peer.reuseHash())
    const [again] = await connector.getStream(peer)
    expect(events).toEqual(['connected'])
    const done = closed(again.socket)
    again.destroy()
    await done
    expect(events).toEqual(['connected', 'disconnected'])
  })
})

function testCertPath(name: string): string {
  return new URL(`../../../../tooling/test-utils/certs/${name}`, import.meta.url).pathname
}
