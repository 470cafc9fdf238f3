import type { HttpProtocol } from '../protocols/http/common.ts'
import { ReusedHttpStream } from '../protocols/http/reused-http-stream.ts'
import type { ServerSession } from '../protocols/http/server-session.ts'
import { type Http1ServerOptions, Http1ServerSession } from '../protocols/http1/server.ts'
import { type H2Options, matchH2Preface, serveH2Connection } from '../protocols/http2/connection.ts'
import type { Stream } from '../protocols/l4/stream.ts'
import type { ShutdownWatch } from '../server/shutdown-watch.ts'
import type { ServerApp } from './server-app.ts'

/** How long an h2c-enabled listener waits for the first bytes that tell the protocol. */
const PREFACE_TIMEOUT_MS = 60_000

/**
 * Options an {@link HttpServerApp} gives the HTTP server (Pingora's `HttpServerOptions`). Read
 * once per connection. Besides Pingora's fields it carries the HTTP/1 session's limits and
 * timeouts ({@link Http1ServerOptions}: `maxRequestLineBytes`, `maxHeaderBytes`, `maxHeaders`,
 * `readTimeoutMs`, `headerTimeoutMs`, `writeTimeoutMs`, `keepaliveTimeoutMs`,
 * `totalDrainTimeoutMs`, `maxDrainBytes`, ...), so that a server built from apps and services can
 * set them; a value out of range makes every connection fail with that session's `RangeError`.
 */
export interface HttpServerOptions
  extends Omit<Http1ServerOptions, 'shutdownSignal' | 'keepaliveRequestLimit'> {
  /**
   * Serve HTTP/2 over cleartext with prior knowledge next to HTTP/1.1 on the same plaintext
   * listener: a connection whose first bytes are the HTTP/2 preface is served as HTTP/2, any
   * other as HTTP/1. (TLS listeners choose by ALPN instead.) @defaultValue `false`
   */
  readonly h2c?: boolean
  /** HTTP/2 settings and limits ({@link H2Options}); the defaults when absent. */
  readonly h2?: H2Options | undefined
  /** Let CONNECT requests through to the app instead of rejecting them with 405. @defaultValue `false` */
  readonly allowConnectMethodProxying?: boolean
  /**
   * How many requests one connection may serve; the last one is answered with
   * `Connection: close` (nginx's `keepalive_requests`). @defaultValue `undefined` (no limit)
   */
  readonly keepaliveRequestLimit?: number | undefined
}

/**
 * An application that serves HTTP sessions (Pingora's `HttpServerApp`). A listening service runs
 * it through {@link HttpServerAppDriver}, which creates one session per request and keeps the
 * connection alive between requests. `HttpProxy` and {@link HttpServer} implement it.
 *
 * @example
 * ```ts
 * const app: HttpServerApp = {
 *   async processNewHttp(session) {
 *     if (!(await session.readRequest())) return undefined
 *     await session.writeResponseHeader(ResponseHeader.build(204), true)
 *     return session.finish()
 *   },
 * }
 * ```
 */
export interface HttpServerApp {
  /**
   * Serves one HTTP session: read the request, write the response. Runs once per request.
   *
   * Return `session.finish()` (the {@link ReusedHttpStream} when the connection may be reused,
   * else `undefined`) after a complete exchange; return `undefined` after an error or an
   * incomplete exchange. An app that served the request without waiting may return the result
   * directly instead of a promise (see {@link ServerSession.readRequestNow} and
   * {@link ServerSession.finishNow}): the driver then goes on in the same tick.
   *
   * On HTTP/1 it runs once per request of a connection, one after the other; on HTTP/2 it will
   * run once per stream, concurrently, and the returned value is ignored (the connection is
   * the HTTP/2 engine's).
   * @param session - the session on a new or reused connection
   * @param shutdown - aborted when the server starts to shut down
   */
  processNewHttp(
    session: ServerSession,
    shutdown: ShutdownWatch,
  ): Promise<ReusedHttpStream | undefined> | ReusedHttpStream | undefined
  /** Options for the connection; called once per connection. Default: none. */
  serverOptions?(): HttpServerOptions | undefined
  /** Runs once after the service stopped listening on its endpoints. Default: nothing. */
  httpCleanup?(): Promise<void> | void
}

