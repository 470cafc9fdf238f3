// Regressions found by the second review of the native HTTP/2 engine (ADR 0026, "Second
// review"): a raw frame client drives the states and the accounting a real client rarely reaches.
import type net from 'node:net'
import { ResponseHeader } from '@pingora-ts/http'
import {
  H2_ERROR,
  H2_FLAG,
  H2_FRAME,
  h2Frame,
  h2GetFields,
  h2PostFields,
  hpackLiteral,
  RawH2Client,
} from '@pingora-ts/test-utils'
import { describe, expect, it, onTestFinished } from 'vitest'
import type { HttpServerApp } from '../../src/apps/http-app.ts'
import type { ServerSession } from '../../src/protocols/http/server-session.ts'
import type { H2Options } from '../../src/protocols/http2/connection.ts'
import { ListeningService } from '../../src/services/listening.ts'
import { portOf, startServer } from '../server/helpers.ts'

/** What the app saw of its streams. */
interface Seen {
  /** Each stream's body read outcome: its length, or the error type. */
  readonly reads: Map<string, Promise<string>>
  /** Resolves with the connection's socket once a stream arrived. */
  readonly socket: Promise<net.Socket>
}

/** Reads each request body to its end and answers 200 with its length. */
async function server(h2: Omit<H2Options, 'engine'> = {}): Promise<{ port: number; seen: Seen }> {
  const reads = new Map<string, Promise<string>>()
  let gotSocket: (socket: net.Socket) => void = () => {}
  const socket = new Promise<net.Socket>((resolve) => {
    gotSocket = resolve
  })
  const readAll = async (session: ServerSession): Promise<number> => {
    let length = 0
    for (;;) {
      const chunk = await session.readRequestBody()
      if (chunk === undefined) return length
      length += chunk.length
    }
  }
  const app: HttpServerApp = {
    async processNewHttp(session) {
      if (!(await session.readRequest())) return undefined
      gotSocket(session.connection.stream.socket as net.Socket)
      const read = readAll(session)
      reads.set(
        session.requestHeader.uri,
        read.then(String, (error: { type?: unknown }) => String(error.type)),
      )
      const length = await read
      await session.writeResponse(ResponseHeader.build(200), Buffer.from(String(length)))
      return session.finish()
    },
    serverOptions: () => ({ h2c: true, h2: { ...h2, engine: 'native' } }),
  }
  const service = new ListeningService('h2-review2', app)
  service.addTcp('127.0.0.1:0')
  await startServer([service])
  return { port: portOf(service), seen: { reads, socket } }
}

/** Connects; resolves once the server's SETTINGS are acknowledged (no ACK comes mid-frame). */
async function client(port: number): Promise<RawH2Client> {
  const c = await RawH2Client.connect(port)
  onTestFinished(() => c.close())
  await c.waitFor((f) => f.type === H2_FRAME.SETTINGS && (f.flags & H2_FLAG.ACK) === 0)
  return c
}

/** Waits until the app has seen `path` (its read is registered). */
async function readOf(seen: Seen, path: string): Promise<string> {
  for (;;) {
    const read = seen.reads.get(path)
    if (read !== undefined) return read
    await new Promise((resolve) => setImmediate(resolve))
  }
}

describe('native HTTP/2 engine: a client that stops in the middle of a frame', () => {
  it('closes with GOAWAY after the idle timeout though a stream waits for its body', async () => {
    const { port, seen } = await server({ idleTimeoutMs: 200 })
    const c = await client(port)
    c.headers(1, h2PostFields('/upload'), false)
    const read = readOf(seen, '/upload')
    // A DATA frame that announces 10 bytes and stops after 3.
    c.send(h2Frame(H2_FRAME.DATA, 0, 1, Buffer.from('0123456789')).subarray(0, 12))
    expect(await c.goawayCode()).toBe(H2_ERROR.NO_ERROR)
    await c.closed
    expect(await read).toBe('ConnectionClosed')
  })

  it('closes with GOAWAY after the idle timeout in the middle of a header block', async () => {
    const { port, seen } = await server({ idleTimeoutMs: 200 })
    const c = await client(port)
    c.headers(1, h2PostFields('/upload'), false)
    const read = readOf(seen, '/upload')
    // HEADERS without END_HEADERS: nothing else may come before its CONTINUATION.
    c.send(h2Frame(H2_FRAME.HEADERS, 0, 3, hpackLiteral(h2GetFields('/next'))))
    expect(await c.goawayCode()).toBe(H2_ERROR.NO_ERROR)
    await c.closed
    expect(await read).toBe('ConnectionClosed')
  })

  it('keeps a connection idle between whole frames while a stream waits for its body', async () => {
    // The app's read timeout governs a body that pauses between frames, as on the node engine.
    const { port, seen } = await server({ idleTimeoutMs: 200 })
    const c = await client(port)
    c.headers(1, h2PostFields('/paused'), false)
    c.send(h2Frame(H2_FRAME.DATA, 0, 1, Buffer.from('first')))
    const read = readOf(seen, '/paused')
    const socket = await seen.socket
    // Registered after the server's own listener: runs once the server has handled the timeout.
    const timedOut = new Promise<void>((resolve) =>
      socket.once('timeout', () => setImmediate(resolve)),
    )
    // A PING (and its answer) re-arms the idle timer in case it fired before the listener.
    c.send(h2Frame(H2_FRAME.PING, 0, 0, Buffer.alloc(8)))
    await timedOut
    c.send(h2Frame(H2_FRAME.DATA, H2_FLAG.END_STREAM, 1, Buffer.from('second')))
    expect(await read).toBe('11')
    expect(await c.status(1)).toBe(200)
    expect(c.frames.some((f) => f.type === H2_FRAME.GOAWAY)).toBe(false)
  })
})
