import diagnosticsChannel from 'node:diagnostics_channel'
import {
  CHANNEL_NAMES,
  channels,
  type ProxyErrorMessage,
  type ProxyHttp,
  type RequestFinishedMessage,
  type UpstreamConnectedMessage,
  type UpstreamFailedMessage,
  type UpstreamRespondedMessage,
} from '@pingora-ts/proxy'
import { Agent, request } from 'undici'
import { describe, expect, it, onTestFinished } from 'vitest'
import { origin, peerFor, startProxy } from './helpers.ts'

type Event = { name: string; message: unknown }

/** Subscribes to every proxy channel for one test; returns the events in arrival order. */
function record(): Event[] {
  const events: Event[] = []
  for (const name of Object.values(CHANNEL_NAMES)) {
    const listener = (message: unknown) => {
      events.push({ name, message })
    }
    diagnosticsChannel.subscribe(name, listener)
    onTestFinished(() => {
      diagnosticsChannel.unsubscribe(name, listener)
    })
  }
  return events
}

function of<T>(events: Event[], name: string): T[] {
  return events.filter((e) => e.name === name).map((e) => e.message as T)
}

/** One keep-alive connection to the proxy, closed after the test. */
function oneConnection(): Agent {
  const agent = new Agent({ connections: 1 })
  onTestFinished(() => agent.close())
  return agent
}

