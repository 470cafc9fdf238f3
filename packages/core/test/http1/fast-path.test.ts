// The promise-free keep-alive path: Stream.waitIdle, readRequestNow, writeResponse, finishNow
// and the callback-driven HttpServerAppDriver.
import net from 'node:net'
import { PingoraError } from '@pingora-ts/error'
import { ResponseHeader } from '@pingora-ts/http'
import { describe, expect, it, onTestFinished } from 'vitest'
import type { HttpServerApp } from '../../src/apps/http-app.ts'
import { HttpServer, type ServeHttp } from '../../src/apps/http-server.ts'
import { Http1ServerSession } from '../../src/protocols/http1/server.ts'
import { Stream } from '../../src/protocols/l4/stream.ts'
import { ListeningService } from '../../src/services/listening.ts'
import { connect, deferred, portOf, readAll, readUntil, startServer } from '../server/helpers.ts'
import { normalizeDate } from './helpers.ts'

/** A connected pair: our Stream on the server side, a raw client socket. */
async function pair(): Promise<{ stream: Stream; client: net.Socket }> {
  const accepted = deferred<net.Socket>()
  const server = net.createServer((socket) => accepted.resolve(socket))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as net.AddressInfo).port
  const client = net.connect(port, '127.0.0.1')
  const socket = await accepted.promise
  server.close()
  const stream = new Stream(socket)
  onTestFinished(() => {
    client.destroy()
    stream.destroy()
  })
  return { stream, client }
}

/** Resolves with the value `waitIdle`'s callback receives. */
function waitIdle(
  stream: Stream,
  timeoutMs?: number,
  signal?: AbortSignal,
): { state: string; ready: Promise<boolean> } {
  const done = deferred<boolean>()
  const state = stream.waitIdle(timeoutMs, signal, done.resolve)
  return { state, ready: done.promise }
}

describe('Stream.waitIdle', () => {
  it('calls back with true once bytes arrive, and leaves them queued', async () => {
    const { stream, client } = await pair()
    const wait = waitIdle(stream, 60_000)
    expect(wait.state).toBe('waiting')
    client.write('hello')
    expect(await wait.ready).toBe(true)
    expect(stream.tryRead()?.toString()).toBe('hello')
  })

  it("returns 'ready' without calling back when bytes are already queued", async () => {
    const { stream, client } = await pair()
    client.write('x')
    expect(await stream.read()).toBeDefined()
    stream.unread(Buffer.from('queued'))
    let called = false
    expect(stream.waitIdle(1000, undefined, () => (called = true))).toBe('ready')
    expect(called).toBe(false)
  })

  it('calls back with false when the peer ends, and reports ended afterwards', async () => {
    const { stream, client } = await pair()
    const wait = waitIdle(stream)
    client.end()
    expect(await wait.ready).toBe(false)
    expect(stream.waitIdle(undefined, undefined, () => {})).toBe('ended')
  })

  it('calls back with false when the timeout elapses', async () => {
    const { stream } = await pair()
    const wait = waitIdle(stream, 20)
    expect(await wait.ready).toBe(false)
    expect(stream.peerEnded).toBe(false)
  })

  it('calls back with false when the signal aborts, and ends at once on an aborted one', async () => {
    const { stream } = await pair()
    const controller = new AbortController()
    const wait = waitIdle(stream, 60_000, controller.signal)
    controller.abort()
    expect(await wait.ready).toBe(false)
    expect(stream.waitIdle(60_000, controller.signal, () => {})).toBe('ended')
  })

  it('refuses a second wait while one is pending', async () => {
    const { stream } = await pair()
    stream.waitIdle(60_000, undefined, () => {})
    expect(() => stream.waitIdle(60_000, undefined, () => {})).toThrow(PingoraError)
    const read = stream.read()
    await expect(read).rejects.toMatchObject({ type: 'InternalError' })
  })
})

