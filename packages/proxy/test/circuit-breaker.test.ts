// Issue 20, circuit breaking through the proxy: origins on 127.0.0.1 that hold responses or
// never finish the TLS handshake, a real client (undici), a CircuitBreaker wired in
// upstreamPeer / connectedToUpstream / logging, and the 503 + x-pingora-overflow answer built
// in failToProxy.
import diagnosticsChannel from 'node:diagnostics_channel'
import type http from 'node:http'
import net from 'node:net'
import { HttpPeer, PeerOptions } from '@pingora-ts/core'
import type { PingoraError } from '@pingora-ts/error'
import {
  CHANNEL_NAMES,
  CircuitBreaker,
  type CircuitOverflowedMessage,
  type CircuitTicket,
} from '@pingora-ts/load-balancing'
import { defaultFailToProxy, type ProxyHttp, type Session } from '@pingora-ts/proxy'
import { Agent, request } from 'undici'
import { describe, expect, it, onTestFinished } from 'vitest'
import { origin, raw, startProxy } from './helpers.ts'

interface Ctx {
  ticket: CircuitTicket | undefined
}

/** A proxy guarded by `breaker`; `peers(attempt)` says where each attempt goes. */
async function guardedProxy(
  breaker: CircuitBreaker,
  peers: (attempt: number) => HttpPeer,
  retryConnect = false,
) {
  const app = {
    newCtx: (): Ctx => ({ ticket: undefined }),
    upstreamPeer(session: Session, ctx: Ctx): HttpPeer {
      if (ctx.ticket === undefined) ctx.ticket = breaker.enter()
      else ctx.ticket.retry()
      return peers(session.retries)
    },
    connectedToUpstream(_s: Session, _r: boolean, _p: HttpPeer, _d: unknown, ctx: Ctx): void {
      ctx.ticket?.connected()
    },
    failToConnect(_s: Session, _p: HttpPeer, _c: Ctx, error: PingoraError): PingoraError {
      return retryConnect ? error.setRetry(true) : error
    },
    async failToProxy(session: Session, error: PingoraError) {
      const overflow = CircuitBreaker.overflowResponse(error)
      if (overflow === undefined) return defaultFailToProxy(session, error)
      await session.writeResponseHeader(overflow, true)
      return { errorCode: overflow.status, canReuseDownstream: true }
    },
    logging(_session: Session, _error: PingoraError | undefined, ctx: Ctx): void {
      ctx.ticket?.release()
    },
  } satisfies ProxyHttp<Ctx>
  const proxy = await startProxy(app)
  const agent = new Agent({ connections: 16 })
  onTestFinished(() => agent.destroy())
  const get = async () => {
    const response = await request(`${proxy.url}/`, { dispatcher: agent })
    return {
      status: response.statusCode,
      overflow: response.headers['x-pingora-overflow'],
      body: await response.body.text(),
    }
  }
  return { get, proxy }
}

function overflowEvents(): CircuitOverflowedMessage[] {
  const seen: CircuitOverflowedMessage[] = []
  const listener = (message: unknown) => seen.push(message as CircuitOverflowedMessage)
  diagnosticsChannel.subscribe(CHANNEL_NAMES.circuitOverflowed, listener)
  onTestFinished(() => {
    diagnosticsChannel.unsubscribe(CHANNEL_NAMES.circuitOverflowed, listener)
  })
  return seen
}

/** Resolves when `count()` reaches `n`, checked on each origin event. */
function waitFor(check: () => boolean, subscribe: (wake: () => void) => void): Promise<void> {
  return new Promise((resolve) => {
    const wake = () => {
      if (check()) resolve()
    }
    subscribe(wake)
    wake()
  })
}

/** A TCP server that accepts and never answers: a TLS handshake to it never finishes. */
async function blackHole() {
  const sockets = new Set<net.Socket>()
  const wakers: (() => void)[] = []
  const o = await raw((socket) => {
    sockets.add(socket)
    socket.on('error', () => {})
    for (const w of wakers) w()
  })
  return { ...o, sockets, onAccept: (w: () => void) => wakers.push(w) }
}