describe('request lifecycle channels', () => {
  it('names the channels noun:verb under pingora: and exposes the channel objects', () => {
    for (const [key, name] of Object.entries(CHANNEL_NAMES)) {
      expect(name).toMatch(/^pingora:[a-z-]+:[a-z]+$/)
      expect(channels[key as keyof typeof channels].name).toBe(name)
    }
  })

  it('publishes start, upstream connect, upstream response and end, in order', async () => {
    const o = await origin((_req, res) => res.end('hello'))
    const events = record()
    const p = await startProxy({ newCtx: () => undefined, upstreamPeer: () => peerFor(o.port) })
    const agent = oneConnection()
    for (const path of ['/a', '/b']) {
      const res = await request(`${p.url}${path}`, { dispatcher: agent })
      expect(await res.body.text()).toBe('hello')
    }
    await expect.poll(() => of(events, CHANNEL_NAMES.requestFinished).length).toBe(2)
    const names = events.map((e) => e.name)
    const oneRequest = [
      CHANNEL_NAMES.requestStarted,
      CHANNEL_NAMES.upstreamConnected,
      CHANNEL_NAMES.upstreamResponded,
      CHANNEL_NAMES.requestFinished,
    ]
    expect(names).toEqual([...oneRequest, ...oneRequest])

    const connected = of<UpstreamConnectedMessage>(events, CHANNEL_NAMES.upstreamConnected)
    expect(connected.map((m) => m.reused)).toEqual([false, true])
    expect(connected[0]?.peer.address).toEqual(peerFor(o.port).address)
    expect(connected[0]?.session.requestHeader.path).toBe('/a')

    const responded = of<UpstreamRespondedMessage>(events, CHANNEL_NAMES.upstreamResponded)
    expect(responded.map((m) => m.response.status)).toEqual([200, 200])

    const finished = of<RequestFinishedMessage>(events, CHANNEL_NAMES.requestFinished)
    expect(finished.map((m) => [m.status, m.retries, m.error, m.reuseDownstream])).toEqual([
      [200, 1, undefined, true],
      [200, 1, undefined, true],
    ])
    expect(finished[1]?.session.clientReused).toBe(true)
    expect(finished[0]?.session.bodyBytesSent).toBe(5)
    expect(of(events, CHANNEL_NAMES.proxyError)).toEqual([])
  })

  it('publishes a failed request with its status and retries, then its end', async () => {
    const events = record()
    const p = await startProxy(
      {
        newCtx: () => undefined,
        upstreamPeer: () => peerFor(1),
        failToConnect: (_session, _peer, _ctx, error) => error.setRetry(true),
      },
      { maxRetries: 2 },
    )
    const res = await request(`${p.url}/down`)
    expect(res.statusCode).toBe(502)
    await res.body.dump()
    await expect.poll(() => of(events, CHANNEL_NAMES.requestFinished).length).toBe(1)
    const [error] = of<ProxyErrorMessage>(events, CHANNEL_NAMES.proxyError)
    expect(error?.error.type).toBe('ConnectRefused')
    expect(error?.status).toBe(502)
    expect(error?.retries).toBe(2)
    expect(error?.phase).toBeUndefined()
    expect(error?.summary).toContain('GET /down')
    const [finished] = of<RequestFinishedMessage>(events, CHANNEL_NAMES.requestFinished)
    expect(finished?.status).toBe(502)
    expect(finished?.error).toBe(error?.error)
    expect(events.map((e) => e.name)).toEqual([
      CHANNEL_NAMES.requestStarted,
      CHANNEL_NAMES.upstreamFailed,
      CHANNEL_NAMES.upstreamFailed,
      CHANNEL_NAMES.proxyError,
      CHANNEL_NAMES.requestFinished,
    ])
    const failed = of<UpstreamFailedMessage>(events, CHANNEL_NAMES.upstreamFailed)
    expect(failed.map((m) => [m.error.type, m.error.retry, m.reused, m.peer.address])).toEqual([
      ['ConnectRefused', true, false, peerFor(1).address],
      ['ConnectRefused', true, false, peerFor(1).address],
    ])
  })

  it('publishes a failed exchange, then the retry that succeeded, with attempt times', async () => {
    let seen = 0
    const o = await origin((req, res) => {
      seen++
      // The first request's connection is cut before any response byte.
      if (seen === 1) req.socket.destroy()
      else res.end('second')
    })
    const events = record()
    const p = await startProxy(
      {
        newCtx: () => undefined,
        upstreamPeer: () => peerFor(o.port),
        errorWhileProxy: (_peer, _session, error) => error.setRetry(true),
      },
      { maxRetries: 2 },
    )
    const res = await request(`${p.url}/retry`)
    expect(await res.body.text()).toBe('second')
    await expect.poll(() => of(events, CHANNEL_NAMES.requestFinished).length).toBe(1)
    expect(events.map((e) => e.name)).toEqual([
      CHANNEL_NAMES.requestStarted,
      CHANNEL_NAMES.upstreamConnected,
      CHANNEL_NAMES.upstreamFailed,
      CHANNEL_NAMES.upstreamConnected,
      CHANNEL_NAMES.upstreamResponded,
      CHANNEL_NAMES.requestFinished,
    ])
    const [failed] = of<UpstreamFailedMessage>(events, CHANNEL_NAMES.upstreamFailed)
    expect(failed?.reused).toBe(false)
    expect(failed?.error.retry).toBe(true)
    const [finished] = of<RequestFinishedMessage>(events, CHANNEL_NAMES.requestFinished)
    expect(failed?.session).toBe(finished?.session)
    expect(finished?.retries).toBe(2)
    const timing = finished?.session.timing
    expect(timing?.upstreamAttemptStart).toBeGreaterThanOrEqual(timing?.start ?? Infinity)
    expect(timing?.upstreamConnected).toBeGreaterThanOrEqual(
      timing?.upstreamAttemptStart ?? Infinity,
    )
  })

  it('a request answered by requestFilter has no upstream messages', async () => {
    const events = record()
    const p = await startProxy({
      newCtx: () => undefined,
      upstreamPeer: () => peerFor(1),
      async requestFilter(session) {
        await session.respondError(403)
        return true
      },
    })
    const res = await request(p.url)
    expect(res.statusCode).toBe(403)
    await res.body.dump()
    await expect.poll(() => of(events, CHANNEL_NAMES.requestFinished).length).toBe(1)
    expect(events.map((e) => e.name)).toEqual([
      CHANNEL_NAMES.requestStarted,
      CHANNEL_NAMES.requestFinished,
    ])
    const [finished] = of<RequestFinishedMessage>(events, CHANNEL_NAMES.requestFinished)
    expect([finished?.status, finished?.retries]).toEqual([403, 0])
  })
})

