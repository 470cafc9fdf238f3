import { ErrorType, PingoraError } from '@pingora-ts/error'
import { ResponseHeader } from '@pingora-ts/http'
import { channels } from '../diagnostics.ts'
import { formatHostPort } from '../listeners/server-address.ts'
import { WRITE_SETTLED } from '../protocols/http/common.ts'
import type { ReusedHttpStream } from '../protocols/http/reused-http-stream.ts'
import type { ServerSession } from '../protocols/http/server-session.ts'
import type { ShutdownWatch } from '../server/shutdown-watch.ts'
import type { HttpServerApp, HttpServerOptions } from './http-app.ts'

/** A complete response produced by {@link ServeHttp.response}. */
export interface ServeHttpResponse {
  /** The status code. */
  readonly status: number
  /**
   * Response headers; an array value becomes one field per element. `Content-Length` is
   * always set by the server from the body.
   */
  readonly headers?: Readonly<Record<string, string | number | readonly string[]>> | undefined
  /** The body; a string is sent as UTF-8. @defaultValue empty */
  readonly body?: string | Uint8Array | undefined
}

/**
 * A simple, non-streaming HTTP application (Pingora's `ServeHttp`): map a request to a complete
 * response. Run it with {@link HttpServer}. For streaming or interactive responses implement
 * {@link HttpServerApp} instead.
 *
 * @example
 * ```ts
 * const hello: ServeHttp = { response: () => ({ status: 200, body: 'Hello, world!' }) }
 * const service = new ListeningService('hello', new HttpServer(hello))
 * service.addTcp('127.0.0.1:6188')
 * ```
 */
export interface ServeHttp {
  /**
   * Produces the response to one request. Runs after the request header was read; read the
   * body yourself if you need it (an unread body is drained afterwards). A throw or rejection
   * is answered with a 500 (a 400 when it came from reading a malformed request body) and
   * published on `pingora:connection:error`.
   * @param session - the session, with its request header read
   */
  response(session: ServerSession): ServeHttpResponse | Promise<ServeHttpResponse>
}

const EMPTY_BODY = new Uint8Array(0)

/**
 * Runs a {@link ServeHttp} as an {@link HttpServerApp} (Pingora's `HttpServer`): reads the
 * request, calls the app, writes the response with `Content-Length`, and returns the
 * connection for keep-alive. Port of `pingora-core/src/apps/http_app.rs`.
 */
export class HttpServer<SV extends ServeHttp = ServeHttp> implements HttpServerApp {
  /** The wrapped app. */
  readonly app: SV
  readonly #options: HttpServerOptions | undefined

  /**
   * Wraps a {@link ServeHttp} app.
   * @param app - the app
   * @param options - HTTP server options for its connections
   */
  constructor(app: SV, options?: HttpServerOptions) {
    this.app = app
    this.#options = options
  }

  /** The HTTP server options given to the constructor. */
  serverOptions(): HttpServerOptions | undefined {
    return this.#options
  }

  /**
   * Serves one request. When the request head is already buffered, the app answers
   * synchronously and the socket takes the whole response at once, the result is returned
   * directly (no promise); otherwise a promise.
   * @param session - the session
   * @param shutdown - aborted when the server starts to shut down
   */
  processNewHttp(
    session: ServerSession,
    shutdown: ShutdownWatch,
  ): Promise<ReusedHttpStream | undefined> | ReusedHttpStream | undefined {
    // Fast paths (HTTP/1): a buffered head is read without a promise.
    const fast = session.fastPaths
    const read = fast !== undefined ? fast.readRequestNow() : session.readRequest()
    if (read !== true) return this.#readThenServe(session, shutdown, read)
    let produced: ServeHttpResponse | Promise<ServeHttpResponse>
    try {
      produced = this.app.response(session)
    } catch (error) {
      return this.#fail(session, error)
    }
    // Await only real promises: a synchronous app costs no extra microtask (fastify's rule).
    if (produced instanceof Promise) return this.#respondLater(session, shutdown, produced)
    let header: ResponseHeader
    let body: Uint8Array
    try {
      body = encodeBody(produced.body)
      header = buildHeader(produced, body.length)
    } catch (error) {
      return this.#fail(session, error)
    }
    return this.#write(session, shutdown, header, body)
  }

