import http from 'node:http'
import type net from 'node:net'
import tls from 'node:tls'
import { freePort, hasHaproxy, startHaproxy } from '@pingora-ts/test-utils'
import { describe, expect, it, onTestFinished } from 'vitest'
import type { ServerApp } from '../../src/apps/server-app.ts'
import { TcpProxy } from '../../src/apps/tcp-proxy.ts'
import { TlsSettings, tlsListenerConfig } from '../../src/listeners/tls.ts'
import { ListeningService } from '../../src/services/listening.ts'
import { BasicPeer } from '../../src/upstreams/basic-peer.ts'
import { connect, portOf, startServer } from '../server/helpers.ts'
import { collect, testCert, testCertPath } from './helpers.ts'

/** Writes what the connection's digest says as JSON, then closes. */
const reportApp: ServerApp = {
  async processNew(stream) {
    const digest = stream.digest
    await stream.writeAll(
      JSON.stringify({
        peer: digest.peerAddr,
        local: digest.localAddr,
        socketPeer: digest.socketPeerAddr,
        version: digest.proxyProtocol?.version,
        command: digest.proxyProtocol?.command,
        tlvs: digest.proxyProtocol?.tlvs.map((tlv) => ({
          type: tlv.type,
          value: Buffer.from(tlv.value).toString('latin1'),
        })),
        sni: digest.tls?.sni,
      }),
    )
    return undefined
  },
}

interface Report {
  peer: { address: string; port: number }
  local: { address: string; port: number }
  socketPeer: { address: string; port: number }
  version: number
  command: string
  tlvs: Array<{ type: number; value: string }>
  sni: string | undefined
}

async function askThrough(port: number): Promise<{ report: Report; clientPort: number }> {
  const socket = await connect(port)
  const clientPort = socket.localPort as number
  const text = (await collect(socket)).toString()
  return { report: JSON.parse(text) as Report, clientPort }
}

/** Starts HAProxy with `config`, stopped when the test ends. */
async function haproxy(config: string, ports: readonly number[]): Promise<void> {
  const started = await startHaproxy(config, ports)
  onTestFinished(started.stop)
}

describe.skipIf(!hasHaproxy)('PROXY protocol with HAProxy', () => {
  for (const [option, version] of [
    ['send-proxy', 1],
    ['send-proxy-v2', 2],
  ] as const) {
    it(`reads the real client from HAProxy's ${option}`, async () => {
      const service = new ListeningService('behind haproxy', reportApp)
      service.addListener({
        address: { kind: 'tcp', address: '127.0.0.1:0' },
        proxyProtocol: { trusted: ['127.0.0.1/32'] },
      })
      await startServer([service])
      const front = await freePort()
      await haproxy(
        `frontend fe
  mode tcp
  bind 127.0.0.1:${front}
  default_backend be
backend be
  mode tcp
  server us 127.0.0.1:${portOf(service)} ${option}`,
        [front],
      )
      const { report, clientPort } = await askThrough(front)
      expect(report.version).toBe(version)
      expect(report.command).toBe('proxy')
      // The header's addresses: the client's own port and HAProxy's frontend port...
      expect(report.peer).toMatchObject({ address: '127.0.0.1', port: clientPort })
      expect(report.local).toMatchObject({ address: '127.0.0.1', port: front })
      // ...while the socket itself comes from HAProxy.
      expect(report.socketPeer.port).not.toBe(clientPort)
    })
  }

  it('reads v2 TLVs (unique id) and the header in front of TLS', async () => {
    const service = new ListeningService('tls behind haproxy', reportApp)
    service.addListener({
      ...tlsListenerConfig(
        { kind: 'tcp', address: '127.0.0.1:0' },
        TlsSettings.intermediate(testCertPath('localhost.pem'), testCertPath('localhost.key')),
      ),
      proxyProtocol: { trusted: ['127.0.0.0/8', '::1'] },
    })
    await startServer([service])
    const front = await freePort()
    await haproxy(
      `frontend fe
  mode tcp
  bind 127.0.0.1:${front}
  unique-id-format conn-%cp
  default_backend be
backend be
  mode tcp
  server us 127.0.0.1:${portOf(service)} send-proxy-v2 proxy-v2-options unique-id`,
      [front],
    )
    const socket = tls.connect({
      port: front,
      host: '127.0.0.1',
      servername: 'localhost',
      ca: testCert('ca.pem'),
    })
    onTestFinished(() => {
      socket.destroy()
    })
    await new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', resolve)
      socket.once('error', reject)
    })
    const clientPort = socket.localPort
    const report = JSON.parse((await collect(socket)).toString()) as Report
    expect(report.sni).toBe('localhost')
    expect(report.version).toBe(2)
    expect(report.peer.port).toBe(clientPort)
    expect(report.tlvs).toContainEqual({ type: 0x05, value: `conn-${clientPort}` })
  })

  for (const version of [1, 2] as const) {
    it(`sends PROXY v${version} to HAProxy's accept-proxy, which forwards the real client`, async () => {
      // HAProxy (accept-proxy, HTTP mode) adds X-Forwarded-For from our header.
      const origin = http.createServer((request, response) => {
        response.end(String(request.headers['x-forwarded-for']))
      })
      await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve))
      onTestFinished(() => {
        origin.closeAllConnections()
        origin.close()
      })
      const front = await freePort()
      await haproxy(
        `frontend fe
  mode http
  bind 127.0.0.1:${front} accept-proxy
  option forwardfor
  default_backend be
backend be
  mode http
  server origin 127.0.0.1:${(origin.address() as net.AddressInfo).port}`,
        [front],
      )
      // Our TCP proxy reads the client from a PROXY header (as behind a cloud load balancer)
      // and passes it on to HAProxy.
      const service = new ListeningService(
        'tcp proxy',
        new TcpProxy({
          upstreamPeer: () => new BasicPeer(`127.0.0.1:${front}`),
          sendProxyProtocol: version,
        }),
      )
      service.addListener({
        address: { kind: 'tcp', address: '127.0.0.1:0' },
        proxyProtocol: { trusted: ['127.0.0.1'] },
      })
      await startServer([service])
      const client = await connect(portOf(service))
      const reply = collect(client)
      client.write('PROXY TCP4 203.0.113.9 192.0.2.1 40000 443\r\n')
      client.end('GET / HTTP/1.1\r\nHost: example\r\nConnection: close\r\n\r\n')
      const text = (await reply).toString()
      expect(text).toMatch(/^HTTP\/1\.1 200/)
      expect(text.endsWith('\r\n\r\n203.0.113.9')).toBe(true)
    })
  }
})