/**
 * Whether a value is an {@link HttpServerApp} (it has `processNewHttp`).
 * @param app - a server app or an HTTP server app
 */
export function isHttpServerApp(app: ServerApp | HttpServerApp): app is HttpServerApp {
  return typeof (app as Partial<HttpServerApp>).processNewHttp === 'function'
}

/**
 * The HTTP version of a new downstream connection: `'h2'` when TLS negotiated it through ALPN,
 * else `'h1'`. (The HTTP/2 cleartext preface will be recognised here too, when `h2c` is on.)
 * @param stream - the accepted connection
 */
export function httpProtocolOf(stream: Stream): HttpProtocol {
  return stream.digest.tls?.alpn === 'h2' ? 'h2' : 'h1'
}

/**
 * Runs an {@link HttpServerApp} as a {@link ServerApp}: Pingora's blanket
 * `impl ServerApp for HttpServerApp`. Per connection it picks the protocol
 * ({@link httpProtocolOf}) and runs that protocol's serving loop:
 *
 * ```text
 * processNew(stream) ─► httpProtocolOf ─┬─ 'h1' ─► ConnectionLoop: one Http1ServerSession per
 *                                       │          request, processNewHttp, finish() hands the
 *                                       │          ReusedHttpStream to the next session
 *                                       └─ 'h2' ─► serveH2Connection: nghttp2 owns the socket,
 *                                                  one Http2ServerSession and one processNewHttp
 *                                                  per stream, concurrently
 * ```
 *
 * On HTTP/1 it creates one `Http1ServerSession` per request on the same connection until the
 * app returns `undefined`, the request limit is reached or the server shuts down. Between
 * requests the driver itself waits for the next request's first bytes (the read timeout on a
 * new connection, the keep-alive timeout on a reused one, cancelled by shutdown), with a
 * callback rather than a promise; a connection that closes or times out while idle is closed
 * without calling the app. When the app answers without waiting (it returns the connection
 * rather than a promise), the next request is served in the same tick: a keep-alive request
 * then costs no promise at all (ADR 0010).
 *
 * A listening service wraps HTTP apps in it automatically.
 */
export class HttpServerAppDriver implements ServerApp {
  /** The HTTP app. */
  readonly app: HttpServerApp

  /**
   * Wraps an HTTP app.
   * @param app - the app
   */
  constructor(app: HttpServerApp) {
    this.app = app
  }

  /**
   * Serves the connection's requests until it is no longer reusable.
   * @param stream - the connection
   * @param shutdown - aborted when the server starts to shut down
   */
  processNew(stream: Stream, shutdown: ShutdownWatch): Promise<Stream | undefined> {
    const serverOptions = this.app.serverOptions?.()
    if (httpProtocolOf(stream) === 'h2') return this.#serveHttp2(stream, shutdown, serverOptions)
    if (serverOptions?.h2c === true && stream.digest.tls === undefined) {
      return this.#sniffPreface(stream, shutdown, serverOptions)
    }
    return this.#serveHttp1(stream, shutdown, serverOptions)
  }

