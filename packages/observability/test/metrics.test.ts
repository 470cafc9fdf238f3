import net from 'node:net'
import { HttpConnector } from '@pingora-ts/core'
import { LoadBalancer, RoundRobin, TcpHealthCheck } from '@pingora-ts/load-balancing'
import { freePort } from '@pingora-ts/test-utils'
import { Registry } from 'prom-client'
import { request } from 'undici'
import { describe, expect, onTestFinished, test } from 'vitest'
import { ProxyMetrics, prometheusHttpService } from '../src/index.ts'
import { startServer } from './helpers.ts'

async function scrape(port: number, path = '/metrics'): Promise<{ type: string; text: string }> {
  const response = await request(`http://127.0.0.1:${port}${path}`)
  expect(response.statusCode).toBe(200)
  return { type: String(response.headers['content-type']), text: await response.body.text() }
}

function newMetrics(): ProxyMetrics {
  const metrics = new ProxyMetrics({ registry: new Registry(), service: 'test' }).enable()
  onTestFinished(() => metrics.disable())
  return metrics
}

describe('prometheusHttpService', () => {
  test('serves the registry on any path, with the process and Node.js metrics', async () => {
    const metrics = newMetrics()
    const { ports } = await startServer(() => {
      const service = prometheusHttpService({ registry: metrics.registry })
      service.addTcp('127.0.0.1:0')
      return [service]
    })
    const port = ports[0] as number
    const { type, text } = await scrape(port)
    expect(type).toBe('text/plain; version=0.0.4; charset=utf-8')
    expect(text).toContain('# TYPE process_cpu_user_seconds_total counter')
    expect(text).toContain('# TYPE nodejs_eventloop_lag_seconds gauge')
    expect(text).toContain('# TYPE pingora_http_requests_total counter')
    expect(text).toContain('pingora_tls_handshakes_total{side="downstream"} 0')
    expect((await scrape(port, '/anything/else')).text).toContain('pingora_http_requests_in_flight')
  })
})

describe('ProxyMetrics', () => {
  test('backend health: flips from pingora:health:changed and the state of observed balancers', async () => {
    const metrics = newMetrics()
    const listener = net.createServer((socket) => socket.end())
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve))
    onTestFinished(() => new Promise<void>((resolve) => listener.close(() => resolve())))
    const up = `127.0.0.1:${(listener.address() as net.AddressInfo).port}`
    const down = `127.0.0.1:${await freePort()}`
    const lb = LoadBalancer.tryFromIter(RoundRobin, [up, down], {
      healthCheck: new TcpHealthCheck(),
    })
    await lb.runHealthCheck()
    // The flip of `down` was published; `up` never flipped (it starts healthy).
    const flipped = await metrics.registry.getSingleMetricAsString('pingora_backend_healthy')
    expect(flipped).toContain(`pingora_backend_healthy{backend="${down}"} 0`)
    expect(flipped).not.toContain(up)
    metrics.observeHealth('lb', lb)
    const observed = await metrics.registry.getSingleMetricAsString('pingora_backend_healthy')
    expect(observed).toContain(`pingora_backend_healthy{backend="${up}"} 1`)
    expect(observed).toContain(`pingora_backend_healthy{backend="${down}"} 0`)
  })

  test('cache lookups are counted through the hook; an unknown result is refused', async () => {
    const metrics = newMetrics()
    metrics.recordCacheLookup('hit')
    metrics.recordCacheLookup('hit')
    metrics.recordCacheLookup('stale')
    const text = await metrics.registry.getSingleMetricAsString('pingora_cache_lookups_total')
    expect(text).toContain('pingora_cache_lookups_total{result="hit"} 2')
    expect(text).toContain('pingora_cache_lookups_total{result="stale"} 1')
    expect(text).toContain('pingora_cache_lookups_total{result="miss"} 0')
    expect(() => metrics.recordCacheLookup('nope' as 'hit')).toThrow(
      new RangeError('unknown cache lookup result: nope'),
    )
  })

  test('an observed connector exports its pool at scrape time', async () => {
    const metrics = newMetrics()
    const connector = new HttpConnector()
    metrics.observeConnector('upstream', connector)
    const idle = await metrics.registry.getSingleMetricAsString(
      'pingora_upstream_pool_idle_connections',
    )
    expect(idle).toContain('pingora_upstream_pool_idle_connections{connector="upstream"} 0')
  })

  test('disable() stops recording', async () => {
    const metrics = newMetrics()
    metrics.disable()
    const lb = LoadBalancer.tryFromIter(RoundRobin, [`127.0.0.1:${await freePort()}`], {
      healthCheck: new TcpHealthCheck(),
    })
    await lb.runHealthCheck()
    const text = await metrics.registry.getSingleMetricAsString('pingora_backend_healthy')
    expect(text).not.toContain('backend=')
  })
})
