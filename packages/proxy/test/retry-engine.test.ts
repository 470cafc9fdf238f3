// Issue 20: the retry policy driven by the proxy engine (HttpProxyOptions.retryPolicy,
// ProxyHttp.retryPolicy): per-attempt timeout, overall deadline (504), backoff, retry budget,
// prefer-another-backend, hedging. Origins on 127.0.0.1 fail on cue (refuse, reset, hang, 5xx);
// the policy's clock and timer are injected (FakeTime), so no test waits on wall-clock time:
// each waits for the origin to see the request, then advances the fake clock.
import diagnosticsChannel from 'node:diagnostics_channel'
import { once } from 'node:events'
import type http from 'node:http'
import http2 from 'node:http2'
import net, { type AddressInfo } from 'node:net'
import { HttpPeer } from '@pingora-ts/core'
import type { PingoraError } from '@pingora-ts/error'
import {
  LoadBalancer,
  RetryPolicy,
  type RetryPolicyOptions,
  RetryState,
  RoundRobin,
} from '@pingora-ts/load-balancing'
import {
  type AttemptStartedMessage,
  type AttemptStoppedMessage,
  CHANNEL_NAMES,
  type ProxyHttp,
  type Session,
  type UpstreamConnectedMessage,
  type UpstreamRetryPolicy,
} from '@pingora-ts/proxy'
import { Agent, request } from 'undici'
import { describe, expect, expectTypeOf, it, onTestFinished } from 'vitest'
import { answerOnCue, type CueMode, origin, startProxy } from './helpers.ts'

/** A manual clock and timer for the policy: `advance` fires what is due, in order. */
class FakeTime {
  now = 0
  readonly #timers: { at: number; callback: () => void }[] = []
  readonly clock = (): number => this.now
  readonly setTimer = (callback: () => void, ms: number): (() => void) => {
    const timer = { at: this.now + ms, callback }
    this.#timers.push(timer)
    return () => {
      const i = this.#timers.indexOf(timer)
      if (i >= 0) this.#timers.splice(i, 1)
    }
  }
  get pending(): number {
    return this.#timers.length
  }
  advance(ms: number): void {
    const until = this.now + ms
    for (;;) {
      this.#timers.sort((a, b) => a.at - b.at)
      const next = this.#timers[0]
      if (next === undefined || next.at > until) break
      this.#timers.shift()
      this.now = next.at
      next.callback()
    }
    this.now = until
  }
}

type Mode = CueMode | 'held'

/** An origin whose behaviour the test sets; `seen(n)` resolves once it got `n` requests. */
async function cueOrigin(name: string, mode: Mode) {
  const state = { mode, hits: 0, closed: 0, sockets: new Set<net.Socket>() }
  const waiters: { n: number; resolve: () => void }[] = []
  const held: http.ServerResponse[] = []
  const o = await origin((req: http.IncomingMessage, res: http.ServerResponse) => {
    state.hits++
    if (!state.sockets.has(req.socket)) {
      state.sockets.add(req.socket)
      req.socket.once('close', () => {
        state.closed++
      })
    }
    for (const w of waiters.filter((w) => state.hits >= w.n)) {
      waiters.splice(waiters.indexOf(w), 1)
      w.resolve()
    }
    if (state.mode === 'held') {
      req.resume()
      held.push(res)
    } else answerOnCue(state.mode, name, req, res)
  })
  return {
    addr: `127.0.0.1:${o.port}`,
    state,
    seen(n: number): Promise<void> {
      if (state.hits >= n) return Promise.resolve()
      return new Promise((resolve) => waiters.push({ n, resolve }))
    },
    release(): void {
      for (const res of held.splice(0)) res.end(name)
    },
  }
}

async function refusingAddr(): Promise<string> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return `127.0.0.1:${port}`
}

/** Collects the messages of a diagnostics channel for the test. */
function listen<T>(name: string): T[] {
  const seen: T[] = []
  const listener = (message: unknown) => seen.push(message as T)
  diagnosticsChannel.subscribe(name, listener)
  onTestFinished(() => {
    diagnosticsChannel.unsubscribe(name, listener)
  })
  return seen
}

interface Ctx {
  backends: string[]
}

interface Done {
  path: string
  backends: string[]
  attempts: number
  error: PingoraError | undefined
}

const EMPTY = new Uint8Array()