const tlsPeer = (port: number) =>
  new HttpPeer({
    address: `127.0.0.1:${port}`,
    tls: true,
    sni: 'localhost',
    options: new PeerOptions({ connectionTimeoutMs: 10_000, totalConnectionTimeoutMs: 10_000 }),
  })

describe('circuit breaking through the proxy', () => {
  it('answers 503 with x-pingora-overflow past maxRequests, and admits again once requests end', async () => {
    const held: http.ServerResponse[] = []
    const wakers: (() => void)[] = []
    const o = await origin((_req, res) => {
      held.push(res)
      for (const w of wakers) w()
    })
    const breaker = new CircuitBreaker({ name: 'origin', maxRequests: 2 })
    const events = overflowEvents()
    const peer = new HttpPeer({ address: `127.0.0.1:${o.port}`, tls: false, sni: '' })
    const { get } = await guardedProxy(breaker, () => peer)
    const first = [get(), get()]
    await waitFor(
      () => held.length === 2,
      (w) => wakers.push(w),
    )
    expect(breaker.stats).toMatchObject({ requests: 2, pending: 0 })
    // Fails fast: the origin never sees it.
    expect(await get()).toEqual({ status: 503, overflow: 'requests', body: '' })
    expect(held).toHaveLength(2)
    expect(events).toEqual([{ name: 'origin', limit: 'requests' }])
    for (const res of held) res.end('ok')
    expect((await Promise.all(first)).map((r) => r.status)).toEqual([200, 200])
    expect(breaker.stats).toMatchObject({ requests: 0, pending: 0 })
    const again = get()
    await waitFor(
      () => held.length === 3,
      (w) => wakers.push(w),
    )
    held[2]?.end('ok')
    expect((await again).status).toBe(200)
    expect(breaker.stats.overflows.requests).toBe(1)
  })

  it('fails fast past maxPendingRequests while connections cannot be made', async () => {
    const hole = await blackHole()
    const breaker = new CircuitBreaker({ maxPendingRequests: 1, maxRequests: 10 })
    const { get } = await guardedProxy(breaker, () => tlsPeer(hole.port))
    // The first request waits on a TLS handshake that never finishes: pending.
    const stuck = get().catch(() => undefined)
    await waitFor(
      () => hole.sockets.size === 1,
      (w) => hole.onAccept(w),
    )
    expect(breaker.stats.pending).toBe(1)
    expect(await get()).toEqual({ status: 503, overflow: 'pending', body: '' })
    expect(hole.sockets.size).toBe(1)
    expect(breaker.stats.overflows.pending).toBe(1)
    void stuck
  })

  it('limits requests retrying at once', async () => {
    const hole = await blackHole()
    // A port that refuses: the first attempt fails to connect and is retried into the hole.
    const refusing = net.createServer()
    await new Promise<void>((resolve) => refusing.listen(0, '127.0.0.1', resolve))
    const refusedPort = (refusing.address() as net.AddressInfo).port
    await new Promise<void>((resolve) => refusing.close(() => resolve()))
    const breaker = new CircuitBreaker({ maxRetries: 1 })
    const { get } = await guardedProxy(
      breaker,
      (attempt) =>
        attempt <= 1
          ? new HttpPeer({ address: `127.0.0.1:${refusedPort}`, tls: false, sni: '' })
          : tlsPeer(hole.port),
      true,
    )
    const stuck = get().catch(() => undefined)
    await waitFor(
      () => hole.sockets.size === 1,
      (w) => hole.onAccept(w),
    )
    expect(breaker.stats.retries).toBe(1)
    // The second request's retry overflows: 503 at once, nothing reaches the hole.
    expect(await get()).toEqual({ status: 503, overflow: 'retries', body: '' })
    expect(hole.sockets.size).toBe(1)
    void stuck
  })
})
