import diagnosticsChannel from 'node:diagnostics_channel'
import { describe, expect, it, onTestFinished } from 'vitest'
import { TcpProxy } from '../../src/apps/tcp-proxy.ts'
import { CHANNEL_NAMES, type ConnectionRejectedMessage } from '../../src/diagnostics.ts'
import { Listeners } from '../../src/listeners/listeners.ts'
import type { ProxyProtocolOptions } from '../../src/listeners/proxy-protocol.ts'
import { TlsSettings, tlsListenerConfig } from '../../src/listeners/tls.ts'
import { encodeProxyHeader } from '../../src/protocols/proxy-protocol.ts'
import { ListeningService } from '../../src/services/listening.ts'
import { BasicPeer } from '../../src/upstreams/basic-peer.ts'
import { connect, echoApp, portOf, startServer } from '../server/helpers.ts'
import { collect, testCert, testCertPath } from './helpers.ts'

function collectRejections(): ConnectionRejectedMessage[] {
  const seen: ConnectionRejectedMessage[] = []
  const listener = (message: unknown): void => {
    seen.push(message as ConnectionRejectedMessage)
  }
  diagnosticsChannel.subscribe(CHANNEL_NAMES.connectionRejected, listener)
  onTestFinished(() => {
    diagnosticsChannel.unsubscribe(CHANNEL_NAMES.connectionRejected, listener)
  })
  return seen
}

async function startEcho(options: ProxyProtocolOptions): Promise<ListeningService> {
  let served = 0
  const service = new ListeningService('pp', {
    async processNew(stream, shutdown) {
      served++
      // The first line the app writes says who the client is.
      await stream.writeAll(`${stream.digest.peerAddr?.address}:${stream.digest.peerAddr?.port}\n`)
      return echoApp.processNew(stream, shutdown)
    },
  })
  service.addListener({ address: { kind: 'tcp', address: '127.0.0.1:0' }, proxyProtocol: options })
  await startServer([service])
  Object.defineProperty(service, 'served', { get: () => served })
  return service
}

