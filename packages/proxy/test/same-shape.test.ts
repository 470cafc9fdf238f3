import net from 'node:net'
import { setFlagsFromString } from 'node:v8'
import { MemoryStorage } from '@pingora-ts/cache'
import { Http1ServerSession, HttpModules, Stream } from '@pingora-ts/core'
import { describe, expect, it, onTestFinished } from 'vitest'
import { Session } from '../src/session.ts'

// V8's %HaveSameMap tells whether two objects share a hidden class (fastify's same-shape test).
setFlagsFromString('--allow-natives-syntax')
const haveSameMap = new Function('a', 'b', 'return %HaveSameMap(a, b)') as (
  a: object,
  b: object,
) => boolean

/** A real downstream session on a loopback connection. */
async function downstreamSession(): Promise<Http1ServerSession> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve))
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1')
  const socket = await accepted
  onTestFinished(() => {
    client.destroy()
    socket.destroy()
    server.close()
  })
  return new Http1ServerSession(new Stream(socket))
}

describe('Session shape', () => {
  it('keeps one hidden class from its constructor on, cache slot and timing included', async () => {
    const modules = new HttpModules()
    const fresh = new Session(await downstreamSession(), modules.buildCtx(), false, undefined)
    const used = new Session(await downstreamSession(), modules.buildCtx(), true, undefined)
    used.countAttempt()
    used.addUpstreamBodyBytes(10)
    used.markUpstreamHeaderSent()
    used.cache.enable({ storage: new MemoryStorage({ maxBytes: 1024 }) })
    used.cacheStatus = 'hit'
    used.timing.upstreamConnected = 1
    used.timing.upstreamHeaders = 2
    used.timing.end = 3
    expect(fresh.cacheIfUsed).toBeUndefined()
    expect(used.cacheIfUsed?.enabled).toBe(true)
    expect(fresh.timing.start).toBeGreaterThan(0)
    expect(fresh.timing.end).toBeUndefined()
    expect(haveSameMap(fresh, used)).toBe(true)
    expect(haveSameMap(fresh.timing, used.timing)).toBe(true)
  })
})
