// Issue 20, the RetryPolicy through the proxy: origins on 127.0.0.1 that refuse, reset, answer
// 503 or hang, a real client (undici), the policy wired in one line per phase. Backoff sleeps
// are injected (no waits); timeouts are the proxy's real ones.
import type http from 'node:http'
import net from 'node:net'
import { HttpPeer, PeerOptions } from '@pingora-ts/core'
import type { PingoraError } from '@pingora-ts/error'
import {
  type Backend,
  LoadBalancer,
  RetryPolicy,
  type RetryPolicyOptions,
  type RetryState,
  RoundRobin,
} from '@pingora-ts/load-balancing'
import type { ProxyHttp, Session } from '@pingora-ts/proxy'
import { Agent, request } from 'undici'
import { describe, expect, it, onTestFinished } from 'vitest'
import { answerOnCue, type CueMode, origin, startProxy } from './helpers.ts'

async function cueOrigin(name: string, mode: CueMode) {
  const state = { mode, hits: 0 }
  const o = await origin((req: http.IncomingMessage, res: http.ServerResponse) => {
    state.hits++
    answerOnCue(state.mode, name, req, res)
  })
  return { addr: `127.0.0.1:${o.port}`, state }
}

async function refusingAddr(): Promise<string> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return `127.0.0.1:${port}`
}

interface Ctx {
  retry: RetryState | undefined
  backends: string[]
}

const EMPTY = new Uint8Array()

async function retryingProxy(addrs: string[], options: RetryPolicyOptions) {
  const lb = LoadBalancer.tryFromIter(RoundRobin, addrs)
  const policy = new RetryPolicy({ sleep: async () => {}, ...options })
  const finished: Ctx[] = []
  const app = {
    newCtx: (): Ctx => ({ retry: undefined, backends: [] }),
    async upstreamPeer(session: Session, ctx: Ctx): Promise<HttpPeer> {
      ctx.retry ??= policy.start(session.requestHeader.method)
      await ctx.retry.beforeAttempt()
      const backend = (lb.selectWith(EMPTY, 256, ctx.retry.acceptUntried) ??
        lb.select(EMPTY, 256)) as Backend
      ctx.retry.chose(backend)
      ctx.backends.push(backend.addr)
      const timeout = ctx.retry.attemptTimeoutMs()
      const options = new PeerOptions({
        connectionTimeoutMs: timeout,
        readTimeoutMs: timeout,
        writeTimeoutMs: timeout,
      })
      return new HttpPeer({ address: backend.addr, tls: false, sni: '', options })
    },
    failToConnect(_s: Session, _p: HttpPeer, ctx: Ctx, error: PingoraError): PingoraError {
      return ctx.retry?.onConnectFailure(error) ?? error
    },
    upstreamResponseFilter(_s: Session, response: { status: number }, ctx: Ctx): void {
      ctx.retry?.checkResponse(response.status)
    },
    errorWhileProxy(_p: HttpPeer, session: Session, error: PingoraError, ctx: Ctx): PingoraError {
      return ctx.retry?.onProxyError(error, session.responseWritten !== undefined) ?? error
    },
    logging(_s: Session, _e: PingoraError | undefined, ctx: Ctx): void {
      ctx.retry?.finish()
      finished.push(ctx)
    },
  } satisfies ProxyHttp<Ctx>
  const proxy = await startProxy(app)
  const agent = new Agent()
  onTestFinished(() => agent.destroy())
  const send = async (method = 'GET') => {
    const response = await request(`${proxy.url}/`, {
      dispatcher: agent,
      method: method as 'GET',
      body: method === 'POST' ? 'data' : undefined,
    })
    return { status: response.statusCode, body: await response.body.text() }
  }
  return { send, policy, finished }
}

describe('RetryPolicy through the proxy', () => {
  it('retries a refused connection on the other backend', async () => {
    const good = await cueOrigin('good', 'ok')
    const bad = await refusingAddr()
    const { send, finished, policy } = await retryingProxy([bad, good.addr], {})
    for (let i = 0; i < 4; i++) expect(await send('POST')).toEqual({ status: 200, body: 'good' })
    // Backends are ordered by address, so which request met the refusing one first varies:
    // each that did was retried once, on the good one.
    const retried = finished.filter((c) => c.backends[0] === bad)
    expect(retried.length).toBeGreaterThan(0)
    expect(retried.every((c) => c.backends.length === 2 && c.backends[1] === good.addr)).toBe(true)
    expect(finished.every((c) => c.backends.at(-1) === good.addr)).toBe(true)
    expect(policy.stats).toEqual({ active: 0, retrying: 0 })
  })

  it('retries a reset before the response for GET, not for POST', async () => {
    const good = await cueOrigin('good', 'ok')
    const bad = await cueOrigin('bad', 'reset')
    const { send } = await retryingProxy([bad.addr, good.addr], {})
    for (let i = 0; i < 4; i++) expect(await send('GET')).toEqual({ status: 200, body: 'good' })
    expect(bad.state.hits).toBeGreaterThan(0)
    // POST to the resetting backend alone: not retried, a 502 after one attempt.
    const only = await retryingProxy([bad.addr], {})
    const hits = bad.state.hits
    expect((await only.send('POST')).status).toBe(502)
    expect(bad.state.hits).toBe(hits + 1)
    // GET is retried (on the same backend when it is the only one).
    expect((await only.send('GET')).status).toBe(502)
    expect(bad.state.hits).toBe(hits + 3)
  })

  it('retries a chosen status for idempotent methods; the last answer goes to the client', async () => {
    const busy = await cueOrigin('busy', '503')
    const good = await cueOrigin('good', 'ok')
    const { send } = await retryingProxy([busy.addr, good.addr], { retryOnStatus: [503] })
    for (let i = 0; i < 4; i++) expect(await send('GET')).toEqual({ status: 200, body: 'good' })
    expect(busy.state.hits).toBeGreaterThan(0)
    good.state.mode = '503'
    expect(await send('GET')).toEqual({ status: 503, body: 'busy' })
    expect(await send('POST')).toEqual({ status: 503, body: 'busy' })
  })

  it('times out one attempt on its own timeout and retries elsewhere', async () => {
    const slow = await cueOrigin('slow', 'hang')
    const good = await cueOrigin('good', 'ok')
    const { send, finished } = await retryingProxy([slow.addr, good.addr], {
      perAttemptTimeoutMs: 150,
      predicate: (error) => error.type === 'ReadTimedout',
    })
    for (let i = 0; i < 2; i++) expect(await send('GET')).toEqual({ status: 200, body: 'good' })
    const timedOut = finished.filter((c) => c.backends[0] === slow.addr)
    expect(timedOut.length).toBeGreaterThan(0)
    for (const c of timedOut) expect(c.backends).toEqual([slow.addr, good.addr])
  })

  it('answers 504 when the overall deadline passes across attempts', async () => {
    const a = await cueOrigin('a', 'hang')
    const b = await cueOrigin('b', 'hang')
    const { send, finished } = await retryingProxy([a.addr, b.addr], {
      maxAttempts: 5,
      perAttemptTimeoutMs: 150,
      deadlineMs: 250,
      predicate: (error) => error.type === 'ReadTimedout',
    })
    expect((await send('GET')).status).toBe(504)
    // The deadline (250 ms) stops the attempts, not maxAttempts: at most two 150 ms attempts fit
    // in it (one when a loaded machine fires the first timeout late). No wall-clock assertion.
    const attempts = finished[0]?.backends.length ?? 0
    expect(attempts).toBeGreaterThanOrEqual(1)
    expect(attempts).toBeLessThanOrEqual(2)
  })
})
