import net from 'node:net'
import { onTestFinished } from 'vitest'
import type { ReusedHttpStream } from '../../src/protocols/http/reused-http-stream.ts'
import { type Http1ServerOptions, Http1ServerSession } from '../../src/protocols/http1/server.ts'
import { Stream } from '../../src/protocols/l4/stream.ts'

/** What a test server handler receives. */
export type Handler = (session: Http1ServerSession) => Promise<void>

/** Outcome of each connection's loop, for assertions. */
export interface ServerEvents {
  errors: unknown[]
  requests: number
  connections: number
  /** Resolves when a connection loop ends (after the n-th end). */
  loopEnded: () => Promise<void>
}

/**
 * Starts a minimal HTTP/1 server on 127.0.0.1:0 driven by Http1ServerSession: the keep-alive loop
 * the server framework will own, reduced to its essentials.
 */
export async function startServer(
  handler: Handler,
  options?: Http1ServerOptions | (() => Http1ServerOptions),
): Promise<{ port: number; events: ServerEvents; server: net.Server }> {
  const waiters: Array<() => void> = []
  let ended = 0
  let consumed = 0
  const events: ServerEvents = {
    errors: [],
    requests: 0,
    connections: 0,
    loopEnded: () =>
      new Promise<void>((resolve) => {
        if (consumed < ended) {
          consumed++
          resolve()
        } else waiters.push(resolve)
      }),
  }
  const sockets = new Set<net.Socket>()
  const server = net.createServer(async (socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    events.connections++
    const stream = new Stream(socket)
    let connection: Stream | ReusedHttpStream | undefined = stream
    try {
      while (connection !== undefined) {
        const session: Http1ServerSession = new Http1ServerSession(
          connection,
          typeof options === 'function' ? options() : options,
        )
        if (!(await session.readRequest())) break
        events.requests++
        await handler(session)
        connection = await session.finish()
      }
    } catch (error) {
      events.errors.push(error)
      stream.destroy()
    }
    const waiter = waiters.shift()
    ended++
    if (waiter !== undefined) {
      consumed++
      waiter()
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  onTestFinished(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      }),
  )
  return { port: (server.address() as net.AddressInfo).port, events, server }
}

/** A raw client connection that collects everything the server sends until it closes. */
export interface RawClient {
  socket: net.Socket
  /** Every byte received so far, latin1. */
  received: () => string
  /** Resolves with everything received once the server closes the connection (FIN or reset). */
  closed: Promise<string>
  /** Resolves once the received text contains `text` `count` times. */
  waitFor: (text: string, count?: number) => Promise<string>
  send: (data: string | Buffer) => void
}

/** Opens a raw TCP connection to the test server. */
export async function rawConnect(port: number): Promise<RawClient> {
  const socket = net.connect(port, '127.0.0.1')
  socket.on('error', () => {})
  await new Promise<void>((resolve) => socket.once('connect', resolve))
  let data = ''
  const watchers: Array<{ text: string; count: number; resolve: (s: string) => void }> = []
  const check = (): void => {
    for (let i = watchers.length - 1; i >= 0; i--) {
      const w = watchers[i]
      if (w !== undefined && countOf(data, w.text) >= w.count) {
        watchers.splice(i, 1)
        w.resolve(data)
      }
    }
  }
  socket.on('data', (chunk: Buffer) => {
    data += chunk.toString('latin1')
    check()
  })
  const closed = new Promise<string>((resolve) => {
    socket.on('end', () => resolve(data))
    socket.on('close', () => resolve(data))
  })
  onTestFinished(() => {
    socket.destroy()
  })
  return {
    socket,
    received: () => data,
    closed,
    waitFor: (text, count = 1) =>
      new Promise<string>((resolve) => {
        watchers.push({ text, count, resolve })
        check()
      }),
    send: (chunk) => {
      socket.write(typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk)
    },
  }
}

function countOf(haystack: string, needle: string): number {
  let n = 0
  let i = haystack.indexOf(needle)
  while (i !== -1) {
    n++
    i = haystack.indexOf(needle, i + needle.length)
  }
  return n
}

/** Sends raw bytes on a fresh connection and resolves with everything received until close. */
export async function exchange(port: number, request: string | Buffer): Promise<string> {
  const client = await rawConnect(port)
  client.send(request)
  return client.closed
}

/** Replaces the Date header value so responses compare byte for byte. */
export function normalizeDate(text: string): string {
  return text.replace(/\r\nDate: [^\r]+\r\n/g, '\r\nDate: <date>\r\n')
}

/** The exact bytes of an error answer from a session (after normalizeDate). */
export function errorAnswer(status: number, reason: string): string {
  return `HTTP/1.1 ${status} ${reason}\r\nServer: pingora-ts\r\nDate: <date>\r\nContent-Length: 0\r\nCache-Control: private, no-store\r\nConnection: close\r\n\r\n`
}

/** A handler that answers 200 with a fixed body after reading the request body. */
export const okHandler: Handler = async (session) => {
  let body = ''
  for (
    let chunk = await session.readRequestBody();
    chunk !== undefined;
    chunk = await session.readRequestBody()
  ) {
    body += chunk.toString('latin1')
  }
  const { ResponseHeader } = await import('@pingora-ts/http')
  const response = ResponseHeader.build(200)
  const payload = Buffer.from(
    `${session.requestHeader.method} ${session.requestHeader.uri} body=${body}`,
  )
  response.insertHeader('Content-Length', payload.length)
  await session.writeResponseHeader(response)
  await session.writeResponseBody(payload, true)
}

/** What the echo handler reports about a request. */
export interface Echo {
  method: string
  uri: string
  version: string
  headers: Array<[string, string]>
  body: string
  bodyEmpty: boolean
  upgrade: boolean
}

/** A handler that answers 200 with a JSON description of the request (body read first). */
export const echoHandler: Handler = async (session) => {
  let body = ''
  for (
    let chunk = await session.readRequestBody();
    chunk !== undefined;
    chunk = await session.readRequestBody()
  ) {
    body += chunk.toString('latin1')
  }
  const request = session.requestHeader
  const echo: Echo = {
    method: request.method,
    uri: request.rawPath.toString('latin1'),
    version: request.version,
    headers: [...request.headers],
    body,
    bodyEmpty: session.isBodyEmpty(),
    upgrade: session.isUpgradeRequest(),
  }
  const { ResponseHeader } = await import('@pingora-ts/http')
  const response = ResponseHeader.build(200)
  const payload = Buffer.from(JSON.stringify(echo), 'latin1')
  response.insertHeader('Content-Length', payload.length)
  await session.writeResponseHeader(response)
  await session.writeResponseBody(payload, true)
}

/** Splits a raw response stream into [head, body] pairs for Content-Length framed responses. */
export function splitResponses(text: string): Array<{ head: string; body: string }> {
  const out: Array<{ head: string; body: string }> = []
  let rest = text
  while (rest.length > 0) {
    const end = rest.indexOf('\r\n\r\n')
    if (end === -1) break
    const head = rest.slice(0, end + 4)
    const match = /\r\ncontent-length: (\d+)\r\n/i.exec(head)
    const length = match === null ? 0 : Number(match[1])
    out.push({ head, body: rest.slice(end + 4, end + 4 + length) })
    rest = rest.slice(end + 4 + length)
  }
  return out
}

/** Parses the echo JSON from a single raw response. */
export function echoOf(text: string): Echo {
  const parts = splitResponses(text)
  const first = parts[0]
  if (first === undefined) throw new Error(`no response in ${JSON.stringify(text)}`)
  return JSON.parse(first.body) as Echo
}

/** Connects to an origin on 127.0.0.1 and wraps the socket as an upstream Stream (destroyed when the test ends). */
export async function connectUpstream(port: number): Promise<Stream> {
  const socket = net.connect(port, '127.0.0.1')
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve)
    socket.once('error', reject)
  })
  const stream = new Stream(socket, 'upstream')
  onTestFinished(() => stream.destroy())
  return stream
}