describe('a user phase that throws is reported with its name', () => {
  /** Runs two requests on one connection; both must succeed on the same connection. */
  async function twoOnOneConnection(app: ProxyHttp<undefined>): Promise<boolean[]> {
    const p = await startProxy(app)
    const agent = oneConnection()
    const reused: boolean[] = []
    const listener = (message: unknown) => {
      reused.push((message as RequestFinishedMessage).session.clientReused)
    }
    channels.requestFinished.subscribe(listener)
    onTestFinished(() => {
      channels.requestFinished.unsubscribe(listener)
    })
    for (const path of ['/1', '/2']) {
      const res = await request(`${p.url}${path}`, { dispatcher: agent })
      expect(res.statusCode).toBe(200)
      expect(res.headers.connection).toBe('keep-alive')
      expect(await res.body.text()).toBe('ok')
    }
    await expect.poll(() => reused.length).toBe(2)
    return reused
  }

  it('logging: the connection stays open for the next request', async () => {
    const o = await origin((_req, res) => res.end('ok'))
    const events = record()
    const reused = await twoOnOneConnection({
      newCtx: () => undefined,
      upstreamPeer: () => peerFor(o.port),
      logging() {
        throw new Error('log sink down')
      },
    })
    expect(reused).toEqual([false, true])
    const errors = of<ProxyErrorMessage>(events, CHANNEL_NAMES.proxyError)
    expect(errors.map((m) => [m.phase, m.status, m.retries])).toEqual([
      ['logging', 200, 1],
      ['logging', 200, 1],
    ])
    expect(errors[0]?.error.type).toBe('InternalError')
    expect(errors[0]?.error.source).toBe('internal')
    expect((errors[0]?.error.cause as Error | undefined)?.message).toBe('log sink down')
    expect(errors[1]?.summary).toContain('GET /2')
  })

  it('persistConnectionContext: the connection stays open for the next request', async () => {
    const o = await origin((_req, res) => res.end('ok'))
    const events = record()
    const reused = await twoOnOneConnection({
      newCtx: () => undefined,
      upstreamPeer: () => peerFor(o.port),
      persistConnectionContext() {
        throw new Error('cannot persist')
      },
    })
    expect(reused).toEqual([false, true])
    await expect.poll(() => of(events, CHANNEL_NAMES.proxyError).length).toBe(2)
    const errors = of<ProxyErrorMessage>(events, CHANNEL_NAMES.proxyError)
    expect(errors.map((m) => m.phase)).toEqual([
      'persistConnectionContext',
      'persistConnectionContext',
    ])
  })

  it('failToProxy: the default answer goes out and the failure is reported', async () => {
    const events = record()
    const p = await startProxy({
      newCtx: () => undefined,
      upstreamPeer: () => peerFor(1),
      failToProxy() {
        throw new Error('broken error page')
      },
    })
    const agent = oneConnection()
    for (let i = 0; i < 2; i++) {
      const res = await request(p.url, { dispatcher: agent })
      expect(res.statusCode).toBe(502)
      // An upstream error answered completely keeps the client connection (the default).
      expect(res.headers.connection).toBe('keep-alive')
      await res.body.dump()
    }
    await expect.poll(() => of(events, CHANNEL_NAMES.requestFinished).length).toBe(2)
    const errors = of<ProxyErrorMessage>(events, CHANNEL_NAMES.proxyError)
    expect(errors.map((m) => [m.phase, m.error.type])).toEqual([
      ['failToProxy', 'InternalError'],
      [undefined, 'ConnectRefused'],
      ['failToProxy', 'InternalError'],
      [undefined, 'ConnectRefused'],
    ])
    const finished = of<RequestFinishedMessage>(events, CHANNEL_NAMES.requestFinished)
    expect(finished[1]?.session.clientReused).toBe(true)
  })

  it('requestSummary and suppressErrorLog: reported, and the request error still published', async () => {
    const events = record()
    const p = await startProxy({
      newCtx: () => undefined,
      upstreamPeer: () => peerFor(1),
      suppressErrorLog() {
        throw new Error('suppress broke')
      },
      requestSummary() {
        throw new Error('summary broke')
      },
    })
    const res = await request(`${p.url}/x`)
    expect(res.statusCode).toBe(502)
    await res.body.dump()
    await expect.poll(() => of(events, CHANNEL_NAMES.requestFinished).length).toBe(1)
    const errors = of<ProxyErrorMessage>(events, CHANNEL_NAMES.proxyError)
    expect(errors.map((m) => m.phase)).toEqual(['suppressErrorLog', 'requestSummary', undefined])
    expect(errors[2]?.summary).toContain('GET /x')
    expect(errors[2]?.error.type).toBe('ConnectRefused')
  })

  it('newCtx: answered 500, reported, and the request ends', async () => {
    const events = record()
    const p = await startProxy({
      newCtx: (): undefined => {
        throw new Error('no ctx')
      },
      upstreamPeer: () => peerFor(1),
    })
    const res = await request(p.url)
    expect(res.statusCode).toBe(500)
    await res.body.dump()
    await expect.poll(() => of(events, CHANNEL_NAMES.requestFinished).length).toBe(1)
    const [error] = of<ProxyErrorMessage>(events, CHANNEL_NAMES.proxyError)
    expect(error?.phase).toBe('newCtx')
    const [finished] = of<RequestFinishedMessage>(events, CHANNEL_NAMES.requestFinished)
    expect([finished?.status, finished?.reuseDownstream]).toEqual([500, false])
  })
})