/**
 * A proxy whose engine the policy drives. The first attempt goes to `first[path]` when given
 * (a fixed backend), else the load balancer; retries take a backend not tried yet.
 */
async function policyProxy(
  addrs: string[],
  options: RetryPolicyOptions,
  first: Record<string, string> = {},
) {
  const time = new FakeTime()
  const lb = LoadBalancer.tryFromIter(RoundRobin, addrs)
  const policy = new RetryPolicy({
    random: () => 0,
    now: time.clock,
    setTimer: time.setTimer,
    ...options,
  })
  const done: Done[] = []
  const app = {
    newCtx: (): Ctx => ({ backends: [] }),
    upstreamPeer(session: Session, ctx: Ctx): HttpPeer {
      const fixed = session.retries === 1 ? first[session.requestHeader.path] : undefined
      const addr =
        fixed ?? RetryState.of(session.retryState)?.select(lb, EMPTY)?.addr ?? (addrs[0] as string)
      ctx.backends.push(addr)
      return new HttpPeer({ address: addr, tls: false, sni: '' })
    },
    logging(session: Session, error: PingoraError | undefined, ctx: Ctx): void {
      done.push({
        path: session.requestHeader.path,
        backends: ctx.backends,
        attempts: session.retries,
        error,
      })
    },
  } satisfies ProxyHttp<Ctx>
  const proxy = await startProxy(app, {}, { retryPolicy: policy })
  const agent = new Agent()
  onTestFinished(() => agent.destroy())
  const send = async (path = '/', method = 'GET') => {
    const response = await request(`${proxy.url}${path}`, {
      dispatcher: agent,
      method: method as 'GET',
      body: method === 'POST' ? 'data' : undefined,
    })
    return { status: response.statusCode, body: await response.body.text() }
  }
  return { send, policy, done, time }
}

