import type net from 'node:net'
import type { PingoraError } from '@pingora-ts/error'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { okHandler, rawConnect, splitResponses, startServer } from '../http1/helpers.ts'

/**
 * The default timeouts of Http1ServerSession (issue 3: read timeout 60 s, idle keep-alive
 * timeout 60 s), checked on real sockets with a fake clock: nothing happens just before 60 s,
 * the connection is cut just after.
 */

const GET = (path: string) => `GET ${path} HTTP/1.1\r\nHost: a\r\n\r\n`

/** Lets pending I/O callbacks and the microtasks they queue run (real setImmediate). */
function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}

/** Resolves once the server side of the next accepted connection received bytes. */
function serverReceived(server: net.Server): Promise<void> {
  return new Promise((resolve) => {
    server.once('connection', (socket: net.Socket) => {
      socket.once('data', () => resolve())
    })
  })
}

beforeEach(() => {
  vi.useFakeTimers({
    toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date', 'performance'],
  })
})

afterEach(() => {
  vi.useRealTimers()
})

describe('Http1ServerSession default timeouts', () => {
  it('cuts off a stalled request body after the default 60 s read timeout, not before', async () => {
    const seen: unknown[] = []
    const { port, server, events } = await startServer(async (session) => {
      try {
        await session.drainRequestBody()
      } catch (error) {
        seen.push(error)
        throw error
      }
    })
    const received = serverReceived(server)
    const client = await rawConnect(port)
    client.send('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc')
    await received
    await turn()
    await vi.advanceTimersByTimeAsync(59_000)
    expect(seen).toEqual([])
    await vi.advanceTimersByTimeAsync(2_000)
    await client.closed
    await events.loopEnded()
    expect(seen).toHaveLength(1)
    const error = seen[0] as PingoraError
    expect(error.type).toBe('ReadTimedout')
    expect(error.source).toBe('downstream')
  })

  it('cuts off a stalled request header after the default 60 s, not before', async () => {
    const { port, server, events } = await startServer(okHandler)
    const received = serverReceived(server)
    const client = await rawConnect(port)
    client.send('GET / HTTP/1.1\r\nHost: a\r\n')
    await received
    await turn()
    await vi.advanceTimersByTimeAsync(59_000)
    expect(events.errors).toEqual([])
    await vi.advanceTimersByTimeAsync(2_000)
    expect(await client.closed).toBe('')
    await events.loopEnded()
    const error = events.errors[0] as PingoraError
    expect(error.type).toBe('ReadTimedout')
    expect(error.source).toBe('downstream')
  })

  it('keeps an idle keep-alive connection for the default 60 s, then closes it quietly', async () => {
    const { port, events } = await startServer(okHandler)
    const client = await rawConnect(port)
    client.send(GET('/1'))
    await client.waitFor('GET /1 body=')
    await turn()
    // Just inside the idle timeout, the connection still serves a request.
    await vi.advanceTimersByTimeAsync(59_000)
    client.send(GET('/2'))
    await client.waitFor('GET /2 body=')
    await turn()
    await vi.advanceTimersByTimeAsync(61_000)
    const out = await client.closed
    expect(splitResponses(out).map((r) => r.body)).toEqual(['GET /1 body=', 'GET /2 body='])
    expect(splitResponses(out)[1]?.head).toContain('Connection: keep-alive')
    await events.loopEnded()
    expect(events.errors).toEqual([])
    expect(events.requests).toBe(2)
    expect(events.connections).toBe(1)
  })
})
