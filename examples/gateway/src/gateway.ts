import { timingSafeEqual } from 'node:crypto'
import { HttpPeer, Server } from '@pingora-ts/core'
import type { PingoraError } from '@pingora-ts/error'
import type { RequestHeader, ResponseHeader } from '@pingora-ts/http'
import { Inflight, type InflightGuard } from '@pingora-ts/limits'
import {
  addForwardedHeaders,
  httpProxyService,
  type ProxyHttp,
  type Session,
} from '@pingora-ts/proxy'

/** Where the gateway sends requests and whom it lets in. */
export interface GatewayOptions {
  /** The origin serving `/api` and everything under it (`host:port`). */
  readonly apiUpstream: string
  /** The origin serving every other path (`host:port`). */
  readonly webUpstream: string
  /** The bearer token clients must send as `Authorization: Bearer <token>`. */
  readonly token: string
  /** This proxy's name in the `Via` header sent upstream. @defaultValue `'pingora-ts-gateway'` */
  readonly via?: string
  /**
   * Requests in flight per upstream past which the gateway answers 503 itself instead of piling
   * more onto a slow origin.
   * @defaultValue 1000
   */
  readonly maxInflightPerUpstream?: number
}

/** What the gateway remembers about one request. */
export interface GatewayCtx {
  /** Which origin the request was routed to. */
  route: 'api' | 'web'
  /** Counts this request against its upstream's in-flight limit until `logging` releases it. */
  inflight: InflightGuard | undefined
}

/** Whether a path (without its query) is `/api` or below it (`/api/users`), but not `/apis`. */
export function isApiPath(path: string): boolean {
  return path === '/api' || path.startsWith('/api/')
}

/**
 * An API gateway, after Pingora's `gateway.rs`: `requestFilter` rejects requests without the
 * right bearer token with a 403 before any upstream work, `upstreamPeer` routes `/api/*` to the
 * API origin and everything else to the web origin, `upstreamRequestFilter` adds
 * `X-Forwarded-For` and `Via`, and `responseFilter` names the gateway in `Server`. Past
 * `maxInflightPerUpstream` requests in flight to one origin, `requestFilter` answers 503.
 */
export class Gateway implements ProxyHttp<GatewayCtx> {
  readonly #api: HttpPeer
  readonly #web: HttpPeer
  readonly #expected: Buffer
  readonly #via: string
  readonly #maxInflight: number
  // Keys are the two route names, so the sketch never collides: the counts are exact.
  readonly #inflight = new Inflight({ slots: 64 })

  /**
   * Creates the gateway.
   * @param options - the two origins and the token
   */
  constructor(options: GatewayOptions) {
    if (options.token.length === 0) throw new TypeError('token must not be empty')
    // One peer object per origin, built once: its reuse hash is computed once and every
    // request to the same origin shares the same pooled connections.
    this.#api = new HttpPeer(options.apiUpstream, false, '')
    this.#web = new HttpPeer(options.webUpstream, false, '')
    this.#expected = Buffer.from(`Bearer ${options.token}`)
    this.#via = options.via ?? 'pingora-ts-gateway'
    this.#maxInflight = options.maxInflightPerUpstream ?? 1000
  }

  newCtx(): GatewayCtx {
    return { route: 'web', inflight: undefined }
  }

  async requestFilter(session: Session, ctx: GatewayCtx): Promise<boolean> {
    if (!this.#authorized(session.getHeader('Authorization'))) {
      await session.respondError(403)
      return true // the response is written: skip straight to logging
    }
    ctx.route = isApiPath(session.requestHeader.path) ? 'api' : 'web'
    const guard = this.#inflight.incr(ctx.route)
    if (guard.count > this.#maxInflight) {
      guard.release()
      await session.respondError(503)
      return true
    }
    ctx.inflight = guard
    return false
  }

  upstreamPeer(_session: Session, ctx: GatewayCtx): HttpPeer {
    return ctx.route === 'api' ? this.#api : this.#web
  }

  upstreamRequestFilter(session: Session, upstreamRequest: RequestHeader): void {
    addForwardedHeaders(session, upstreamRequest, { via: this.#via })
    // The token is for the gateway, not for the origins.
    upstreamRequest.removeHeader('Authorization')
  }

  responseFilter(_session: Session, upstreamResponse: ResponseHeader): void {
    upstreamResponse.insertHeader('Server', this.#via)
  }

  logging(_session: Session, _error: PingoraError | undefined, ctx: GatewayCtx): void {
    // Runs once at the end of every request, success or failure; a guard releases only once.
    ctx.inflight?.release()
  }

  /** Requests in flight to the origin of `route` now. */
  inflight(route: GatewayCtx['route']): number {
    return this.#inflight.get(route)
  }

  #authorized(header: string | undefined): boolean {
    if (header === undefined) return false
    const got = Buffer.from(header)
    // Constant-time comparison, so response timing does not reveal how much of a guess matched.
    return got.length === this.#expected.length && timingSafeEqual(got, this.#expected)
  }
}

/** A proxy started by one of the example's `start` functions. */
export interface RunningProxy {
  /** The port it listens on (127.0.0.1 unless told otherwise). */
  readonly port: number
  /** The gateway's phases, to read its in-flight counts. */
  readonly app: Gateway
  /**
   * Stops it: at once (closes the listener and every connection), or with `graceful` after
   * the requests in flight finish.
   */
  close(graceful?: boolean): Promise<void>
}

/**
 * Starts the gateway in a `Server` and resolves once it listens.
 * @param options - origins and token
 * @param listen - where to listen; port 0 picks a free port @defaultValue `'127.0.0.1:0'`
 */
export async function startGateway(
  options: GatewayOptions,
  listen = '127.0.0.1:0',
): Promise<RunningProxy> {
  const server = new Server()
  server.bootstrap()
  const app = new Gateway(options)
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
