import type { HttpPeer } from '@pingora-ts/core'
import type { PingoraError } from '@pingora-ts/error'
import {
  defaultErrorWhileProxy,
  type ProxyHttp,
  proxyErrorChannel,
  type Session,
} from '@pingora-ts/proxy'
import { Agent, request } from 'undici'
import { describe, expect, it, onTestFinished, vi } from 'vitest'
import { startBlackHole } from '../../core/test/connectors/helpers.ts'
import { origin, peerFor, raw, rawClient, startProxy } from './helpers.ts'

/**
 * A port with nothing listening. Port 1 (tcpmux) is never served on these machines, and unlike
 * a port bound then released it cannot be taken by a test running in parallel.
 */
async function closedPort(): Promise<number> {
  return 1
}

describe('errors, retries and failover', () => {
  it('answers 502 on a refused connection and calls failToConnect and logging', async () => {
    const port = await closedPort()
    const seen: string[] = []
    let logged: PingoraError | undefined
    const p = await startProxy({
      newCtx: () => undefined,
      upstreamPeer: () => peerFor(port),
      failToConnect(_s: Session, _peer: HttpPeer, _ctx: undefined, error: PingoraError) {
        seen.push(`${error.type}/${error.source}`)
        return error
      },
      logging: (_s, e) => {
        logged = e
      },
    })
    const res = await request(p.url)
    expect(res.statusCode).toBe(502)
    await res.body.dump()
    expect(seen).toEqual(['ConnectRefused/upstream'])
    await expect.poll(() => logged?.type).toBe('ConnectRefused')
  })

  it('retries a connect failure marked retryable on the next peer from upstreamPeer', async () => {
    const dead = await closedPort()
    const o = await origin((_req, res) => res.end('second'))
    interface Ctx {
      tries: number
    }
    const p = await startProxy<Ctx>({
      newCtx: () => ({ tries: 0 }),
      upstreamPeer: (_s, ctx) => peerFor(ctx.tries++ === 0 ? dead : o.port),
      failToConnect: (_s, _p, _ctx, e) => e.setRetry(true),
    })
    const res = await request(p.url)
    expect(res.statusCode).toBe(200)
    expect(await res.body.text()).toBe('second')
  })

  it('stops retrying at maxRetries attempts', async () => {
    const dead = await closedPort()
    let attempts = 0
    const p = await startProxy(
      {
        newCtx: () => undefined,
        upstreamPeer: () => {
          attempts++
          return peerFor(dead)
        },
        failToConnect: (_s, _p, _c, e) => e.setRetry(true),
      },
      { maxRetries: 3 },
    )
    const res = await request(p.url)
    expect(res.statusCode).toBe(502)
    await res.body.dump()
    expect(attempts).toBe(3)
  })

  it('retries automatically when a reused upstream connection dies before answering', async () => {
    // The origin answers the first request on each connection and kills the connection on the
    // second one without answering: the proxy must retry on a fresh connection.
    let connections = 0
    const o = await raw((socket) => {
      connections++
      let requests = 0
      let buffered = ''
      socket.on('data', (d: Buffer) => {
        buffered += d.toString('latin1')
        while (buffered.includes('\r\n\r\n')) {
          buffered = buffered.slice(buffered.indexOf('\r\n\r\n') + 4)
          requests++
          if (requests === 1) {
            socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok')
          } else {
            socket.destroy()
          }
        }
      })
    })
    let reusedReports: boolean[] = []
    const p = await startProxy({
      newCtx: () => undefined,
      upstreamPeer: () => peerFor(o.port),
      connectedToUpstream: (_s, reused) => {
        reusedReports.push(reused)
      },
    })
    const first = await request(p.url)
    expect(await first.body.text()).toBe('ok')
    reusedReports = []
    const second = await request(p.url)
    expect(second.statusCode).toBe(200)
    expect(await second.body.text()).toBe('ok')
    expect(reusedReports).toEqual([true, false])
    expect(connections).toBe(2)
  })

  it('tells errorWhileProxy whether the upstream connection was reused', async () => {
    const o = await raw((socket) => {
      let requests = 0
      socket.on('data', () => {
        requests++
        if (requests === 1) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok')
        else socket.destroy()
      })
    })
    const flags: boolean[] = []
    const p = await startProxy({
      newCtx: () => undefined,
      upstreamPeer: () => peerFor(o.port),
      errorWhileProxy(peer, session, error, _ctx, clientReused) {
        flags.push(clientReused)
        return defaultErrorWhileProxy(peer, session, error, clientReused)
      },
    })
    const first = await request(p.url)
    await first.body.dump()
    const second = await request(p.url)
    expect(second.statusCode).toBe(200)
    await second.body.dump()
    expect(flags).toEqual([true])
  })

  it('replays a buffered request body when retrying on a fresh connection', async () => {
    const bodies: string[] = []
    const o = await raw((socket) => {
      let requests = 0
      let buffered = ''
      socket.on('data', (d: Buffer) => {
        buffered += d.toString('latin1')
        for (;;) {
          const end = buffered.indexOf('\r\n\r\n')
          if (end === -1) return
          const length = Number(/content-length: (\d+)/i.exec(buffered.slice(0, end))?.[1] ?? 0)
          if (buffered.length < end + 4 + length) return
          requests++
          if (requests > 1) {
            socket.destroy()
            return
          }
          bodies.push(buffered.slice(end + 4, end + 4 + length))
          buffered = buffered.slice(end + 4 + length)
          socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok')
        }
      })
    })
    const p = await startProxy({ newCtx: () => undefined, upstreamPeer: () => peerFor(o.port) })
    const first = await request(p.url, { method: 'POST', body: 'first body' })
    expect(await first.body.text()).toBe('ok')
    const payload = 'x'.repeat(10_000)
    const second = await request(p.url, { method: 'POST', body: payload })
    expect(second.statusCode).toBe(200)
    expect(await second.body.text()).toBe('ok')
    expect(bodies).toEqual(['first body', payload])
  })

  it('reports connection reuse to connectedToUpstream', async () => {
    const o = await origin((_req, res) => res.end('x'))
    const reused: boolean[] = []
    const p = await startProxy({
      newCtx: () => undefined,
      upstreamPeer: () => peerFor(o.port),
      connectedToUpstream: (_s, r) => {
        reused.push(r)
      },
    })
    for (let i = 0; i < 3; i++) {
      const res = await request(p.url)
      await res.body.dump()
    }
    expect(reused).toEqual([false, true, true])
  })

  it('answers 504 when the upstream does not answer within the read timeout', async () => {
    const o = await raw(() => {
      // Accept and stay silent.
    })
    let logged: PingoraError | undefined
    const p = await startProxy({
      newCtx: () => undefined,
      upstreamPeer: () => peerFor(o.port, { readTimeoutMs: 100 }),
      logging: (_s, e) => {
        logged = e
      },
    })
    const res = await request(p.url)
    expect(res.statusCode).toBe(504)
    await res.body.dump()
    await expect.poll(() => logged?.type).toBe('ReadTimedout')
    expect(logged?.source).toBe('upstream')
  })

  it('answers 504 when connecting takes longer than the connect timeout', async () => {
    const hole = await startBlackHole()
    onTestFinished(hole.close)
    let logged: PingoraError | undefined
    const p = await startProxy({
      newCtx: () => undefined,
      upstreamPeer: () => peerFor(hole.port, { connectionTimeoutMs: 100 }),
      logging: (_s, e) => {
        logged = e
      },
    })
    const res = await request(p.url)
    expect(res.statusCode).toBe(504)
    await res.body.dump()
    await expect.poll(() => logged?.type).toBe('ConnectTimedout')
  })

  it("proxies through a peer whose options are frozen (defaults never written into the user's options)", async () => {
    const o = await origin((_req, res) => res.end('x'))
    const peer = peerFor(o.port)
    // One PeerOptions shared by every request, as apps keep them: the connector applies its
    // 60 s defaults per connection. A write into the frozen object throws (ES modules are
    // strict), which would fail the request.
    Object.freeze(peer.options)
    const p = await startProxy({ newCtx: () => undefined, upstreamPeer: () => peer })
    for (let i = 0; i < 2; i++) {
      const res = await request(p.url)
      expect(res.statusCode).toBe(200)
      expect(await res.body.text()).toBe('x')
    }
  })

  it('gives up connecting after 60 s when the peer sets no connect timeout', async () => {
    const hole = await startBlackHole()
    onTestFinished(hole.close)
    let logged: PingoraError | undefined
    const p = await startProxy({
      newCtx: () => undefined,
      upstreamPeer: () => peerFor(hole.port),
      logging: (_s, e) => {
        logged = e
      },
    })
    // The clock is simulated from here on (the connect itself is real and never completes).
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date', 'performance'] })
    onTestFinished(() => {
      vi.useRealTimers()
    })
    const client = await rawClient(p.port)
    client.socket.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
    await vi.advanceTimersByTimeAsync(59_000)
    expect(client.received()).toBe('')
    expect(logged).toBeUndefined()
    await vi.advanceTimersByTimeAsync(2_000)
    vi.useRealTimers()
    await client.closed
    expect(client.received()).toMatch(/^HTTP\/1\.1 504 /)
    expect(logged).toMatchObject({ type: 'ConnectTimedout', source: 'upstream' })
    expect(logged?.context).toContain('timeout 60000ms')
  })

  it('answers 502 when the upstream closes mid-response and does not retry after bytes were sent', async () => {
    let attempts = 0
    const o = await raw((socket) => {
      socket.once('data', () => {
        socket.end('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial')
      })
    })
    const p = await startProxy({
      newCtx: () => undefined,
      upstreamPeer: () => {
        attempts++
        return peerFor(o.port)
      },
    })
    // The header was already relayed: the client sees a truncated body, never a second attempt.
    const res = await request(p.url)
    expect(res.statusCode).toBe(200)
    await expect(res.body.text()).rejects.toThrow()
    expect(attempts).toBe(1)
  })

  it('answers 502 to a malformed upstream response', async () => {
    const o = await raw((socket) => {
      socket.once('data', () =>
        socket.end('HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx'),
      )
    })
    const p = await startProxy({ newCtx: () => undefined, upstreamPeer: () => peerFor(o.port) })
    const res = await request(p.url)
    expect(res.statusCode).toBe(502)
    await res.body.dump()
  })

  it('publishes failures on the error channel unless suppressErrorLog says so', async () => {
    const port = await closedPort()
    const events: { summary: string; error: PingoraError }[] = []
    const listener = (message: unknown) => {
      events.push(message as { summary: string; error: PingoraError })
    }
    proxyErrorChannel.subscribe(listener)
    onTestFinished(() => {
      proxyErrorChannel.unsubscribe(listener)
    })
    const app: ProxyHttp<undefined> = {
      newCtx: () => undefined,
      upstreamPeer: () => peerFor(port),
      suppressErrorLog: (session) => session.requestHeader.path === '/quiet',
    }
    const p = await startProxy(app)
    for (const path of ['/loud', '/quiet']) {
      const res = await request(`${p.url}${path}`)
      await res.body.dump()
    }
    expect(events.map((e) => e.summary)).toEqual([expect.stringContaining('GET /loud')])
    expect(events[0]?.error.type).toBe('ConnectRefused')
  })

  it('still calls logging when suppressErrorLog or requestSummary throw', async () => {
    const port = await closedPort()
    let logged = 0
    const p = await startProxy({
      newCtx: () => undefined,
      upstreamPeer: () => peerFor(port),
      suppressErrorLog: () => {
        throw new Error('boom')
      },
      logging: () => {
        logged++
      },
    })
    const res = await request(p.url)
    expect(res.statusCode).toBe(502)
    await res.body.dump()
    await expect.poll(() => logged).toBe(1)
  })

  it('answers 500 when newCtx throws', async () => {
    const p = await startProxy({
      newCtx: (): undefined => {
        throw new Error('no ctx')
      },
      upstreamPeer: () => peerFor(1),
    })
    const res = await request(p.url)
    expect(res.statusCode).toBe(500)
    await res.body.dump()
  })

  it('a custom failToProxy decides the status', async () => {
    const port = await closedPort()
    const p = await startProxy({
      newCtx: () => undefined,
      upstreamPeer: () => peerFor(port),
      async failToProxy(session: Session) {
        await session.respondErrorWithBody(503, Buffer.from('try later'))
        return { errorCode: 503, canReuseDownstream: true }
      },
    })
    const agent = new Agent({ connections: 1 })
    onTestFinished(() => agent.close())
    const res = await request(p.url, { dispatcher: agent })
    expect(res.statusCode).toBe(503)
    expect(await res.body.text()).toBe('try later')
    expect(res.headers.connection).toBe('keep-alive')
  })

  it('finishes an in-flight request during a graceful shutdown and closes its connection', async () => {
    let release: () => void = () => {}
    let arrived: () => void = () => {}
    const requestArrived = new Promise<void>((r) => {
      arrived = r
    })
    const o = await origin((_req, res) => {
      arrived()
      release = () => res.end('finished')
    })
    const p = await startProxy({ newCtx: () => undefined, upstreamPeer: () => peerFor(o.port) })
    const pending = request(p.url)
    await requestArrived
    const watch = p.server.shutdownWatch
    const stopped = p.server.shutdown({ graceful: true })
    if (!watch.aborted) await new Promise((r) => watch.addEventListener('abort', r, { once: true }))
    release()
    const res = await pending
    expect(res.statusCode).toBe(200)
    expect(res.headers.connection).toBe('close')
    expect(await res.body.text()).toBe('finished')
    await stopped
  })

  it('keeps serving after a client disconnects mid-response', async () => {
    const o = await origin((req, res) => {
      if (req.url === '/big') {
        res.setHeader('Content-Length', String(64 * 1024 * 1024))
        const chunk = Buffer.alloc(64 * 1024, 1)
        const write = () => {
          while (res.write(chunk)) {}
        }
        res.on('drain', write)
        write()
        req.socket.on('close', () => res.destroy())
        return
      }
      res.end('still alive')
    })
    const p = await startProxy({ newCtx: () => undefined, upstreamPeer: () => peerFor(o.port) })
    const big = await request(`${p.url}/big`)
    // Read a little, then go away.
    for await (const _chunk of big.body) break
    const res = await request(`${p.url}/small`)
    expect(await res.body.text()).toBe('still alive')
  })
})
