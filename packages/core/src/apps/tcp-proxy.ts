import { PingoraError } from '@pingora-ts/error'
import { type FastTimer, setFastTimeout } from '@pingora-ts/timeout'
import type { ClientHelloInfo } from '@pingora-ts/tls'
import { TransportConnector } from '../connectors/transport-connector.ts'
import type { SocketAddress } from '../protocols/digest.ts'
import { type PeekClientHelloOptions, peekClientHello } from '../protocols/l4/peek-client-hello.ts'
import { releaseWrittenChunk } from '../protocols/l4/release-chunk.ts'
import type { Stream } from '../protocols/l4/stream.ts'
import { encodeProxyHeader } from '../protocols/proxy-protocol.ts'
import type { ShutdownWatch } from '../server/shutdown-watch.ts'
import type { Peer } from '../upstreams/peer.ts'
import type { ServerApp } from './server-app.ts'

/**
 * One proxied TCP connection, as {@link TcpProxyOptions.upstreamPeer} and
 * {@link TcpProxyOptions.logging} see it. Every field exists from the start (same shape for
 * every connection).
 */
export class TcpProxySession {
  /** The accepted (downstream) connection; TLS already terminated when the listener is TLS. */
  readonly downstream: Stream
  /**
   * The client's address: the one a PROXY protocol header announced when the listener accepts
   * it, else the socket's peer address.
   */
  readonly clientAddr: SocketAddress | undefined
  /** The address the client connected to (the PROXY protocol destination when there is one). */
  readonly serverAddr: SocketAddress | undefined
  /**
   * The TLS ClientHello read without terminating TLS (SNI and ALPN), when
   * {@link TcpProxyOptions.peekClientHello} is on and the client sent one; else `undefined`.
   */
  clientHello: ClientHelloInfo | undefined
  /** The peer chosen by `upstreamPeer`, once chosen. */
  peer: Peer | undefined
  /** The upstream connection, once connected. */
  upstream: Stream | undefined
  /** Bytes read from the client and written upstream. */
  bytesFromClient: number
  /** Bytes read from the upstream and written to the client. */
  bytesToClient: number
  /** When the proxy started on this connection (ms since the epoch). */
  readonly startedAt: number

  /**
   * Creates the session of an accepted connection.
   * @param downstream - the accepted connection
   */
  constructor(downstream: Stream) {
    this.downstream = downstream
    this.clientAddr = downstream.digest.peerAddr
    this.serverAddr = downstream.digest.localAddr
    this.clientHello = undefined
    this.peer = undefined
    this.upstream = undefined
    this.bytesFromClient = 0
    this.bytesToClient = 0
    this.startedAt = Date.now()
  }
}

/** What a {@link TcpProxy} does; only `upstreamPeer` is required. */
export interface TcpProxyOptions {
  /**
   * Chooses where to relay a new connection (the TCP counterpart of `ProxyHttp.upstreamPeer`).
   * Runs once per accepted connection, after the TLS handshake (on a TLS listener) and the
   * ClientHello peek (when on). Return a `BasicPeer` (TLS towards the upstream when its `sni`
   * is set) or an `HttpPeer`; build it from a `LoadBalancer` selection to balance TCP.
   * Throw to refuse the connection (it is closed and `logging` gets the error).
   * @param session - the connection
   */
  upstreamPeer(session: TcpProxySession): Peer | Promise<Peer>
  /**
   * Runs once per connection after both sides are closed, with the error that ended it, if
   * any. Default: nothing.
   * @param session - the connection, with its byte counts
   * @param error - why it ended abnormally (a `PingoraError`), else `undefined`
   */
  logging?(session: TcpProxySession, error: PingoraError | undefined): void
  /**
   * Opens the upstream connections. @defaultValue a new `TransportConnector` per proxy
   */
  readonly connector?: TransportConnector | undefined
  /**
   * Closes both sides once neither has sent a byte for this long, in ms; `0` or `undefined`
   * never does. @defaultValue `undefined`
   */
  readonly idleTimeoutMs?: number | undefined
  /**
   * Reads the TLS ClientHello (SNI, ALPN) before `upstreamPeer` without terminating TLS, for
   * routing TLS by name (TLS passthrough). `true` uses the default limits.
   * @defaultValue `false`
   */
  readonly peekClientHello?: boolean | PeekClientHelloOptions | undefined
  /**
   * Send a PROXY protocol header (version 1 or 2) announcing `session.clientAddr` and
   * `session.serverAddr` first on each upstream connection, for upstreams behind
   * `accept-proxy`. @defaultValue `undefined` (no header, unless the peer's
   * `options.proxyProtocol` asks for one)
   */
  readonly sendProxyProtocol?: 1 | 2 | undefined
}

/**
 * A TCP proxy app: relays every accepted connection to the peer `upstreamPeer` picks, both ways,
 * with backpressure (a side is read only as fast as the other side takes the bytes),
 * half-close in both directions (a FIN from one side is passed on while the other side may
 * keep sending), an optional idle timeout and byte counts. Pingora has no TCP proxy type, only
 * the duplex copy of its `examples/app/proxy.rs`; this is that, made reusable.
 *
 * Put it on any listener: plain TCP, TLS (termination), or one that accepts the PROXY protocol.
 * TLS towards the upstream is the peer's business (`BasicPeer.sni`, `HttpPeer` with TLS).
 *
 * @example
 * ```ts
 * const proxy = new TcpProxy({ upstreamPeer: () => new BasicPeer('127.0.0.1:6379') })
 * const service = new ListeningService('redis proxy', proxy)
 * service.addTcp('127.0.0.1:6196')
 * ```
 */