  async #readThenServe(
    session: ServerSession,
    shutdown: ShutdownWatch,
    read: false | Promise<boolean>,
  ): Promise<ReusedHttpStream | undefined> {
    try {
      if (!(await read)) return undefined
    } catch (error) {
      // The session already answered a malformed request and closed the connection.
      publishError(session, error, 'reading the request', 'downstream')
      return undefined
    }
    let produced: ServeHttpResponse | Promise<ServeHttpResponse>
    try {
      produced = this.app.response(session)
    } catch (error) {
      return await this.#fail(session, error)
    }
    return await this.#respondLater(session, shutdown, produced)
  }

  async #respondLater(
    session: ServerSession,
    shutdown: ShutdownWatch,
    produced: ServeHttpResponse | Promise<ServeHttpResponse>,
  ): Promise<ReusedHttpStream | undefined> {
    let header: ResponseHeader
    let body: Uint8Array
    try {
      const response = await produced
      body = encodeBody(response.body)
      header = buildHeader(response, body.length)
    } catch (error) {
      return await this.#fail(session, error)
    }
    const next = this.#write(session, shutdown, header, body)
    return next instanceof Promise ? await next : next
  }

  /**
   * Answers after the app failed, and closes: 500, or the client error the failure comes from
   * (a malformed request body read by the app is the client's fault, not the server's).
   */
  async #fail(session: ServerSession, error: unknown): Promise<ReusedHttpStream | undefined> {
    publishError(
      session,
      error,
      `ServeHttp.response failed, ${session.requestSummary()}`,
      'internal',
    )
    session.setKeepalive(undefined)
    try {
      await session.respondError(failureStatus(error))
    } catch {
      // The client is gone.
    }
    return await session.finish()
  }

  /** Writes the response; returns directly unless a write or the finish has to wait. */
  #write(
    session: ServerSession,
    shutdown: ShutdownWatch,
    header: ResponseHeader,
    body: Uint8Array,
  ): Promise<ReusedHttpStream | undefined> | ReusedHttpStream | undefined {
    // Shutdown may have started while the app worked: tell the client not to reuse.
    if (shutdown.aborted) session.setKeepalive(undefined)
    // Await a write only when it has to wait (drain or failure): an await on the settled
    // promise still costs a microtask hop per write.
    const written = session.writeResponse(header, body)
    if (written !== WRITE_SETTLED) return this.#writeSlow(session, written)
    const fast = session.fastPaths
    return fast !== undefined ? fast.finishNow() : session.finish()
  }

  /** The rest of {@link HttpServer.#write} once the write has to wait. */
  async #writeSlow(
    session: ServerSession,
    pending: Promise<void>,
  ): Promise<ReusedHttpStream | undefined> {
    await pending
    return await session.finish()
  }
}

function encodeBody(body: string | Uint8Array | undefined): Uint8Array {
  if (body === undefined) return EMPTY_BODY
  return typeof body === 'string' ? Buffer.from(body, 'utf8') : body
}

function buildHeader(response: ServeHttpResponse, bodyLength: number): ResponseHeader {
  const status = response.status
  const header = ResponseHeader.build(status)
  const headers = response.headers
  if (headers !== undefined) {
    for (const name in headers) {
      // The framing is ours: Content-Length below, never Transfer-Encoding.
      if (isFramingHeader(name)) continue
      const value = headers[name] as string | number | readonly string[]
      if (typeof value === 'object') {
        for (let i = 0; i < value.length; i++) header.appendHeader(name, value[i] as string)
      } else {
        header.insertHeader(name, value)
      }
    }
  }
  // RFC 9110 §8.6: no Content-Length on 1xx and 204; on 304 it would describe another response.
  if (status >= 200 && status !== 204 && status !== 304) header.setContentLength(bodyLength)
  return header
}

function isFramingHeader(name: string): boolean {
  const length = name.length
  if (length !== 14 && length !== 17) return false
  const lower = name.toLowerCase()
  return lower === 'content-length' || lower === 'transfer-encoding'
}

function publishError(
  session: ServerSession,
  error: unknown,
  context: string,
  source: 'downstream' | 'internal',
): void {
  if (!channels.connectionError.hasSubscribers) return
  const peer = session.clientAddr
  channels.connectionError.publish({
    error: PingoraError.from(error, 'InternalError', context, source),
    service: undefined,
    peer: peer === undefined ? undefined : formatHostPort(peer.address, peer.port),
  })
}

/**
 * The status answering a failed {@link ServeHttp.response}: 400 for a malformed request body
 * (an `H1Error` or `InvalidHTTPHeader` from the client), 408 when the client was too slow,
 * else 500.
 */
function failureStatus(error: unknown): number {
  if (!PingoraError.is(error) || error.source !== 'downstream') return 500
  if (error.type === ErrorType.ReadTimedout) return 408
  if (error.type === ErrorType.H1Error || error.type === ErrorType.InvalidHTTPHeader) return 400
  return 500
}