describe('Http1ServerSession without promises', () => {
  async function bufferedSession(bytes: string): Promise<{
    session: Http1ServerSession
    client: net.Socket
    stream: Stream
  }> {
    const { stream, client } = await pair()
    const wait = waitIdle(stream, 60_000)
    client.write(bytes)
    expect(await wait.ready).toBe(true)
    return { session: new Http1ServerSession(stream), client, stream }
  }

  it('reads a buffered request head synchronously', async () => {
    const { session } = await bufferedSession('GET /now HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n\r\n')
    const read = session.readRequestNow()
    expect(read).toBe(true)
    expect(session.requestHeader.uri).toBe('/now')
    expect(session.requestHeader.headers.get('x-a')).toBe('1')
  })

  it('falls back to a promise for a head split over reads', async () => {
    const { session, client } = await bufferedSession('GET /split HTTP/1.1\r\nHo')
    const read = session.readRequestNow()
    expect(read).toBeInstanceOf(Promise)
    client.write('st: a\r\n\r\n')
    expect(await read).toBe(true)
    expect(session.requestHeader.uri).toBe('/split')
  })

  it('rejects a malformed buffered head through a promise, with the 400 sent', async () => {
    const { session, client } = await bufferedSession('GET / HTTP/1.1\r\nHost : a\r\n\r\n')
    const answer = readAll(client)
    const read = session.readRequestNow()
    await expect(read).rejects.toMatchObject({ type: 'InvalidHTTPHeader', status: 400 })
    expect(await answer).toMatch(/^HTTP\/1\.1 400 /)
  })

  it('writes a response in one piece and hands the stream over synchronously', async () => {
    const { session, client, stream } = await bufferedSession('GET / HTTP/1.1\r\nHost: a\r\n\r\n')
    expect(session.readRequestNow()).toBe(true)
    session.setKeepalive(60)
    const response = ResponseHeader.build(200)
    response.insertHeader('X-Test', 'yes')
    response.setContentLength(5)
    const got = readUntil(client, 'hello')
    await session.writeResponse(response, Buffer.from('hello'))
    expect(session.finishNow()).toBe(session.connection)
    expect(session.connection.stream).toBe(stream)
    expect(normalizeDate(await got)).toBe(
      'HTTP/1.1 200 OK\r\nX-Test: yes\r\nContent-Length: 5\r\nDate: <date>\r\nConnection: keep-alive\r\n\r\nhello',
    )
  })

  it('chunks a writeResponse body without Content-Length, terminator included', async () => {
    const { session, client } = await bufferedSession('GET / HTTP/1.1\r\nHost: a\r\n\r\n')
    expect(session.readRequestNow()).toBe(true)
    session.setKeepalive(60)
    const got = readUntil(client, '0\r\n\r\n')
    await session.writeResponse(ResponseHeader.build(200), Buffer.from('abc'))
    expect(normalizeDate(await got)).toBe(
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nDate: <date>\r\nConnection: keep-alive\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
    )
  })

  it('refuses a 1xx in writeResponse', async () => {
    const { session } = await bufferedSession('GET / HTTP/1.1\r\nHost: a\r\n\r\n')
    expect(session.readRequestNow()).toBe(true)
    await expect(
      session.writeResponse(ResponseHeader.build(103), Buffer.from('x')),
    ).rejects.toMatchObject({ type: 'H1Error' })
  })

  it('returns a promise from finishNow while an unread request body must be drained', async () => {
    const { session, client, stream } = await bufferedSession(
      'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nab',
    )
    expect(session.readRequestNow()).toBe(true)
    session.setKeepalive(60)
    session.setCloseOnResponseBeforeDownstreamFinish(false)
    const response = ResponseHeader.build(204)
    await session.writeResponseHeader(response, true)
    const finished = session.finishNow()
    expect(finished).toBeInstanceOf(Promise)
    client.write('cd')
    expect((await finished)?.stream).toBe(stream)
  })
})

