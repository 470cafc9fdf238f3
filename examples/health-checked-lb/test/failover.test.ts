import { once } from 'node:events'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Backend } from '@pingora-ts/load-balancing'
import { request } from 'undici'
import { describe, expect, it, onTestFinished } from 'vitest'
import { type HealthCheckedLbOptions, startHealthCheckedLb } from '../src/start.ts'

/** An origin that can go down (listener closed) and come back on the same port. */
async function origin(name: string) {
  let server: http.Server | undefined
  let port = 0
  let healthy = true
  const up = async () => {
    server = http.createServer((req, res) => {
      const status = req.url === '/health' && !healthy ? 503 : 200
      res.writeHead(status, { 'x-origin': name })
      res.end(name)
    })
    server.listen(port, '127.0.0.1')
    await once(server, 'listening')
    port = (server.address() as AddressInfo).port
  }
  const down = async () => {
    const s = server
    server = undefined
    if (s === undefined) return
    s.closeAllConnections()
    await new Promise((resolve) => s.close(resolve))
  }
  await up()
  onTestFinished(down)
  return {
    addr: `127.0.0.1:${port}`,
    up,
    down,
    setHealthy(value: boolean) {
      healthy = value
    },
  }
}

/** Health flips, awaitable. */
function healthEvents() {
  const waiting: { match: string; resolve: () => void }[] = []
  const log: string[] = []
  return {
    log,
    onHealthChange(backend: Backend, healthy: boolean) {
      const event = `${backend.addr} ${healthy ? 'up' : 'down'}`
      log.push(event)
      for (const w of waiting.splice(0)) {
        if (w.match === event) w.resolve()
        else waiting.push(w)
      }
    },
    next(match: string): Promise<void> {
      if (log.includes(match)) return Promise.resolve()
      return new Promise((resolve) => waiting.push({ match, resolve }))
    },
  }
}

async function start(options: Partial<HealthCheckedLbOptions> & { upstreams: string[] }) {
  const running = await startHealthCheckedLb({
    listen: '127.0.0.1:0',
    healthCheck: 'tcp',
    healthPath: '/health',
    healthCheckFrequencyMs: 60_000,
    ...options,
  })
  onTestFinished(running.close)
  return running
}

async function get(address: string) {
  const response = await request(`http://${address}/`)
  const body = await response.body.text()
  return {
    status: response.statusCode,
    body,
    attempts: Number(response.headers['x-upstream-attempts'] ?? 0),
  }
}

describe('examples/health-checked-lb', () => {
  it('retries on another backend when the chosen one refuses the connection', async () => {
    const a = await origin('a')
    const b = await origin('b')
    await a.down()
    // Three failed checks are needed and only one runs: the health check has not noticed yet.
    const lb = await start({ upstreams: [a.addr, b.addr], consecutiveFailure: 3 })
    const results = []
    for (let i = 0; i < 4; i++) results.push(await get(lb.address))
    expect(results.map((r) => `${r.status} ${r.body}`)).toEqual(Array(4).fill('200 b'))
    expect(results.some((r) => r.attempts === 2)).toBe(true)
  })

  it('answers 502 when every backend refuses connections', async () => {
    const a = await origin('a')
    await a.down()
    const lb = await start({ upstreams: [a.addr] })
    expect((await get(lb.address)).status).toBe(502)
  })

  it('stops choosing a backend the TCP check marked down and takes it back when it returns', async () => {
    const a = await origin('a')
    const b = await origin('b')
    const events = healthEvents()
    const lb = await start({
      upstreams: [a.addr, b.addr],
      healthCheckFrequencyMs: 20,
      onHealthChange: events.onHealthChange,
    })
    await a.down()
    await events.next(`${a.addr} down`)
    for (let i = 0; i < 4; i++) {
      const result = await get(lb.address)
      expect(result).toEqual({ status: 200, body: 'b', attempts: 1 })
    }
    await a.up()
    await events.next(`${a.addr} up`)
    const bodies = new Set<string>()
    for (let i = 0; i < 4; i++) bodies.add((await get(lb.address)).body)
    expect(bodies).toEqual(new Set(['a', 'b']))
  })

  it('takes a backend out while its HTTP health endpoint fails, though it still accepts', async () => {
    const a = await origin('a')
    const b = await origin('b')
    const events = healthEvents()
    const lb = await start({
      upstreams: [a.addr, b.addr],
      healthCheck: 'http',
      healthCheckFrequencyMs: 20,
      onHealthChange: events.onHealthChange,
    })
    a.setHealthy(false)
    await events.next(`${a.addr} down`)
    for (let i = 0; i < 4; i++) expect((await get(lb.address)).body).toBe('b')
    a.setHealthy(true)
    await events.next(`${a.addr} up`)
    expect(lb.upstreams.isReady(lb.upstreams.backends()[0] as Backend)).toBe(true)
  })
})
