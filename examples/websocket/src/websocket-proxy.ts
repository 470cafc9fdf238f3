import { HttpPeer, Server } from '@pingora-ts/core'
import type { PingoraError } from '@pingora-ts/error'
import { httpProxyService, type ProxyHttp, type Session } from '@pingora-ts/proxy'

/** Where the WebSocket proxy sends upgrades. */
export interface WebSocketProxyOptions {
  /** The WebSocket origin (`host:port`). */
  readonly upstream: string
  /** The only path that may be upgraded. @defaultValue `'/ws'` */
  readonly path?: string
  /** Called from `logging` each time a tunnel has ended. @defaultValue none */
  readonly onTunnelClosed?: (() => void) | undefined
}

/** Per-request state. */
export interface WebSocketCtx {
  /** Whether the client asked for a WebSocket upgrade. */
  upgrade: boolean
}

/**
 * A WebSocket-aware reverse proxy. Nothing WebSocket-specific is needed to proxy one: the
 * engine forwards the `Upgrade`/`Connection: upgrade` request, relays the origin's `101`, then
 * tunnels raw bytes both ways until either side closes. This app only decides who may
 * upgrade: `requestFilter` answers `403` to upgrades on any path but the configured one, and
 * `logging` counts the tunnels that ended.
 */
export class WebSocketProxy implements ProxyHttp<WebSocketCtx> {
  /** How many upgraded connections (tunnels) have ended so far. */
  tunnelsClosed = 0
  readonly #peer: HttpPeer
  readonly #path: string
  readonly #onTunnelClosed: (() => void) | undefined

  /**
   * Creates the proxy.
   * @param options - the origin and the WebSocket path
   */
  constructor(options: WebSocketProxyOptions) {
    this.#peer = new HttpPeer(options.upstream, false, '')
    this.#path = options.path ?? '/ws'
    this.#onTunnelClosed = options.onTunnelClosed
  }

  newCtx(): WebSocketCtx {
    return { upgrade: false }
  }

  async requestFilter(session: Session, ctx: WebSocketCtx): Promise<boolean> {
    ctx.upgrade = session.getHeader('Upgrade')?.toLowerCase() === 'websocket'
    if (ctx.upgrade && session.requestHeader.path !== this.#path) {
      await session.respondError(403)
      return true
    }
    return false
  }

  upstreamPeer(): HttpPeer {
    return this.#peer
  }

  logging(session: Session, _error: PingoraError | undefined, ctx: WebSocketCtx): void {
    if (ctx.upgrade && session.responseWritten?.status === 101) {
      this.tunnelsClosed++
      this.#onTunnelClosed?.()
    }
  }
}

/** A proxy started by {@link startWebSocketProxy}. */
export interface RunningWebSocketProxy {
  /** The port it listens on. */
  readonly port: number
  /** The proxy's phases (its counter). */
  readonly app: WebSocketProxy
  /**
   * Stops it: at once (closes the listener and every connection), or with `graceful` after
   * the requests in flight finish.
   */
  close(graceful?: boolean): Promise<void>
}

/**
 * Starts the proxy in a `Server` and resolves once it listens.
 * @param options - the origin and the WebSocket path
 * @param listen - where to listen; port 0 picks a free port @defaultValue `'127.0.0.1:0'`
 */
export async function startWebSocketProxy(
  options: WebSocketProxyOptions,
  listen = '127.0.0.1:0',
): Promise<RunningWebSocketProxy> {
  const server = new Server()
  server.bootstrap()
  const app = new WebSocketProxy(options)
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
