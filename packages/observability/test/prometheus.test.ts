import { HttpPeer, Server } from '@pingora-ts/core'
import { startOrigin } from '@pingora-ts/test-utils'
import { startProxy } from '@pingora-ts/test-utils/proxy'
import { Registry } from 'prom-client'
import { request } from 'undici'
import { describe, expect, onTestFinished, test } from 'vitest'
import { ProxyMetrics, prometheusHttpService } from '../src/index.ts'
import { pollUntil } from './poll.ts'
import { hasPrometheus, startPrometheus } from './prometheus-server.ts'

describe.runIf(hasPrometheus)('Debian prometheus scraping the proxy metrics', () => {
  test('a PromQL query returns the number of requests the test sent', async () => {
    const metrics = new ProxyMetrics({ registry: new Registry(), service: 'scraped' }).enable()
    onTestFinished(() => metrics.disable())
    const origin = await startOrigin((_req, res) => res.end('ok'))
    const proxy = await startProxy({
      newCtx: () => undefined,
      upstreamPeer: () => new HttpPeer(`127.0.0.1:${origin.port}`, false, ''),
    })
    const server = new Server({ configuration: { gracePeriodSeconds: 1 } })
    server.bootstrap()
    const scrape = prometheusHttpService({ registry: metrics.registry })
    scrape.addTcp('127.0.0.1:0')
    server.addService(scrape)
    await server.start()
    onTestFinished(() => server.shutdown({ graceful: false }))
    const { port } = scrape.boundAddress()

    const sent = 7
    for (let i = 0; i < sent; i++) {
      const response = await request(`${proxy.url}/item/${i}`, { method: i % 2 ? 'HEAD' : 'GET' })
      expect(response.statusCode).toBe(200)
      await response.body.dump()
    }

    const prometheus = await startPrometheus(`127.0.0.1:${port}`)
    onTestFinished(() => prometheus.close())
    const query = 'sum(pingora_http_requests_total{service="scraped",status_class="2xx"})'
    const total = await pollUntil(async () => {
      const result = await prometheus.query(query)
      const value = result[0]?.value[1]
      return value === String(sent) ? value : undefined
    })
    expect(Number(total)).toBe(sent)
    const byMethod = await prometheus.query(
      'sum by (method) (pingora_http_requests_total{service="scraped"})',
    )
    expect(
      Object.fromEntries(byMethod.map((sample) => [sample.metric.method, sample.value[1]])),
    ).toEqual({ GET: '4', HEAD: '3' })
  })
})
