import { type LocalOrigin, startEchoOrigin } from '@pingora-ts/example-origins'
import { LocalRateLimiter } from '@pingora-ts/limits'
import { Agent, request } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type RunningProxy, startRateLimiter } from '../src/rate-limiter.ts'

describe('rate-limiter example', () => {
  let origin: LocalOrigin
  let proxy: RunningProxy
  const agent = new Agent()
  const clock = { now: 0 }

  beforeAll(async () => {
    origin = await startEchoOrigin('origin')
    const limiter = new LocalRateLimiter({ limit: 2, windowMs: 1000, now: () => clock.now })
    proxy = await startRateLimiter({ upstream: origin.address, limiter })
  })
  afterAll(async () => {
    await agent.close()
    await proxy?.close()
    await origin?.close()
  })

  const get = (headers: Record<string, string> = {}) =>
    request(`http://127.0.0.1:${proxy.port}/`, { headers, dispatcher: agent })

  it('lets a client through up to its limit, then answers 429 with the rate-limit headers', async () => {
    clock.now = 250
    for (let i = 0; i < 2; i++) {
      const ok = await get({ appid: 'a' })
      expect(ok.statusCode).toBe(200)
      expect(((await ok.body.json()) as { origin: string }).origin).toBe('origin')
    }
    const limited = await get({ appid: 'a' })
    expect(limited.statusCode).toBe(429)
    expect(limited.headers['x-rate-limit-limit']).toBe('2')
    expect(limited.headers['x-rate-limit-remaining']).toBe('0')
    expect(limited.headers['x-rate-limit-reset']).toBe('1') // 750 ms, rounded up
    // The previous window (2 requests) must decay to 1: at 1500 ms, 1250 ms from now.
    expect(limited.headers['retry-after']).toBe('2')
    expect(await limited.body.text()).toBe('')

    // Another app id, and requests without one (keyed by client IP), have their own budget.
    expect((await get({ appid: 'b' })).statusCode).toBe(200)
    const byIp = await get()
    expect(byIp.statusCode).toBe(200)
    await byIp.body.dump()

    // The window slides: half a window later half of the previous window still counts.
    clock.now = 1500
    const again = await get({ appid: 'a' })
    expect(again.statusCode).toBe(200)
    await again.body.dump()
  })
})
