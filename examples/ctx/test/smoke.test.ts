import { type LocalOrigin, startEchoOrigin } from '@pingora-ts/example-origins'
import { Client } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type AccessLogEntry, type RunningCtxProxy, startCtxProxy } from '../src/ctx-proxy.ts'

describe('ctx example', () => {
  let stable: LocalOrigin
  let beta: LocalOrigin
  let proxy: RunningCtxProxy
  // `logging` runs after the response is sent: wait for the entries, not for the responses.
  const waiters: Array<{ count: number; resolve: () => void }> = []
  const logged = (count: number): Promise<void> =>
    new Promise((resolve) => {
      if (proxy.app.accessLog.length >= count) resolve()
      else waiters.push({ count, resolve })
    })
  const onAccessLog = (_entry: AccessLogEntry): void => {
    for (const w of waiters) if (proxy.app.accessLog.length >= w.count) w.resolve()
  }

  beforeAll(async () => {
    stable = await startEchoOrigin('stable')
    beta = await startEchoOrigin('beta')
    proxy = await startCtxProxy({
      upstream: stable.address,
      betaUpstream: beta.address,
      onAccessLog,
    })
  })
  afterAll(async () => {
    await proxy?.close()
    await Promise.all([stable?.close(), beta?.close()])
  })

  it('keeps per-request ctx, shared counters and per-connection state', async () => {
    const first = new Client(`http://127.0.0.1:${proxy.port}`)
    const second = new Client(`http://127.0.0.1:${proxy.port}`)
    try {
      const a = await first.request({ path: '/a', method: 'GET' })
      expect(((await a.body.json()) as { origin: string }).origin).toBe('stable')
      const b = await first.request({ path: '/b', method: 'GET', headers: { 'beta-flag': '1' } })
      expect(((await b.body.json()) as { origin: string }).origin).toBe('beta')
      const c = await second.request({ path: '/c', method: 'GET' })
      expect(((await c.body.json()) as { origin: string }).origin).toBe('stable')
    } finally {
      await Promise.all([first.close(), second.close()])
    }
    await logged(3)

    const log = proxy.app.accessLog
    expect(log.map((e) => [e.request, e.route, e.status])).toEqual([
      ['GET /a', 'stable', 200],
      ['GET /b', 'beta', 200],
      ['GET /c', 'stable', 200],
    ])
    expect(log.map((e) => e.requestNumber)).toEqual([1, 2, 3])
    expect(log.map((e) => e.clientRequestNumber)).toEqual([1, 2, 3])
    // Two requests on the first connection, one on the second.
    expect(log.map((e) => e.connectionRequestNumber)).toEqual([1, 2, 1])
    for (const entry of log) {
      expect(entry.client).toBe('127.0.0.1')
      expect(entry.bytesSent).toBeGreaterThan(0)
      expect(entry.durationMs).toBeGreaterThanOrEqual(0)
      expect(entry.error).toBeUndefined()
    }
    expect(proxy.app.requestsTotal).toBe(3)
    expect(proxy.app.betaRequests).toBe(1)
  })
})
