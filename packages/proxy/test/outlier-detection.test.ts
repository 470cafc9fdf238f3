// Issue 20, outlier detection through the proxy: origins on 127.0.0.1 that fail on cue (5xx,
// reset, hang, refuse), a real client (undici), a LoadBalancer with an OutlierDetector fed from
// `logging` in one line. The detector's clock is injected: ejection ends when the test says so.
import diagnosticsChannel from 'node:diagnostics_channel'
import type http from 'node:http'
import net from 'node:net'
import { HttpPeer, PeerOptions } from '@pingora-ts/core'
import { ErrorType, PingoraError } from '@pingora-ts/error'
import {
  type Backend,
  CHANNEL_NAMES,
  LoadBalancer,
  OutlierDetector,
  type OutlierEjectedMessage,
  RetryPolicy,
  RetryState,
  RoundRobin,
} from '@pingora-ts/load-balancing'
import type { ProxyHttp } from '@pingora-ts/proxy'
import { Agent, request } from 'undici'
import { describe, expect, it, onTestFinished } from 'vitest'
import { answerOnCue, origin, startProxy } from './helpers.ts'

type Mode = 'ok' | '5xx' | 'reset' | 'hang'

/** An origin answering with its name, or failing the way `mode` says. */
async function cueOrigin(name: string) {
  const state = { mode: 'ok' as Mode, hits: 0 }
  const o = await origin((req: http.IncomingMessage, res: http.ServerResponse) => {
    state.hits++
    answerOnCue(state.mode === '5xx' ? '503' : state.mode, name, req, res)
  })
  return { ...o, state }
}

/** A port on 127.0.0.1 nothing listens on (connecting is refused). */
async function refusingPort(): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

function subscribe<T>(name: string): T[] {
  const seen: T[] = []
  const listener = (message: unknown) => seen.push(message as T)
  diagnosticsChannel.subscribe(name, listener)
  onTestFinished(() => {
    diagnosticsChannel.unsubscribe(name, listener)
  })
  return seen
}

const EMPTY = new Uint8Array()

/** A proxy over `addrs` with round robin, outlier detection fed from `logging`. */
async function lbProxy(addrs: string[], outliers: OutlierDetector) {
  const lb = LoadBalancer.tryFromIter(RoundRobin, addrs, { outlierDetection: outliers })
  const options = new PeerOptions({ readTimeoutMs: 200, connectionTimeoutMs: 500 })
  const app = {
    newCtx: () => ({ backend: undefined as Backend | undefined }),
    upstreamPeer(_session, ctx) {
      const backend = lb.select(EMPTY, 256)
      if (backend === undefined) {
        throw PingoraError.explain(ErrorType.HTTPStatus(503), 'no backend')
      }
      ctx.backend = backend
      return new HttpPeer({ address: backend.addr, tls: false, sni: '', options })
    },
    logging(session, error, ctx) {
      outliers.observeRequest(ctx.backend, error, session.responseWritten?.status)
    },
  } satisfies ProxyHttp<{ backend: Backend | undefined }>
  const proxy = await startProxy(app)
  const agent = new Agent({ connections: 4 })
  onTestFinished(() => agent.close())
  const get = async () => {
    const response = await request(`${proxy.url}/`, { dispatcher: agent })
    return { status: response.statusCode, body: await response.body.text() }
  }
  return { lb, get }
}

