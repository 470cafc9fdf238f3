import { performance } from 'node:perf_hooks'
import { HttpPeer, Server } from '@pingora-ts/core'
import type { PingoraError } from '@pingora-ts/error'
import { httpProxyService, type ProxyHttp, type Session } from '@pingora-ts/proxy'

/** How many access-log entries {@link CtxProxy.accessLog} keeps (oldest dropped first). */
export const ACCESS_LOG_SIZE = 1000

/** How many client addresses {@link CtxProxy} counts before it starts over. */
export const MAX_TRACKED_CLIENTS = 10_000

/** The two origins of the example. */
export interface CtxProxyOptions {
  /** The origin for everyone (`host:port`). */
  readonly upstream: string
  /** The origin for requests with a `beta-flag` header (`host:port`). */
  readonly betaUpstream: string
  /** Called with each access-log entry as it is written. @defaultValue none */
  readonly onAccessLog?: ((entry: AccessLogEntry) => void) | undefined
}

/**
 * The per-request state: created by `newCtx` for every request, handed to every phase of that
 * request, dropped when it ends.
 */
export interface RequestCtx {
  /** When the request started (`performance.now()`), for its duration. */
  startedAt: number
  /** Whether the client asked for the beta origin (`beta-flag` header). */
  betaUser: boolean
  /** This request's number among all requests the proxy served (1-based). */
  requestNumber: number
  /** This request's number among the requests of its client IP (1-based). */
  clientRequestNumber: number
  /** This request's number on its keep-alive connection (1-based). */
  connectionRequestNumber: number
}

/** One line of the access log written by `logging`. */
export interface AccessLogEntry {
  /** The client's IP address. */
  readonly client: string
  /** `GET /path` */
  readonly request: string
  /** The status sent to the client; 0 when none was sent. */
  readonly status: number
  /** Which origin served it. */
  readonly route: 'stable' | 'beta'
  /** {@inheritDoc RequestCtx.requestNumber} */
  readonly requestNumber: number
  /** {@inheritDoc RequestCtx.clientRequestNumber} */
  readonly clientRequestNumber: number
  /** {@inheritDoc RequestCtx.connectionRequestNumber} */
  readonly connectionRequestNumber: number
  /** Response body bytes sent to the client. */
  readonly bytesSent: number
  /** How long the request took, in ms. */
  readonly durationMs: number
  /** The error type when the request failed. */
  readonly error: string | undefined
}

/**
 * Per-request and cross-request state, after Pingora's `ctx.rs`.
 *
 * - Per request: `newCtx` makes a {@link RequestCtx}; `requestFilter` fills it (beta flag,
 *   counters), `upstreamPeer` routes on it, `logging` reads it.
 * - Across requests: plain fields of the proxy object (a total and a per-client-IP count).
 *   Node runs the phases of all requests on one thread, so a counter needs no lock; Pingora
 *   needs a `Mutex` or an atomic for the same thing.
 * - Across the requests of one keep-alive connection: `persistConnectionContext` hands a value
 *   to the next request's `onConnectionReuse`.
 */
export class CtxProxy implements ProxyHttp<RequestCtx> {
  /** Requests seen so far, all clients together. */
  requestsTotal = 0
  /** Requests routed to the beta origin so far. */
  betaRequests = 0
  /** The latest {@link ACCESS_LOG_SIZE} access-log entries, oldest first. */
  readonly accessLog: AccessLogEntry[] = []
  readonly #perClient = new Map<string, number>()
  readonly #stable: HttpPeer
  readonly #beta: HttpPeer
  readonly #onAccessLog: ((entry: AccessLogEntry) => void) | undefined

  /**
   * Creates the proxy.
   * @param options - the two origins
   */
  constructor(options: CtxProxyOptions) {
    this.#stable = new HttpPeer(options.upstream, false, '')
    this.#beta = new HttpPeer(options.betaUpstream, false, '')
    this.#onAccessLog = options.onAccessLog
  }

  newCtx(): RequestCtx {
    // Every field set here, none added later: each ctx has the same shape.
    return {
      startedAt: performance.now(),
      betaUser: false,
      requestNumber: 0,
      clientRequestNumber: 0,
      connectionRequestNumber: 1,
    }
  }

  onConnectionReuse(_session: Session, ctx: RequestCtx, previous: unknown): void {
    if (typeof previous === 'number') ctx.connectionRequestNumber = previous + 1
  }

  requestFilter(session: Session, ctx: RequestCtx): boolean {
    ctx.betaUser = session.getHeader('beta-flag') !== undefined
    ctx.requestNumber = ++this.requestsTotal
    const client = clientIp(session)
    // Bounded: a proxy must not grow without limit with the number of distinct clients.
    if (this.#perClient.size >= MAX_TRACKED_CLIENTS && !this.#perClient.has(client)) {
      this.#perClient.clear()
    }
    ctx.clientRequestNumber = (this.#perClient.get(client) ?? 0) + 1
    this.#perClient.set(client, ctx.clientRequestNumber)
    return false
  }

  upstreamPeer(_session: Session, ctx: RequestCtx): HttpPeer {
    if (!ctx.betaUser) return this.#stable
    this.betaRequests++
    return this.#beta
  }

  logging(session: Session, error: PingoraError | undefined, ctx: RequestCtx): void {
    const request = session.requestHeader
    const entry: AccessLogEntry = {
      client: clientIp(session),
      request: `${request.method} ${request.uri}`,
      status: session.responseWritten?.status ?? 0,
      route: ctx.betaUser ? 'beta' : 'stable',
      requestNumber: ctx.requestNumber,
      clientRequestNumber: ctx.clientRequestNumber,
      connectionRequestNumber: ctx.connectionRequestNumber,
      bytesSent: session.bodyBytesSent,
      durationMs: performance.now() - ctx.startedAt,
      error: error?.type,
    }
    if (this.accessLog.length >= ACCESS_LOG_SIZE) this.accessLog.shift()
    this.accessLog.push(entry)
    this.#onAccessLog?.(entry)
  }

  persistConnectionContext(_session: Session, ctx: RequestCtx): number {
    return ctx.connectionRequestNumber
  }
}

function clientIp(session: Session): string {
  return session.clientAddr?.address ?? 'unknown'
}

/** A proxy started by {@link startCtxProxy}, with its phases object to read the counters. */
export interface RunningCtxProxy {
  /** The port it listens on. */
  readonly port: number
  /** The proxy's phases, with its counters and access log. */
  readonly app: CtxProxy
  /**
   * Stops it: at once (closes the listener and every connection), or with `graceful` after
   * the requests in flight finish.
   */
  close(graceful?: boolean): Promise<void>
}

/**
 * Starts the proxy in a `Server` and resolves once it listens.
 * @param options - the two origins
 * @param listen - where to listen; port 0 picks a free port @defaultValue `'127.0.0.1:0'`
 */
export async function startCtxProxy(
  options: CtxProxyOptions,
  listen = '127.0.0.1:0',
): Promise<RunningCtxProxy> {
  const server = new Server()
  server.bootstrap()
  const app = new CtxProxy(options)
  const service = httpProxyService(server.configuration, app)
  service.addTcp(listen)
  server.addService(service)
  await server.start()
  return {
    port: service.boundAddress().port,
    app,
    close: (graceful = false) => server.shutdown({ graceful }),
  }
}