describe('a listener that accepts the PROXY protocol', () => {
  it('hands the app the bytes that followed the header, in the same packet', async () => {
    const service = await startEcho({ trusted: ['127.0.0.1'] })
    const client = await connect(portOf(service))
    const reply = collect(client)
    client.end(
      Buffer.concat([
        encodeProxyHeader(2, {
          source: { address: '2001:db8::7', port: 1234, family: 'IPv6' },
          destination: { address: '2001:db8::1', port: 443, family: 'IPv6' },
        }),
        Buffer.from('payload after the header'),
      ]),
    )
    expect((await reply).toString()).toBe('2001:db8::7:1234\npayload after the header')
  })

  it('accepts a header split over many packets', async () => {
    const service = await startEcho({ trusted: ['127.0.0.1'] })
    const client = await connect(portOf(service))
    client.setNoDelay(true)
    const reply = collect(client)
    const header = Buffer.from('PROXY TCP4 198.51.100.4 192.0.2.1 5000 80\r\nhi')
    for (let i = 0; i < header.length; i += 7) {
      client.write(header.subarray(i, i + 7))
      await new Promise((resolve) => setImmediate(resolve))
    }
    client.end()
    expect((await reply).toString()).toBe('198.51.100.4:5000\nhi')
  })

  it('keeps the socket address for a LOCAL (health check) header', async () => {
    const service = await startEcho({ trusted: ['127.0.0.1'] })
    const client = await connect(portOf(service))
    const clientPort = client.localPort
    const reply = collect(client)
    client.end(
      Buffer.concat([
        encodeProxyHeader(2, { source: undefined, destination: undefined }),
        Buffer.from('x'),
      ]),
    )
    expect((await reply).toString()).toBe(`127.0.0.1:${clientPort}\nx`)
  })

  it('closes connections from untrusted sources before reading, and counts them', async () => {
    const seen = collectRejections()
    const service = await startEcho({ trusted: ['10.0.0.0/8'] })
    const client = await connect(portOf(service))
    const reply = collect(client)
    client.write('PROXY TCP4 203.0.113.1 192.0.2.1 1 2\r\n')
    expect((await reply).toString()).toBe('')
    expect(service.rejectedConnectionCount).toBe(1)
    expect(seen).toEqual([
      expect.objectContaining({
        reason: 'proxy-protocol-untrusted',
        error: expect.objectContaining({ type: 'HandshakeError', source: 'downstream' }),
      }),
    ])
    expect((service as unknown as { served: number }).served).toBe(0)
  })

  it('closes on a malformed header, on a truncated one and on a slow one', async () => {
    const seen = collectRejections()
    // A generous timeout for the malformed cases (a loaded machine must not turn them into
    // timeouts), a short one on a second listener for the slow client.
    const service = await startEcho({ trusted: ['127.0.0.1'], headerTimeoutMs: 30_000 })
    const port = portOf(service)
    const hurried = await startEcho({ trusted: ['127.0.0.1'], headerTimeoutMs: 200 })

    const plainHttp = await connect(port)
    const first = collect(plainHttp)
    plainHttp.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
    expect((await first).toString()).toBe('')

    const tooLong = await connect(port)
    const second = collect(tooLong)
    tooLong.write(`PROXY TCP4 ${'1'.repeat(120)}`)
    expect((await second).toString()).toBe('')

    const truncated = await connect(port)
    const third = collect(truncated)
    truncated.end('PROXY TCP4 1.2.3.4')
    expect((await third).toString()).toBe('')

    const slow = await connect(portOf(hurried))
    const fourth = collect(slow)
    const started = Date.now()
    slow.write('PROXY TCP4 1.2.3.4 ')
    expect((await fourth).toString()).toBe('')
    expect(Date.now() - started).toBeGreaterThanOrEqual(150)

    expect(seen.map((message) => message.reason)).toEqual([
      'proxy-protocol-malformed',
      'proxy-protocol-malformed',
      'proxy-protocol-malformed',
      'proxy-protocol-timeout',
    ])
    expect(seen[2]?.error).toMatchObject({ type: 'ConnectionClosed' })
    expect(seen[3]?.error).toMatchObject({ type: 'ReadTimedout' })
    expect(service.rejectedConnectionCount).toBe(3)
    expect(hurried.rejectedConnectionCount).toBe(1)
  })

  it('validates its options with exact messages', () => {
    const listeners = new Listeners()
    const address = { kind: 'tcp', address: '127.0.0.1:0' } as const
    expect(() =>
      listeners.addListener({ address, proxyProtocol: { trusted: ['10.0.0.0/40'] } }),
    ).toThrow(new RangeError('invalid prefix length in "10.0.0.0/40": expected 0 to 32'))
    expect(() =>
      listeners.addListener({ address, proxyProtocol: { trusted: [], headerTimeoutMs: 0 } }),
    ).toThrow(new RangeError('proxyProtocol.headerTimeoutMs must be a positive integer, got 0'))
    expect(() =>
      listeners.addListener({ address, proxyProtocol: { trusted: [], maxV2Bytes: 8 } }),
    ).toThrow(new RangeError('proxyProtocol.maxV2Bytes must be an integer from 16 to 65551, got 8'))
  })
})

describe('sending the PROXY protocol', () => {
  it('writes the header before the TLS handshake of a TLS upstream', async () => {
    // The upstream: a TLS endpoint that accepts the PROXY protocol and reports the client.
    const upstream = new ListeningService('tls upstream', {
      async processNew(stream) {
        const peer = stream.digest.peerAddr
        await stream.writeAll(`${peer?.address}:${peer?.port} via ${stream.digest.tls?.sni}`)
        return undefined
      },
    })
    upstream.addListener({
      ...tlsListenerConfig(
        { kind: 'tcp', address: '127.0.0.1:0' },
        TlsSettings.intermediate(testCertPath('localhost.pem'), testCertPath('localhost.key')),
      ),
      proxyProtocol: { trusted: ['127.0.0.1'] },
    })
    await startServer([upstream])
    const proxy = new ListeningService(
      'tcp proxy',
      new TcpProxy({
        upstreamPeer: () => {
          const peer = new BasicPeer(`127.0.0.1:${portOf(upstream)}`, {
            ca: testCert('ca.pem').toString(),
            proxyProtocol: {
              version: 1,
              source: { address: '198.51.100.20', port: 4321, family: 'IPv4' },
              destination: { address: '192.0.2.1', port: 443, family: 'IPv4' },
            },
          })
          peer.sni = 'localhost'
          return peer
        },
      }),
    )
    proxy.addTcp('127.0.0.1:0')
    await startServer([proxy])
    const client = await connect(portOf(proxy))
    const reply = collect(client)
    client.end()
    expect((await reply).toString()).toBe('198.51.100.20:4321 via localhost')
  })
})