export class TcpProxy implements ServerApp {
  /** The connector upstream connections are opened with. */
  readonly connector: TransportConnector
  readonly #options: TcpProxyOptions
  readonly #peek: PeekClientHelloOptions | undefined
  readonly #idleTimeoutMs: number

  /**
   * Creates the app.
   * @param options - the upstream choice and the relay settings
   * @throws RangeError when `idleTimeoutMs` is negative or not finite
   */
  constructor(options: TcpProxyOptions) {
    if (typeof options?.upstreamPeer !== 'function') {
      throw new TypeError('TcpProxy needs an upstreamPeer function')
    }
    const idle = options.idleTimeoutMs ?? 0
    if (!Number.isFinite(idle) || idle < 0) {
      throw new RangeError(`idleTimeoutMs must be a finite number >= 0, got ${String(idle)}`)
    }
    this.#options = options
    this.#idleTimeoutMs = idle
    const peek = options.peekClientHello
    this.#peek = peek === true ? {} : peek === false || peek === undefined ? undefined : peek
    this.connector = options.connector ?? new TransportConnector()
  }

  /**
   * Relays one connection until both sides have finished; never hands the stream back.
   * @param downstream - the accepted connection
   * @param _shutdown - unused: a relay runs until its ends close (the service's grace period
   *   bounds it on shutdown)
   */
  async processNew(downstream: Stream, _shutdown: ShutdownWatch): Promise<Stream | undefined> {
    const session = new TcpProxySession(downstream)
    let failure: PingoraError | undefined
    try {
      if (this.#peek !== undefined) {
        session.clientHello = await peekClientHello(downstream, this.#peek)
      }
      const peer = await this.#options.upstreamPeer(session)
      session.peer = peer
      const version = this.#options.sendProxyProtocol
      const header =
        version === undefined
          ? undefined
          : encodeProxyHeader(version, {
              source: session.clientAddr,
              destination: session.serverAddr,
            })
      const upstream = await this.connector.newStream(peer, undefined, undefined, header)
      session.upstream = upstream
      failure = await relay(session, downstream, upstream, this.#idleTimeoutMs)
    } catch (error) {
      failure = PingoraError.from(error, 'InternalError', 'TCP proxy', 'internal')
    }
    if (failure === undefined) {
      downstream.close()
      session.upstream?.close()
    } else {
      downstream.destroy()
      session.upstream?.destroy()
    }
    const logging = this.#options.logging
    if (logging !== undefined) logging.call(this.#options, session, failure)
    return undefined
  }
}

/**
 * Copies both directions until both have ended; resolves the first error, or `undefined` when
 * both sides finished cleanly. On an error both streams are destroyed at once, so the other
 * direction stops too.
 */
function relay(
  session: TcpProxySession,
  downstream: Stream,
  upstream: Stream,
  idleTimeoutMs: number,
): Promise<PingoraError | undefined> {
  return new Promise((resolve) => {
    let pending = 2
    let failure: PingoraError | undefined
    let lastActivity = Date.now()
    let idleTimer: FastTimer | undefined
    const finish = (): void => {
      if (--pending > 0) return
      idleTimer?.cancel()
      resolve(failure)
    }
    const fail = (error: unknown): void => {
      if (failure === undefined) {
        failure = PingoraError.from(error, 'ConnectionClosed', 'TCP relay', 'internal')
        downstream.destroy()
        upstream.destroy()
      }
      finish()
    }
    const touch = (): void => {
      lastActivity = Date.now()
    }
    if (idleTimeoutMs > 0) {
      const onIdleTimer = (): void => {
        const idleFor = Date.now() - lastActivity
        if (idleFor >= idleTimeoutMs) {
          idleTimer = undefined
          if (failure === undefined) {
            failure = new PingoraError('ReadTimedout', {
              source: 'internal',
              context: `TCP relay idle for ${idleTimeoutMs}ms`,
            })
            downstream.destroy()
            upstream.destroy()
          }
          return
        }
        idleTimer = setFastTimeout(onIdleTimer, idleTimeoutMs - idleFor)
      }
      idleTimer = setFastTimeout(onIdleTimer, idleTimeoutMs)
    }
    pump(downstream, upstream, session, true, touch).then(finish, fail)
    pump(upstream, downstream, session, false, touch).then(finish, fail)
  })
}

/** Copies `from` to `to` until `from` ends, then half-closes `to`. */
async function pump(
  from: Stream,
  to: Stream,
  session: TcpProxySession,
  fromClient: boolean,
  touch: () => void,
): Promise<void> {
  for (;;) {
    const chunk = await from.read()
    if (chunk === undefined) {
      // Pass the FIN on; the other direction may keep going (RFC 9293 §3.6 half-close).
      to.shutdownWrite()
      return
    }
    touch()
    if (fromClient) session.bytesFromClient += chunk.length
    else session.bytesToClient += chunk.length
    if (!to.write(chunk)) await to.drain()
    releaseWrittenChunk(chunk, to)
  }
}
