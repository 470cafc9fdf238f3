import { readFileSync } from 'node:fs'
import tls from 'node:tls'
import { HttpPeer, TlsSettings } from '@pingora-ts/core'
import { certs, freePort, startOrigin } from '@pingora-ts/test-utils'
import { startProxy } from '@pingora-ts/test-utils/proxy'
import { Registry } from 'prom-client'
import { Agent, request } from 'undici'
import { describe, expect, onTestFinished, test } from 'vitest'
import { ProxyMetrics } from '../src/index.ts'

function newMetrics(maxPeers?: number): ProxyMetrics {
  const metrics = new ProxyMetrics({ registry: new Registry(), service: 'px', maxPeers }).enable()
  onTestFinished(() => metrics.disable())
  return metrics
}

async function metric(metrics: ProxyMetrics, name: string): Promise<string> {
  return await metrics.registry.getSingleMetricAsString(name)
}

describe('ProxyMetrics from a real proxy', () => {
  test('requests, durations, attempts, retries, reuse and active connections', async () => {
    const metrics = newMetrics()
    const origin = await startOrigin((req, res) => {
      res.statusCode = req.url === '/missing' ? 404 : 200
      res.end('ok')
    })
    const refused = await freePort()
    const proxy = await startProxy({
      newCtx: () => undefined,
      // `/retry` first tries a closed port (made retryable), then the origin.
      upstreamPeer: (session) =>
        new HttpPeer(
          `127.0.0.1:${session.requestHeader.uri === '/retry' && session.retries <= 1 ? refused : origin.port}`,
          false,
          '',
        ),
      failToConnect: (_session, _peer, _ctx, error) => error.setRetry(true),
    })
    const agent = new Agent({ connections: 1 })
    onTestFinished(() => agent.close())
    for (const [path, method] of [
      ['/a', 'GET'],
      ['/b', 'GET'],
      ['/missing', 'GET'],
      ['/c', 'POST'],
      ['/retry', 'GET'],
      ['/d', 'PROPFIND'],
    ] as const) {
      const response = await request(`${proxy.url}${path}`, { method, dispatcher: agent })
      await response.body.dump()
    }
    const requests = await metric(metrics, 'pingora_http_requests_total')
    expect(requests).toContain('{service="px",method="GET",status_class="2xx"} 3')
    expect(requests).toContain('{service="px",method="GET",status_class="4xx"} 1')
    expect(requests).toContain('{service="px",method="POST",status_class="2xx"} 1')
    expect(requests).toContain('{service="px",method="other",status_class="2xx"} 1')
    expect(await metric(metrics, 'pingora_http_request_duration_seconds')).toContain(
      'pingora_http_request_duration_seconds_count{service="px",status_class="2xx"} 5',
    )
    const peer = `127.0.0.1:${origin.port}`
    expect(await metric(metrics, 'pingora_upstream_attempts_total')).toContain(`{peer="${peer}"} 6`)
    // The retried request's second attempt is a retry on the origin.
    expect(await metric(metrics, 'pingora_upstream_retries_total')).toContain(`{peer="${peer}"} 1`)
    const connections = await metric(metrics, 'pingora_upstream_connections_total')
    expect(connections).toContain(`{peer="${peer}",reused="false"} 1`)
    expect(connections).toContain(`{peer="${peer}",reused="true"} 5`)
    expect(await metric(metrics, 'pingora_upstream_active_connections')).toContain(
      `{peer="${peer}"} 0`,
    )
    expect(await metric(metrics, 'pingora_upstream_responses_total')).toContain(
      `{peer="${peer}",status_class="4xx"} 1`,
    )
    expect(await metric(metrics, 'pingora_upstream_ttfb_seconds')).toContain(
      `pingora_upstream_ttfb_seconds_count{peer="${peer}"} 6`,
    )
    expect(await metric(metrics, 'pingora_upstream_connect_duration_seconds')).toContain(
      `pingora_upstream_connect_duration_seconds_count{peer="${peer}"} 1`,
    )
    expect(await metric(metrics, 'pingora_http_requests_in_flight')).toContain('{service="px"} 0')
  })

  test('TLS handshakes downstream are counted once per connection, failures apart', async () => {
    const metrics = newMetrics()
    const origin = await startOrigin((_req, res) => res.end('ok'))
    const proxy = await startProxy(
      {
        newCtx: () => undefined,
        upstreamPeer: () => new HttpPeer(`127.0.0.1:${origin.port}`, false, ''),
      },
      {},
      { tls: TlsSettings.intermediate(certs.localhost.cert, certs.localhost.key) },
    )
    const agent = new Agent({ connections: 1, connect: { ca: readFileSync(certs.ca) } })
    onTestFinished(() => agent.close())
    for (let i = 0; i < 3; i++) {
      const response = await request(`https://localhost:${proxy.port}/`, { dispatcher: agent })
      expect(response.statusCode).toBe(200)
      await response.body.dump()
    }
    // A client that gives up on the handshake (it does not trust the certificate).
    await new Promise<void>((resolve) => {
      const socket = tls.connect({ port: proxy.port, host: '127.0.0.1', servername: 'localhost' })
      socket.on('error', () => resolve())
    })
    const handshakes = await metric(metrics, 'pingora_tls_handshakes_total')
    expect(handshakes).toContain('{side="downstream"} 1')
    const failures = await metric(metrics, 'pingora_tls_handshake_failures_total')
    await expect
      .poll(async () => await metric(metrics, 'pingora_tls_handshake_failures_total'))
      .toContain('{side="downstream"} 1')
    expect(failures).toContain('{side="upstream"} 0')
  })

  test('peers past maxPeers share the label "other" (bounded memory)', async () => {
    const metrics = newMetrics(1)
    const origins = [
      await startOrigin((_req, res) => res.end('1')),
      await startOrigin((_req, res) => res.end('2')),
      await startOrigin((_req, res) => res.end('3')),
    ]
    let next = 0
    const proxy = await startProxy({
      newCtx: () => undefined,
      upstreamPeer: () => {
        const origin = origins[next++ % origins.length] as { port: number }
        return new HttpPeer(`127.0.0.1:${origin.port}`, false, '')
      },
    })
    for (let i = 0; i < 3; i++) {
      const response = await request(`${proxy.url}/`)
      await response.body.dump()
    }
    const attempts = await metric(metrics, 'pingora_upstream_attempts_total')
    expect(attempts).toContain(`{peer="127.0.0.1:${origins[0]?.port}"} 1`)
    expect(attempts).toContain('{peer="other"} 2')
  })
})