describe('the engine driven by a retry policy', () => {
  it('RetryPolicy is an UpstreamRetryPolicy', () => {
    expectTypeOf<RetryPolicy>().toMatchTypeOf<UpstreamRetryPolicy>()
  })

  it('a per-attempt timeout stops the hung attempt and retries on another backend', async () => {
    const hung = await cueOrigin('hung', 'hang')
    const good = await cueOrigin('good', 'ok')
    const stopped = listen<AttemptStoppedMessage>(CHANNEL_NAMES.attemptStopped)
    const { send, done, time, policy } = await policyProxy(
      [hung.addr, good.addr],
      { perAttemptTimeoutMs: 1000 },
      { '/': hung.addr },
    )
    const response = send()
    await hung.seen(1)
    expect(done).toEqual([])
    time.advance(999)
    expect(stopped).toEqual([])
    time.advance(1)
    expect(await response).toEqual({ status: 200, body: 'good' })
    expect(done[0]).toMatchObject({ backends: [hung.addr, good.addr], attempts: 2 })
    expect(stopped.map((m) => [m.reason, m.attempt, m.error.type])).toEqual([
      ['timeout', 1, 'ReadTimedout'],
    ])
    expect(policy.stats).toEqual({ active: 0, retrying: 0 })
    expect(time.pending).toBe(0)
  })

  it('the overall deadline answers 504 mid-attempt, with the attempts counted', async () => {
    const a = await cueOrigin('a', 'hang')
    const b = await cueOrigin('b', 'hang')
    const stopped = listen<AttemptStoppedMessage>(CHANNEL_NAMES.attemptStopped)
    const { send, done, time } = await policyProxy(
      [a.addr, b.addr],
      { maxAttempts: 5, perAttemptTimeoutMs: 1000, deadlineMs: 1500 },
      { '/': a.addr },
    )
    const response = send()
    await a.seen(1)
    time.advance(1000)
    await b.seen(1)
    // The second attempt gets what is left of the deadline (500 ms), not its full 1000 ms.
    time.advance(500)
    expect((await response).status).toBe(504)
    expect(done[0]?.attempts).toBe(2)
    expect(done[0]?.backends).toEqual([a.addr, b.addr])
    expect(done[0]?.error?.message).toContain('exceeded after 2 attempts')
    expect(stopped.map((m) => m.reason)).toEqual(['timeout', 'deadline'])
    expect(a.state.hits + b.state.hits).toBe(2)
  })

  it('waits the backoff (full jitter) on the injected timer', async () => {
    const a = await cueOrigin('a', 'hang')
    const good = await cueOrigin('good', 'ok')
    const started = listen<AttemptStartedMessage>(CHANNEL_NAMES.attemptStarted)
    const { send, time } = await policyProxy(
      [a.addr, good.addr],
      {
        random: () => 0.99,
        baseBackoffMs: 1000,
        perAttemptTimeoutMs: 1000,
        deadlineMs: 5000,
      },
      { '/': a.addr },
    )
    const response = send()
    await a.seen(1)
    time.advance(1000)
    // The retry waits its backoff (full jitter: 0.99 × 1000 ms) on the policy's timer.
    await new Promise<void>((resolve) => {
      const check = () => (time.pending > 0 ? resolve() : setImmediate(check))
      check()
    })
    expect(good.state.hits).toBe(0)
    time.advance(990)
    expect(await response).toEqual({ status: 200, body: 'good' })
    expect(started.map((m) => [m.attempt, m.backoffMs])).toEqual([
      [1, 0],
      [2, 990],
    ])
  })

  it('answers 504 at once when the backoff would end past the deadline', async () => {
    const a = await cueOrigin('a', 'hang')
    const good = await cueOrigin('good', 'ok')
    const { send, done, time } = await policyProxy(
      [a.addr, good.addr],
      { random: () => 0.99, baseBackoffMs: 1000, perAttemptTimeoutMs: 1000, deadlineMs: 1500 },
      { '/': a.addr },
    )
    const response = send()
    await a.seen(1)
    time.advance(1000)
    expect((await response).status).toBe(504)
    expect(done[0]?.attempts).toBe(1)
    expect(done[0]?.error?.message).toContain('request deadline of 1500 ms exceeded after 1')
    expect(good.state.hits).toBe(0)
    expect(time.pending).toBe(0)
  })

  it('a spent retry budget stops retries', async () => {
    const a = await cueOrigin('a', 'hang')
    const b = await cueOrigin('b', 'hang')
    const refused = await refusingAddr()
    const denied = listen<{ reason: string; failure: string }>('pingora:retry:denied')
    const { send, done, time, policy } = await policyProxy(
      [a.addr, b.addr],
      { maxAttempts: 3, perAttemptTimeoutMs: 1000, budgetPercent: 0, minRetryConcurrency: 1 },
      { '/slow': a.addr, '/refused': refused },
    )
    // The first request times out once and retries: it holds the one retry the budget allows.
    const slow = send('/slow')
    await a.seen(1)
    time.advance(1000)
    await b.seen(1)
    expect(policy.stats).toEqual({ active: 1, retrying: 1 })
    // A second request meets a refused connection: retryable, but the budget is spent.
    expect((await send('/refused')).status).toBe(502)
    expect(done.find((d) => d.path === '/refused')).toMatchObject({
      attempts: 1,
      backends: [refused],
    })
    expect(denied).toEqual([{ reason: 'budget', failure: 'connect' }])
    // The first one goes on retrying within its attempts, then fails with 504 (timeouts).
    time.advance(1000)
    await a.seen(2)
    time.advance(1000)
    expect((await slow).status).toBe(504)
    expect(done.find((d) => d.path === '/slow')?.attempts).toBe(3)
    expect(denied.at(-1)).toEqual({ reason: 'attempts', failure: 'timeout' })
    expect(policy.stats).toEqual({ active: 0, retrying: 0 })
  })

  it('retries a reset and a chosen 5xx for GET on another backend; not a POST reset', async () => {
    const resets = await cueOrigin('resets', 'reset')
    const busy = await cueOrigin('busy', '503')
    const good = await cueOrigin('good', 'ok')
    const { send, done } = await policyProxy(
      [resets.addr, busy.addr, good.addr],
      { maxAttempts: 3, retryOnStatus: [503] },
      { '/reset': resets.addr, '/busy': busy.addr },
    )
    expect(await send('/reset')).toEqual({ status: 200, body: 'good' })
    expect(done[0]?.backends[0]).toBe(resets.addr)
    expect(done[0]?.backends.at(-1)).toBe(good.addr)
    expect(await send('/busy')).toEqual({ status: 200, body: 'good' })
    expect(done[1]?.backends[0]).toBe(busy.addr)
    expect(done[1]?.backends.at(-1)).toBe(good.addr)
    expect((await send('/reset', 'POST')).status).toBe(502)
    expect(done[2]?.attempts).toBe(1)
  })

  it('ProxyHttp.retryPolicy chooses the policy per request; failToConnect still decides first', async () => {
    const refused = await refusingAddr()
    const good = await cueOrigin('good', 'ok')
    const time = new FakeTime()
    const policy = new RetryPolicy({ now: time.clock, setTimer: time.setTimer, random: () => 0 })
    const seen: string[] = []
    const app = {
      newCtx: () => ({}),
      retryPolicy: (session: Session): UpstreamRetryPolicy | undefined =>
        session.requestHeader.path === '/policy' ? policy : undefined,
      upstreamPeer: (session: Session): HttpPeer =>
        new HttpPeer({
          address: session.retries === 1 ? refused : good.addr,
          tls: false,
          sni: '',
        }),
      failToConnect(_s: Session, _p: HttpPeer, _c: unknown, error: PingoraError): PingoraError {
        seen.push(error.type)
        return error
      },
    } satisfies ProxyHttp<unknown>
    const proxy = await startProxy(app)
    const agent = new Agent()
    onTestFinished(() => agent.destroy())
    const get = async (path: string) =>
      (await request(`${proxy.url}${path}`, { dispatcher: agent })).statusCode
    // Without a policy: Pingora's behaviour, failToConnect did not mark it retryable: 502.
    expect(await get('/plain')).toBe(502)
    // With one: the policy retries the connect failure after failToConnect ran.
    expect(await get('/policy')).toBe(200)
    expect(seen).toEqual(['ConnectRefused', 'ConnectRefused'])
  })
})