describe('HttpServerAppDriver keep-alive loop', () => {
  const hello: ServeHttp = {
    response: (session) => ({ status: 200, body: `hi ${session.requestHeader.uri}` }),
  }

  it('answers pipelined requests in order, synchronously and asynchronously mixed', async () => {
    let n = 0
    const mixed: ServeHttp = {
      response: (session) => {
        const body = `#${++n} ${session.requestHeader.uri}`
        // Every other answer is produced asynchronously.
        return n % 2 === 0 ? Promise.resolve({ status: 200, body }) : { status: 200, body }
      },
    }
    const service = new ListeningService('mixed', new HttpServer(mixed))
    service.addTcp('127.0.0.1:0')
    await startServer([service])
    const socket = await connect(portOf(service))
    const all = readAll(socket)
    let requests = ''
    for (let i = 1; i <= 5; i++) requests += `GET /${i} HTTP/1.1\r\nHost: a\r\n\r\n`
    requests += 'GET /last HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n'
    socket.write(requests)
    const text = await all
    const bodies = text.split(/\r\n\r\n/).filter((part, i) => i > 0 && part !== '')
    expect(bodies.map((b) => b.replace(/HTTP\/1\.1[\s\S]*$/, ''))).toEqual([
      '#1 /1',
      '#2 /2',
      '#3 /3',
      '#4 /4',
      '#5 /5',
      '#6 /last',
    ])
  })

  it('lets an app return the next stream without a promise', async () => {
    let served = 0
    const sync: HttpServerApp = {
      processNewHttp(session) {
        // An HTTP/1 session: its fast paths are there (ServerSession.fastPaths).
        const fast = session.fastPaths
        if (fast === undefined) throw new Error('HTTP/1 sessions have fast paths')
        const read = fast.readRequestNow()
        if (read !== true) {
          return (async () => ((await read) ? answer() : undefined))()
        }
        return answer()
        function answer() {
          served++
          const response = ResponseHeader.build(200)
          response.setContentLength(2)
          void session.writeResponse(response, Buffer.from('ok'))
          return fast?.finishNow()
        }
      },
    }
    const service = new ListeningService('sync', sync)
    service.addTcp('127.0.0.1:0')
    await startServer([service])
    const socket = await connect(portOf(service))
    const first = readUntil(socket, 'ok')
    socket.write('GET /a HTTP/1.1\r\nHost: a\r\n\r\n')
    await first
    const rest = readAll(socket)
    socket.write(
      'GET /b HTTP/1.1\r\nHost: a\r\n\r\nGET /c HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n',
    )
    const text = await rest
    expect(text.match(/HTTP\/1\.1 200 OK/g)).toHaveLength(2)
    expect(served).toBe(3)
  })

  it('closes an idle connection at the keep-alive timeout without calling the app', async () => {
    let calls = 0
    const counting: ServeHttp = {
      response: (session) => {
        calls++
        return hello.response(session)
      },
    }
    const service = new ListeningService(
      'idle',
      new HttpServer(counting, { keepaliveTimeoutMs: 50 }),
    )
    service.addTcp('127.0.0.1:0')
    await startServer([service])
    const socket = await connect(portOf(service))
    const all = readAll(socket)
    socket.write('GET /once HTTP/1.1\r\nHost: a\r\n\r\n')
    const text = await all
    expect(text).toContain('hi /once')
    expect(calls).toBe(1)
  })

  it('ends a connection whose app throws synchronously, and keeps serving others', async () => {
    let fail = true
    const app: HttpServerApp = {
      processNewHttp(session) {
        if (fail) {
          fail = false
          throw new Error('boom')
        }
        return new HttpServer(hello).processNewHttp(session, new AbortController().signal)
      },
    }
    const service = new ListeningService('throws', app)
    service.addTcp('127.0.0.1:0')
    await startServer([service])
    const first = await connect(portOf(service))
    const firstText = readAll(first)
    first.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n')
    expect(await firstText).toBe('')
    const second = await connect(portOf(service))
    const secondText = readAll(second)
    second.write('GET /ok HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n')
    expect(await secondText).toContain('hi /ok')
  })
})
