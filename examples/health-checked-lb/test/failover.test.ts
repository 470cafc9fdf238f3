import { Consistent } from '@pingora-ts/load-balancing'
import { request } from 'undici'
import { describe, expect, it } from 'vitest'
import { healthEvents, keyOwnedBy, ownerOf, startLb, startOrigin } from './helpers.ts'

async function get(address: string, user?: string, method = 'GET') {
  const headers: Record<string, string> = {}
  if (user !== undefined) headers['x-user'] = user
  const response = await request(`http://${address}/`, { method, headers })
  const body = await response.body.text()
  return {
    status: response.statusCode,
    body,
    upstream: response.headers['x-upstream'],
    attempts: Number(response.headers['x-upstream-attempts'] ?? 0),
  }
}

const USERS = Array.from({ length: 60 }, (_, i) => `user-${i}`)

describe('examples/health-checked-lb: consistent hashing by X-User', () => {
  it('sends the same X-User to the same origin every time and spreads users over the origins', async () => {
    const origins = [await startOrigin('a'), await startOrigin('b'), await startOrigin('c')]
    const lb = await startLb({ upstreams: origins.map((o) => o.addr) })
    const ring = Consistent.build(lb.upstreams.backends())
    const owner = new Map<string, string>()
    for (let round = 0; round < 3; round++) {
      for (const user of USERS) {
        const result = await get(lb.address, user)
        expect(result.status).toBe(200)
        if (round === 0) owner.set(user, result.upstream as string)
        expect(result.upstream).toBe(owner.get(user))
        // The key is the header's value, on nginx's ketama ring.
        expect(result.upstream).toBe(ring.iter(Buffer.from(user)).next()?.addr)
      }
    }
    // 60 keys over three equal shares of the ring: every origin owns some.
    expect(new Set(owner.values())).toEqual(new Set(origins.map((o) => o.addr)))
    for (const origin of origins) expect(origin.requests).toBeGreaterThan(0)
  })

  it('keys a request without X-User by the client IP address', async () => {
    const origins = [await startOrigin('a'), await startOrigin('b'), await startOrigin('c')]
    const lb = await startLb({ upstreams: origins.map((o) => o.addr) })
    const byIp = ownerOf(lb, '127.0.0.1')
    // Different paths, one client: one origin (a path key would spread these over the ring).
    for (let i = 0; i < 12; i++) {
      const response = await request(`http://${lb.address}/page-${i}`)
      await response.body.text()
      expect(response.headers['x-upstream']).toBe(byIp)
    }
  })

  it('hashes the header named by hashHeader', async () => {
    const origins = [await startOrigin('a'), await startOrigin('b'), await startOrigin('c')]
    const lb = await startLb({ upstreams: origins.map((o) => o.addr), hashHeader: 'X-Tenant' })
    for (const tenant of USERS.slice(0, 12)) {
      const response = await request(`http://${lb.address}/`, { headers: { 'x-tenant': tenant } })
      await response.body.text()
      expect(response.headers['x-upstream']).toBe(ownerOf(lb, tenant))
    }
  })

  it('moves only the keys of an origin whose HTTP health check fails, and moves them back', async () => {
    const origins = [await startOrigin('a'), await startOrigin('b'), await startOrigin('c')]
    const events = healthEvents()
    const lb = await startLb({
      upstreams: origins.map((o) => o.addr),
      healthCheck: 'http',
      healthCheckFrequencyMs: 20,
      onHealthChange: events.onHealthChange,
    })
    const before = new Map<string, string>()
    for (const user of USERS) before.set(user, (await get(lb.address, user)).upstream as string)
    const [victim] = origins
    if (victim === undefined) throw new Error('no origin')
    // The origin still accepts connections: only its health endpoint says it is down.
    victim.setHealthy(false)
    await events.next(`${victim.addr} down`)
    const moved = new Map<string, string>()
    for (const user of USERS) {
      const result = await get(lb.address, user)
      expect(result.status).toBe(200)
      expect(result.attempts).toBe(1)
      if (before.get(user) === victim.addr) {
        expect(result.upstream).not.toBe(victim.addr)
        moved.set(user, result.upstream as string)
      } else {
        expect(result.upstream).toBe(before.get(user))
      }
    }
    expect(moved.size).toBeGreaterThan(0)
    // A moved key is sticky on its new origin too.
    for (const [user, upstream] of moved)
      expect((await get(lb.address, user)).upstream).toBe(upstream)
    victim.setHealthy(true)
    await events.next(`${victim.addr} up`)
    for (const user of USERS) expect((await get(lb.address, user)).upstream).toBe(before.get(user))
  })
})