describe('hedging', () => {
  it('a slow first backend is raced by a hedge; the hedge wins and the first connection is closed, never pooled', async () => {
    const slow = await cueOrigin('slow', 'held')
    const fast = await cueOrigin('fast', 'ok')
    const started = listen<AttemptStartedMessage>(CHANNEL_NAMES.attemptStarted)
    const stopped = listen<AttemptStoppedMessage>(CHANNEL_NAMES.attemptStopped)
    const connected = listen<UpstreamConnectedMessage>(CHANNEL_NAMES.upstreamConnected)
    const { send, done, time, policy } = await policyProxy(
      [slow.addr, fast.addr],
      { hedgeDelayMs: 100, maxAttempts: 2 },
      { '/': slow.addr },
    )
    const response = send()
    await slow.seen(1)
    time.advance(100)
    expect(await response).toEqual({ status: 200, body: 'fast' })
    expect(started.map((m) => [m.attempt, m.hedge])).toEqual([
      [1, false],
      [2, true],
    ])
    expect(stopped.map((m) => [m.attempt, m.reason])).toEqual([[1, 'cancelled']])
    expect(done[0]).toMatchObject({ backends: [slow.addr, fast.addr], attempts: 2 })
    expect(done[0]?.error).toBeUndefined()
    // The loser's connection is closed, from the proxy's side.
    await new Promise<void>((resolve) => {
      const check = () => (slow.state.closed === 1 ? resolve() : setImmediate(check))
      check()
    })
    expect(policy.stats).toEqual({ active: 0, retrying: 0 })
    // The next requests reuse only clean connections: the fast backend's, never the slow one's.
    slow.state.mode = 'ok'
    slow.release()
    expect(await send('/')).toEqual({ status: 200, body: 'slow' })
    expect(await send('/')).toEqual({ status: 200, body: 'slow' })
    const toSlow = connected.filter((m) => m.peer.toString().includes(slow.addr))
    expect(toSlow.map((m) => m.reused)).toEqual([false, false, true])
    expect(slow.state.sockets.size).toBe(2)
    expect(time.pending).toBe(0)
  })

  it('a fast first backend: no hedge is sent', async () => {
    const first = await cueOrigin('first', 'ok')
    const other = await cueOrigin('other', 'ok')
    const started = listen<AttemptStartedMessage>(CHANNEL_NAMES.attemptStarted)
    const { send, done, time } = await policyProxy(
      [first.addr, other.addr],
      { hedgeDelayMs: 100 },
      { '/': first.addr },
    )
    for (let i = 0; i < 3; i++) expect(await send('/')).toEqual({ status: 200, body: 'first' })
    expect(time.pending).toBe(0)
    time.advance(1000)
    expect(other.state.hits).toBe(0)
    expect(started.every((m) => !m.hedge)).toBe(true)
    expect(done.map((d) => d.attempts)).toEqual([1, 1, 1])
  })

  it('over HTTP/2 the stream of the losing attempt is reset with CANCEL', async () => {
    const server = http2.createServer()
    const sessions = new Set<http2.ServerHttp2Session>()
    server.on('session', (session) => {
      sessions.add(session)
      session.on('error', () => {})
    })
    let streams = 0
    const cancelled = new Promise<number>((resolve) => {
      server.on('stream', (stream, headers) => {
        streams++
        stream.on('error', () => {})
        // The first request is held; the hedge is answered.
        if (headers[':path'] === '/' && streams === 1) {
          stream.on('close', () => resolve(stream.rstCode))
          return
        }
        stream.respond({ ':status': 200 })
        stream.end('h2 fast')
      })
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    onTestFinished(
      () =>
        new Promise<void>((resolve) => {
          for (const session of sessions) session.destroy()
          server.close(() => resolve())
        }),
    )
    const address = `127.0.0.1:${(server.address() as AddressInfo).port}`
    const time = new FakeTime()
    const policy = new RetryPolicy({ hedgeDelayMs: 50, now: time.clock, setTimer: time.setTimer })
    const app = {
      newCtx: () => ({}),
      upstreamPeer: (): HttpPeer => {
        const peer = new HttpPeer({ address, tls: false, sni: '' })
        peer.options.setHttpVersion(2, 2)
        return peer
      },
    } satisfies ProxyHttp<unknown>
    const proxy = await startProxy(app, {}, { retryPolicy: policy })
    const agent = new Agent()
    onTestFinished(() => agent.destroy())
    const response = request(`${proxy.url}/`, { dispatcher: agent })
    await new Promise<void>((resolve) => {
      const check = () => (streams === 1 ? resolve() : setImmediate(check))
      check()
    })
    time.advance(50)
    const r = await response
    expect([r.statusCode, await r.body.text()]).toEqual([200, 'h2 fast'])
    expect(await cancelled).toBe(http2.constants.NGHTTP2_CANCEL)
    expect(streams).toBe(2)
  })

  it('hedges a PUT whose body a phase read whole: the hedge replays it', async () => {
    const bodies: string[] = []
    const held: http.ServerResponse[] = []
    const record = (name: string, hold: boolean) =>
      origin((req: http.IncomingMessage, res: http.ServerResponse) => {
        let body = ''
        req.setEncoding('utf8')
        req.on('data', (d: string) => {
          body += d
        })
        req.on('end', () => {
          bodies.push(`${name}:${body}`)
          if (hold) held.push(res)
          else res.end(name)
        })
      })
    const slow = await record('slow', true)
    const fast = await record('fast', false)
    const slowAddr = `127.0.0.1:${slow.port}`
    const fastAddr = `127.0.0.1:${fast.port}`
    const time = new FakeTime()
    const policy = new RetryPolicy({ hedgeDelayMs: 100, now: time.clock, setTimer: time.setTimer })
    const app = {
      newCtx: () => ({}),
      async requestFilter(session: Session): Promise<boolean> {
        await session.bufferRequestBody()
        return false
      },
      upstreamPeer: (session: Session): HttpPeer =>
        new HttpPeer({ address: session.retries === 1 ? slowAddr : fastAddr, tls: false, sni: '' }),
    } satisfies ProxyHttp<unknown>
    const proxy = await startProxy(app, {}, { retryPolicy: policy })
    const agent = new Agent()
    onTestFinished(() => agent.destroy())
    const response = request(`${proxy.url}/`, { dispatcher: agent, method: 'PUT', body: 'payload' })
    await new Promise<void>((resolve) => {
      const check = () => (bodies.length === 1 ? resolve() : setImmediate(check))
      check()
    })
    time.advance(100)
    const r = await response
    expect([r.statusCode, await r.body.text()]).toEqual([200, 'fast'])
    expect(bodies).toEqual(['slow:payload', 'fast:payload'])
    for (const res of held) res.end()
  })

  it('does not hedge a POST (not idempotent)', async () => {
    const slow = await cueOrigin('slow', 'held')
    const other = await cueOrigin('other', 'ok')
    const { send, time } = await policyProxy(
      [slow.addr, other.addr],
      { hedgeDelayMs: 100 },
      { '/': slow.addr },
    )
    const response = send('/', 'POST')
    await slow.seen(1)
    time.advance(100)
    slow.release()
    expect(await response).toEqual({ status: 200, body: 'slow' })
    expect(other.state.hits).toBe(0)
  })
})
