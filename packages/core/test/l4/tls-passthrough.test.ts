import type net from 'node:net'
import tls from 'node:tls'
import type { PingoraError } from '@pingora-ts/error'
import { describe, expect, it, onTestFinished } from 'vitest'
import { TcpProxy, type TcpProxySession } from '../../src/apps/tcp-proxy.ts'
import { ListeningService } from '../../src/services/listening.ts'
import { BasicPeer } from '../../src/upstreams/basic-peer.ts'
import { closed, connect, portOf, startServer } from '../server/helpers.ts'
import { collect, type RawOrigin, startRawOrigin, testCert } from './helpers.ts'

/** A TLS origin with its own certificate that answers with its name and the negotiated ALPN. */
function namedTlsOrigin(name: 'a.test' | 'b.test'): Promise<RawOrigin> {
  return startRawOrigin(
    (socket) => {
      const secure = socket as tls.TLSSocket
      secure.end(`${name} alpn=${String(secure.alpnProtocol)}`)
    },
    {
      cert: testCert(`${name}.pem`),
      key: testCert(`${name}.key`),
      ALPNProtocols: ['h2', 'http/1.1'],
    },
  )
}

interface Passthrough {
  port: number
  sessions: TcpProxySession[]
  errors: Array<PingoraError | undefined>
}

async function startPassthrough(
  origins: Record<string, RawOrigin>,
  fallback: RawOrigin,
  peek: { timeoutMs?: number; maxBytes?: number } | true = true,
): Promise<Passthrough> {
  const sessions: TcpProxySession[] = []
  const errors: Array<PingoraError | undefined> = []
  const proxy = new TcpProxy({
    peekClientHello: peek,
    upstreamPeer(session) {
      sessions.push(session)
      const origin = origins[session.clientHello?.servername ?? ''] ?? fallback
      return new BasicPeer(origin.address)
    },
    logging(_session, error) {
      errors.push(error)
    },
  })
  const service = new ListeningService('passthrough', proxy)
  service.addTcp('127.0.0.1:0')
  await startServer([service])
  return { port: portOf(service), sessions, errors }
}

async function tlsRequest(
  port: number,
  servername: string,
  alpn: string[] = ['http/1.1'],
): Promise<{ text: string; subject: string; authorized: boolean }> {
  const socket = tls.connect({
    port,
    host: '127.0.0.1',
    servername,
    ca: testCert('ca.pem'),
    ALPNProtocols: alpn,
  })
  onTestFinished(() => {
    socket.destroy()
  })
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', resolve)
    socket.once('error', reject)
  })
  const certificate = socket.getPeerCertificate()
  const text = (await collect(socket)).toString()
  return { text, subject: String(certificate.subject?.CN), authorized: socket.authorized }
}

describe('TLS passthrough (ClientHello peek)', () => {
  it('routes raw TLS by SNI to two origins that terminate TLS with their own certificates', async () => {
    const a = await namedTlsOrigin('a.test')
    const b = await namedTlsOrigin('b.test')
    const proxy = await startPassthrough({ 'a.test': a, 'b.test': b }, a)
    const toA = await tlsRequest(proxy.port, 'a.test')
    expect(toA).toEqual({ text: 'a.test alpn=http/1.1', subject: 'a.test', authorized: true })
    const toB = await tlsRequest(proxy.port, 'b.test', ['h2', 'http/1.1'])
    expect(toB).toEqual({ text: 'b.test alpn=h2', subject: 'b.test', authorized: true })
    expect(proxy.sessions.map((session) => session.clientHello)).toEqual([
      expect.objectContaining({ servername: 'a.test', alpn: ['http/1.1'] }),
      expect.objectContaining({ servername: 'b.test', alpn: ['h2', 'http/1.1'] }),
    ])
    // The proxy never saw plaintext: the downstream stream has no TLS digest.
    expect(proxy.sessions[0]?.downstream.digest.tls).toBeUndefined()
    expect(proxy.sessions[0]?.bytesFromClient).toBeGreaterThan(100)
  })

  it('routes bytes that are not TLS with no ClientHello', async () => {
    const a = await namedTlsOrigin('a.test')
    const plain = await startRawOrigin((socket) => {
      socket.pipe(socket)
    })
    const proxy = await startPassthrough({ 'a.test': a }, plain)
    const client = await connect(proxy.port)
    const reply = collect(client)
    client.end('not TLS at all')
    expect((await reply).toString()).toBe('not TLS at all')
    expect(proxy.sessions[0]?.clientHello).toBeUndefined()
  })

  it('gives up on a ClientHello larger than the peek limit and routes without it', async () => {
    const a = await namedTlsOrigin('a.test')
    const b = await namedTlsOrigin('b.test')
    const proxy = await startPassthrough({ 'a.test': a }, b, { maxBytes: 64 })
    const response = await tlsRequest(proxy.port, 'b.test')
    expect(response.text).toBe('b.test alpn=http/1.1')
    expect(proxy.sessions[0]?.clientHello).toBeUndefined()
  })

  it('closes a client that sends a partial ClientHello and stalls', async () => {
    const a = await namedTlsOrigin('a.test')
    const proxy = await startPassthrough({}, a, { timeoutMs: 150 })
    const client: net.Socket = await connect(proxy.port)
    // A TLS record header announcing 512 bytes, then nothing.
    client.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]))
    await closed(client)
    expect(proxy.sessions).toHaveLength(0)
    expect(proxy.errors).toEqual([expect.objectContaining({ type: 'ReadTimedout' })])
  })
})
