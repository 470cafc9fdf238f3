import { timingSafeEqual } from 'node:crypto'
import { HttpPeer, Server } from '@pingora-ts/core'
import type { RequestHeader, ResponseHeader } from '@pingora-ts/http'
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
}

/** What the gateway remembers about one request. */
export interface GatewayCtx {
  /** Which origin the request was routed to. */
  route: 'api' | 'web'
}

/** Whether a path (without its query) is `/api` or below it (`/api/users`), but not `/apis`. */
export function isApiPath(path: string): boolean {
  return path === '/api' || path.startsWith('/api/')
}

/**
 * An API gateway, after Pingora's `gateway.rs`: `requestFilter` rejects requests without the
 * right bearer token with a 403 before any upstream work, `upstreamPeer` routes `/api/*` to the
 * API origin and everything else to the web origin, `upstreamRequestFilter` adds
 * `X-Forwarded-For` and `Via`, and `responseFilter` names the gateway in `Server`.
 */
export class Gateway implements ProxyHttp<GatewayCtx> {
  readonly #api: HttpPeer
  readonly #web: HttpPeer
  readonly #expected: Buffer
  readonly #via: string

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
  }

  newCtx(): GatewayCtx {
    return { route: 'web' }
  }

  async requestFilter(session: Session, ctx: GatewayCtx): Promise<boolean> {
    if (!this.#authorized(session.getHeader('Authorization'))) {
      await session.respondError(403)
      return true // the response is written: skip straight to logging
    }
    ctx.route = isApiPath(session.requestHeader.path) ? 'api' : 'web'
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
  /** Stops it: closes the listener and every connection. */
  close(): Promise<void>
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
  const service = httpProxyService(server.configuration, new Gateway(options))
  service.addTcp(listen)
  server.addService(service)
  await server.start()
  return { port: service.boundAddress().port, close: () => server.shutdown({ graceful: false }) }
}