describe('examples/health-checked-lb: failover', () => {
  it('retries on the next origin of the ring when the chosen one refuses the connection', async () => {
    const a = await startOrigin('a')
    const b = await startOrigin('b')
    const c = await startOrigin('c')
    await a.down()
    // Three failed checks are needed and only one runs: the health check has not noticed yet.
    const lb = await startLb({ upstreams: [a.addr, b.addr, c.addr], consecutiveFailure: 3 })
    const user = keyOwnedBy(lb, a.addr)
    const next = lb.upstreams.selectWith(
      Buffer.from(user),
      256,
      (backend) => backend.addr !== a.addr,
    )
    for (let i = 0; i < 3; i++) {
      const result = await get(lb.address, user)
      expect(result).toMatchObject({ status: 200, upstream: next?.addr, attempts: 2 })
    }
  })

  it('answers 502 when every origin refuses connections', async () => {
    const a = await startOrigin('a')
    await a.down()
    const lb = await startLb({ upstreams: [a.addr] })
    expect((await get(lb.address, 'user-1')).status).toBe(502)
  })

  it('retries an idempotent request on another origin when its origin drops the connection before answering', async () => {
    const a = await startOrigin('a')
    const b = await startOrigin('b')
    const lb = await startLb({ upstreams: [a.addr, b.addr] })
    const user = keyOwnedBy(lb, a.addr)
    a.intercept = (request) => {
      request.socket.destroy()
      return true
    }
    const result = await get(lb.address, user)
    expect(result).toMatchObject({ status: 200, body: 'b', upstream: b.addr, attempts: 2 })
    expect(a.requests).toBe(1)
  })

  it('does not resend a POST whose origin dropped a fresh connection before answering', async () => {
    const a = await startOrigin('a')
    const b = await startOrigin('b')
    const lb = await startLb({ upstreams: [a.addr, b.addr] })
    const user = keyOwnedBy(lb, a.addr)
    a.intercept = (request) => {
      request.socket.destroy()
      return true
    }
    expect((await get(lb.address, user, 'POST')).status).toBe(502)
    expect(a.requests).toBe(1)
    expect(b.requests).toBe(0)
  })

  it('does not retry a response cut after its header reached the client', async () => {
    const a = await startOrigin('a')
    const b = await startOrigin('b')
    const lb = await startLb({ upstreams: [a.addr, b.addr] })
    const user = keyOwnedBy(lb, a.addr)
    let cut: (() => void) | undefined
    a.intercept = (request, response) => {
      response.writeHead(200, { 'content-length': '64' })
      response.write('partial')
      cut = () => request.socket.destroy()
      return true
    }
    const response = await request(`http://${lb.address}/`, { headers: { 'x-user': user } })
    expect(response.statusCode).toBe(200)
    expect(response.headers['x-upstream']).toBe(a.addr)
    const body = response.body.text()
    cut?.()
    await expect(body).rejects.toThrow()
    expect(a.requests).toBe(1)
    expect(b.requests).toBe(0)
  })

  it('stops choosing an origin the TCP check marked down and takes it back when it returns', async () => {
    const a = await startOrigin('a')
    const b = await startOrigin('b')
    const events = healthEvents()
    const lb = await startLb({
      upstreams: [a.addr, b.addr],
      healthCheckFrequencyMs: 20,
      onHealthChange: events.onHealthChange,
    })
    const user = keyOwnedBy(lb, a.addr)
    await a.down()
    await events.next(`${a.addr} down`)
    for (let i = 0; i < 4; i++) {
      expect(await get(lb.address, user)).toMatchObject({ status: 200, body: 'b', attempts: 1 })
    }
    await a.up()
    await events.next(`${a.addr} up`)
    expect(await get(lb.address, user)).toMatchObject({ status: 200, body: 'a', attempts: 1 })
  })
})