  /**
   * h2c with prior knowledge: reads until the first bytes tell the HTTP/2 preface from an
   * HTTP/1 request line, puts them back, and serves the connection with that protocol.
   */
  async #sniffPreface(
    stream: Stream,
    shutdown: ShutdownWatch,
    serverOptions: HttpServerOptions,
  ): Promise<Stream | undefined> {
    let seen: Buffer | undefined
    for (;;) {
      const chunk = await stream.read(
        serverOptions.readTimeoutMs ?? PREFACE_TIMEOUT_MS,
        'reading the first request',
      )
      if (chunk === undefined) {
        if (seen !== undefined) stream.unread(seen)
        break
      }
      seen = seen === undefined ? chunk : Buffer.concat([seen, chunk])
      const match = matchH2Preface(seen)
      if (match === 'more') continue
      stream.unread(seen)
      if (match === 'h2') return this.#serveHttp2(stream, shutdown, serverOptions)
      break
    }
    return this.#serveHttp1(stream, shutdown, serverOptions)
  }

  #serveHttp1(
    stream: Stream,
    shutdown: ShutdownWatch,
    serverOptions: HttpServerOptions | undefined,
  ): Promise<Stream | undefined> {
    const app = this.app
    // One options object per connection, shared by its sessions.
    const options: Http1ServerOptions =
      serverOptions === undefined
        ? { shutdownSignal: shutdown }
        : { ...serverOptions, shutdownSignal: shutdown }
    return new Promise<Stream | undefined>((resolve, reject) => {
      new ConnectionLoop(app, shutdown, options, resolve, reject).run(stream)
    })
  }

  /** HTTP/2: nghttp2 owns the connection; the app serves each stream. */
  #serveHttp2(
    stream: Stream,
    shutdown: ShutdownWatch,
    serverOptions: HttpServerOptions | undefined,
  ): Promise<undefined> {
    const app = this.app
    return serveH2Connection(
      new ReusedHttpStream(stream),
      (session) => app.processNewHttp(session, shutdown),
      shutdown,
      serverOptions?.h2,
    )
  }

  /** Runs the app's {@link HttpServerApp.httpCleanup}. */
  async cleanup(): Promise<void> {
    await this.app.httpCleanup?.()
  }
}

/**
 * The HTTP/1 keep-alive loop of one connection, driven by callbacks: the idle wait calls
 * {@link ConnectionLoop.onReady}, an app that returns a promise calls back through
 * {@link ConnectionLoop.onServed}. Settles the connection's promise once, when the loop ends.
 */
class ConnectionLoop {
  readonly #app: HttpServerApp
  readonly #shutdown: ShutdownWatch
  readonly #options: Http1ServerOptions
  readonly #resolve: (stream: Stream | undefined) => void
  readonly #reject: (error: unknown) => void
  #session: Http1ServerSession | undefined

  constructor(
    app: HttpServerApp,
    shutdown: ShutdownWatch,
    options: Http1ServerOptions,
    resolve: (stream: Stream | undefined) => void,
    reject: (error: unknown) => void,
  ) {
    this.#app = app
    this.#shutdown = shutdown
    this.#options = options
    this.#resolve = resolve
    this.#reject = reject
    this.#session = undefined
  }

  /**
   * Serves requests on `connection` (starting with `waited`, a session whose request bytes just
   * arrived, when given) until one must be waited for or the connection is done.
   */
  run(connection: Stream | ReusedHttpStream | undefined, waited?: Http1ServerSession): void {
    try {
      let current = connection
      let session = waited
      for (;;) {
        if (session === undefined) {
          if (current === undefined) break
          // The session takes the keep-alive timeout from the options (in ms) and the
          // connection's persisted state from `current`.
          session = new Http1ServerSession(current, this.#options)
          // Stop downstream from reusing the connection when the service shuts down soon.
          if (this.#shutdown.aborted) session.setKeepalive(undefined)
          const state = session.waitForRequest(this.onReady)
          if (state === 'waiting') {
            this.#session = session
            return
          }
          if (state === 'ended') {
            session.stream.close()
            break
          }
        }
        const served = this.#app.processNewHttp(session, this.#shutdown)
        session = undefined
        if (isPromiseLike(served)) {
          served.then(this.onServed, this.#reject)
          return
        }
        current = served
      }
      this.#resolve(undefined)
    } catch (error) {
      this.#reject(error)
    }
  }

  /** The idle wait ended: serve the request, or close when no bytes came. */
  readonly onReady = (ready: boolean): void => {
    const session = this.#session
    this.#session = undefined
    if (session === undefined) return
    if (!ready) {
      session.stream.close()
      this.#resolve(undefined)
      return
    }
    this.run(undefined, session)
  }

  /** The app finished a request asynchronously. */
  readonly onServed = (connection: ReusedHttpStream | undefined): void => {
    this.run(connection)
  }
}

function isPromiseLike<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as Partial<PromiseLike<T>> | undefined)?.then === 'function'
}
