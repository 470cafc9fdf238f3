/**
 * Test helpers for `ProxyHttp` phases: {@link createTestSession} builds a {@link Session} for
 * one request over an in-memory connection, so a phase (`requestFilter`,
 * `upstreamRequestFilter`, `responseFilter`...) can be called directly and what it wrote to
 * the client inspected, with no socket and no server (Pingora's `Session::new_h1` over a mock
 * stream, Hono's `app.request()`).
 *
 * Import it from `@pingora-ts/proxy/testing`; it is not part of the request path.
 *
 * @packageDocumentation
 */

import type net from 'node:net'
import { Duplex } from 'node:stream'
import { Http1ServerSession, HttpModules, Stream } from '@pingora-ts/core'
import type { RequestHeader } from '@pingora-ts/http'
import { Session } from './session.ts'

/** Options of {@link createTestSession}. */
export interface TestSessionOptions {
  /**
   * The request body. Give the request header a `Content-Length` (or `Transfer-Encoding`) that
   * matches, as a client would; with a `RequestHeader` and no framing header, `Content-Length`
   * is added. @defaultValue no body
   */
  body?: Uint8Array | string | undefined
  /** The downstream modules whose per-request instances the session gets. @defaultValue none */
  modules?: HttpModules | undefined
  /** Whether the session reports a reused client connection (`session.clientReused`). @defaultValue `false` */
  clientReused?: boolean | undefined
}

/** A {@link Session} over an in-memory connection, with what was written to the client. */
export interface TestSession {
  /** The session to pass to phases. */
  readonly session: Session
  /** Every byte written to the client so far, as text (latin1: one character per byte). */
  written(): string
  /** Every byte written to the client so far. */
  writtenBytes(): Buffer
  /** Closes the in-memory connection. */
  close(): void
}

/** One end of an in-memory connection: what is written to it arrives at its peer. */
class MemorySocket extends Duplex {
  peer: MemorySocket | undefined
  readonly remoteAddress = '127.0.0.1'
  readonly remotePort = 0
  readonly remoteFamily = 'IPv4'
  readonly localAddress = '127.0.0.1'
  readonly localPort = 0
  readonly localFamily = 'IPv4'
  constructor() {
    super({ allowHalfOpen: true })
  }
  override _read(): void {}
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.peer?.push(chunk)
    callback()
  }
  override _final(callback: () => void): void {
    this.peer?.push(null)
    callback()
  }
  setNoDelay(): this {
    return this
  }
  destroySoon(): void {
    this.destroy()
  }
}

/**
 * Builds a {@link Session} for one request over an in-memory connection and reads its request
 * header, so phases can be called without sockets. Responses the phases write
 * (`session.respondError`, `session.writeResponseHeader`...) can be read with
 * {@link TestSession.written}.
 *
 * @param request - the request: a `RequestHeader`, or the raw HTTP/1 text of the head
 *   (`'GET / HTTP/1.1\r\nHost: example.com\r\n\r\n'`)
 * @param options - body, downstream modules, reuse flag
 * @throws a `PingoraError` (`InvalidHTTPHeader`, status 400) when the head is malformed, as the
 *   server would reject it
 * @example
 * ```ts
 * import type { ProxyHttp, Session } from '@pingora-ts/proxy'
 * import { createTestSession } from '@pingora-ts/proxy/testing'
 *
 * const myProxy = {
 *   newCtx: () => undefined,
 *   upstreamPeer: () => {
 *     throw new Error('not called here')
 *   },
 *   async requestFilter(session: Session): Promise<boolean> {
 *     await session.respondError(403)
 *     return true
 *   },
 * } satisfies ProxyHttp<undefined>
 *
 * const { session, written } = await createTestSession('GET /admin HTTP/1.1\r\nHost: a\r\n\r\n')
 * const handled = await myProxy.requestFilter(session)
 * // handled === true, written() starts with 'HTTP/1.1 403'
 * ```
 */
export async function createTestSession(
  request: RequestHeader | string,
  options: TestSessionOptions = {},
): Promise<TestSession> {
  const body =
    options.body === undefined
      ? undefined
      : typeof options.body === 'string'
        ? Buffer.from(options.body, 'latin1')
        : Buffer.from(options.body.buffer, options.body.byteOffset, options.body.byteLength)
  let head: Buffer
  if (typeof request === 'string') {
    head = Buffer.from(request, 'latin1')
  } else {
    const header = request.clone()
    if (
      body !== undefined &&
      header.getHeader('Content-Length') === undefined &&
      header.getHeader('Transfer-Encoding') === undefined
    ) {
      header.insertHeader('Content-Length', String(body.length))
    }
    head = header.toH1Wire()
  }
  const server = new MemorySocket()
  const client = new MemorySocket()
  server.peer = client
  client.peer = server
  const received: Buffer[] = []
  client.on('data', (chunk: Buffer) => {
    received.push(chunk)
  })
  client.write(head)
  if (body !== undefined && body.length > 0) client.write(body)
  const downstream = new Http1ServerSession(new Stream(server as unknown as net.Socket))
  if (!(await downstream.readRequest())) {
    throw new TypeError('createTestSession: the request head could not be read')
  }
  const modules = options.modules ?? new HttpModules()
  const session = new Session(
    downstream,
    modules.buildCtx(),
    options.clientReused === true,
    undefined,
  )
  const writtenBytes = () => Buffer.concat(received)
  return {
    session,
    writtenBytes,
    written: () => writtenBytes().toString('latin1'),
    close: () => {
      server.destroy()
      client.destroy()
    },
  }
}
