import http from 'node:http'
import type net from 'node:net'
import { HttpPeer, Server } from '@pingora-ts/core'
import { addForwardedHeaders, httpProxyService, type ProxyHttp } from '@pingora-ts/proxy'
import { freePort, hasHaproxy, startHaproxy } from '@pingora-ts/test-utils'
import { describe, expect, it, onTestFinished } from 'vitest'
import { rawExchange } from './helpers.ts'

/** An origin that answers with the X-Forwarded-For it received. */
async function forwardedForOrigin(): Promise<number> {
  const origin = http.createServer((request, response) => {
    response.end(String(request.headers['x-forwarded-for']))
  })
  await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve))
  onTestFinished(() => {
    origin.closeAllConnections()
    origin.close()
  })
  return (origin.address() as net.AddressInfo).port
}

/** Starts HAProxy with `config`, stopped when the test ends. */
async function haproxy(config: string, ports: readonly number[]): Promise<void> {
  const started = await startHaproxy(config, ports)
  onTestFinished(started.stop)
}

describe.skipIf(!hasHaproxy)('PROXY protocol through the HTTP proxy', () => {
  it('takes the client from a PROXY header for X-Forwarded-For, and sends one to HAProxy', async () => {
    const originPort = await forwardedForOrigin()
    const front = await freePort()
    // HAProxy accepts PROXY v2 from us and appends the client it announces to X-Forwarded-For.
    await haproxy(
      `frontend fe
  mode http
  bind 127.0.0.1:${front} accept-proxy
  option forwardfor
  default_backend be
backend be
  mode http
  server origin 127.0.0.1:${originPort}`,
      [front],
    )
    const app: ProxyHttp<void> = {
      newCtx() {},
      upstreamPeer(session) {
        const peer = new HttpPeer(`127.0.0.1:${front}`, false, '')
        // The connection carries this client's header: a pooled one must not serve another.
        peer.options.proxyProtocol = {
          version: 2,
          source: session.clientAddr,
          destination: session.serverAddr,
        }
        return peer
      },
      upstreamRequestFilter(session, upstreamRequest) {
        addForwardedHeaders(session, upstreamRequest)
      },
    }
    const server = new Server({ configuration: { gracePeriodSeconds: 1 } })
    server.bootstrap()
    const service = httpProxyService(server.configuration, app)
    service.addListener({
      address: { kind: 'tcp', address: '127.0.0.1:0' },
      proxyProtocol: { trusted: ['127.0.0.1/32'] },
    })
    server.addService(service)
    await server.start()
    onTestFinished(() => server.shutdown({ graceful: false }))
    const endpoint = service.listeningAddresses()[0] as { port: number }
    const response = await rawExchange(
      endpoint.port,
      'PROXY TCP4 203.0.113.9 192.0.2.1 40000 80\r\n' +
        'GET / HTTP/1.1\r\nHost: example\r\nConnection: close\r\n\r\n',
    )
    expect(response).toMatch(/^HTTP\/1\.1 200/)
    // Ours (from the PROXY header we received), then HAProxy's (from the one we sent).
    expect(response.endsWith('\r\n\r\n203.0.113.9, 203.0.113.9')).toBe(true)
  })
})