describe('outlier detection through the proxy', () => {
  for (const mode of ['5xx', 'reset', 'hang', 'refuse'] as const) {
    it(`ejects a backend that fails with ${mode}, and takes it back after its ejection time`, async () => {
      const clock = { t: 0 }
      const outliers = new OutlierDetector({
        consecutive5xx: 3,
        consecutiveConnectFailure: 3,
        maxEjectionPercent: 50,
        baseEjectionTimeMs: 10_000,
        now: () => clock.t,
      })
      const good = await cueOrigin('good')
      const bad = await cueOrigin('bad')
      const badAddr =
        mode === 'refuse' ? `127.0.0.1:${await refusingPort()}` : `127.0.0.1:${bad.port}`
      if (mode !== 'refuse') bad.state.mode = mode
      const ejected = subscribe<OutlierEjectedMessage>(CHANNEL_NAMES.outlierEjected)
      const returned = subscribe<{ backend: Backend }>(CHANNEL_NAMES.outlierReturned)
      const { get } = await lbProxy([`127.0.0.1:${good.port}`, badAddr], outliers)

      let failures = 0
      for (let i = 0; i < 6; i++) {
        const r = await get()
        if (r.status !== 200) failures++
      }
      expect(failures).toBe(3)
      expect(ejected).toHaveLength(1)
      expect(ejected[0]?.backend.addr).toBe(badAddr)
      expect(ejected[0]?.reason).toBe(
        mode === '5xx' ? 'consecutive-5xx' : 'consecutive-connect-failure',
      )
      // Ejected: every request goes to the good backend.
      const hitsBefore = bad.state.hits
      for (let i = 0; i < 10; i++) expect(await get()).toEqual({ status: 200, body: 'good' })
      expect(bad.state.hits).toBe(hitsBefore)

      // Healed, but still ejected until its time is up on the injected clock.
      bad.state.mode = 'ok'
      clock.t += 9_999
      expect(await get()).toEqual({ status: 200, body: 'good' })
      expect(returned).toHaveLength(0)
      clock.t += 1
      const bodies = new Set<string>()
      for (let i = 0; i < 4; i++) {
        const r = await get()
        bodies.add(`${r.status} ${r.body}`)
      }
      // Back in rotation (a refusing port still refuses: its first requests count again).
      expect(returned).toHaveLength(1)
      if (mode === 'refuse') expect(bodies).toEqual(new Set(['200 good', '502 ']))
      else expect(bodies).toEqual(new Set(['200 good', '200 bad']))
    })
  }

  it('combines with the proxy error of the client: a downstream abort does not count', () => {
    const outliers = new OutlierDetector({ consecutiveConnectFailure: 1 })
    const backend = LoadBalancer.tryFromIter(RoundRobin, ['127.0.0.1:1']).backends()[0] as Backend
    const aborted = PingoraError.downstream(ErrorType.ConnectionClosed, 'client went away')
    expect(outliers.observeRequest(backend, aborted, undefined)).toBe(false)
    expect(outliers.isEjected(backend)).toBe(false)
  })
})

describe('outlier detection fed per attempt (observeProxy)', () => {
  it('counts every attempt, retries included: a backend whose failures clients never see is ejected', async () => {
    const bad = await cueOrigin('bad')
    bad.state.mode = '5xx'
    const good = await cueOrigin('good')
    const badAddr = `127.0.0.1:${bad.port}`
    const outliers = new OutlierDetector({ consecutive5xx: 3 })
    const lb = LoadBalancer.tryFromIter(RoundRobin, [badAddr, `127.0.0.1:${good.port}`], {
      outlierDetection: outliers,
    })
    onTestFinished(outliers.observeProxy(lb))
    const ejected = subscribe<OutlierEjectedMessage>(CHANNEL_NAMES.outlierEjected)
    // The engine retries the 503 on the other backend: every client gets a 200, so `logging`
    // alone would never see the bad backend fail.
    const retryPolicy = new RetryPolicy({ retryOnStatus: [503], random: () => 0 })
    const app = {
      newCtx: () => ({}),
      upstreamPeer(session) {
        const backend =
          RetryState.of(session.retryState)?.select(lb, EMPTY) ?? lb.select(EMPTY, 256)
        if (backend === undefined) {
          throw PingoraError.explain(ErrorType.HTTPStatus(503), 'no backend')
        }
        return new HttpPeer({ address: backend.addr, tls: false, sni: '' })
      },
    } satisfies ProxyHttp<unknown>
    const proxy = await startProxy(app, {}, { retryPolicy })
    const agent = new Agent()
    onTestFinished(() => agent.close())
    for (let i = 0; i < 10; i++) {
      const response = await request(`${proxy.url}/`, { dispatcher: agent })
      expect([response.statusCode, await response.body.text()]).toEqual([200, 'good'])
    }
    expect(ejected.map((m) => [m.backend.addr, m.reason])).toEqual([[badAddr, 'consecutive-5xx']])
    // Ejected after its third 503: no request reaches it afterwards.
    expect(bad.state.hits).toBe(3)
  })
})
