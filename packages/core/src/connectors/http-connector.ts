import { ALPN } from '@pingora-ts/tls'
import type { ClientSession } from '../protocols/http/client-session.ts'
import { Http1ClientSession } from '../protocols/http1/client.ts'
import type { Stream } from '../protocols/l4/stream.ts'
import type { Peer } from '../upstreams/peer.ts'
import type { ConnectorOptionsInput } from './connector-options.ts'
import { type ConnectorStats, TransportConnector } from './transport-connector.ts'

/**
 * The upstream connect, read and write timeout {@link HttpConnector} applies when the peer sets
 * none (nginx's `proxy_connect_timeout`/`proxy_read_timeout`: 60 s): never wait forever for a
 * SYN-ACK or a silent origin. The peer's options are not changed.
 */
export const DEFAULT_UPSTREAM_TIMEOUT_MS = 60_000

/**
 * Hands out HTTP sessions to peers over pooled connections (Pingora's
 * `connectors::http::Connector`, `pingora-core/src/connectors/http/mod.rs` and `v1.rs`).
 *
 * Sessions are handed out as the protocol-neutral {@link ClientSession} (`protocol` tells
 * which). Only HTTP/1.x is spoken for now: a peer whose `alpn` offers `h2` is connected
 * offering `http/1.1` only (HTTP/2 will plug in at {@link HttpConnector.newHttpSession}). A
 * connection goes back to the pool only after a clean, fully read exchange.
 *
 * Timeouts the peer leaves unset (connect, read, write) are {@link DEFAULT_UPSTREAM_TIMEOUT_MS};
 * the connector applies them without writing into the peer's options.
 *
 * @example
 * ```ts
 * const connector = new HttpConnector()
 * const [session, reused] = await connector.getHttpSession(peer)
 * await session.writeRequestHeader(request)
 * await session.finishBody()
 * const response = await session.readResponseHeader()
 * while ((await session.readResponseBody()) !== undefined) {}
 * connector.releaseHttpSession(session, peer)
 * ```
 */
export class HttpConnector {
  /** The transport connector (TCP/TLS connections and the pool) underneath. */
  readonly transport: TransportConnector

  /**
   * Creates a connector.
   * @param options - connector-wide settings (pool size, CA file, source addresses): a
   *   `ConnectorOptions`, its plain form, or the server configuration
   */
  constructor(options?: ConnectorOptionsInput) {
    this.transport = new TransportConnector(options)
  }

  /**
   * Returns an HTTP session to the peer on a pooled connection when one is idle, else on a
   * new one. Resolves `[session, reused]`. The session takes the peer's read and write
   * timeouts (else the defaults) and its `allowH1ResponseInvalidContentLength`.
   * @param peer - where and how to connect
   * @throws PingoraError the connect errors of {@link TransportConnector.newStream}
   */
  getHttpSession(peer: Peer): Promise<[ClientSession, boolean]> {
    const pooled = this.reusedHttpSession(peer)
    if (pooled !== undefined) return Promise.resolve([pooled, true])
    return this.newHttpSession(peer).then(toFresh)
  }

  /**
   * Opens a new connection to the peer and returns a session on it; never looks in the pool
   * (Pingora's `new_http_session`). Call it after {@link HttpConnector.reusedHttpSession}
   * found nothing, so a pool miss probes the pool once.
   * @param peer - where and how to connect
   * @throws PingoraError the connect errors of {@link TransportConnector.newStream}
   */
  async newHttpSession(peer: Peer): Promise<ClientSession> {
    // TODO(h2): when the peer offers h2, try a reused H2 connection first and open an H2
    // session when ALPN picks h2 (Pingora's h1/h2 split in `connectors/http/mod.rs`).
    const stream = await this.transport.newStream(peer, h1Alpn(peer), DEFAULT_UPSTREAM_TIMEOUT_MS)
    return newSession(stream, peer, false)
  }

  /**
   * Returns an HTTP session on an idle pooled connection to the peer, or `undefined` when
   * there is none (Pingora's `reused_http_session`); never connects.
   * @param peer - the peer; its reuse hash selects the connections
   */
  reusedHttpSession(peer: Peer): ClientSession | undefined {
    const stream = this.transport.reusedStream(peer)
    return stream === undefined ? undefined : newSession(stream, peer, true)
  }

  /**
   * Returns the session's connection to the pool when its exchange ended cleanly (request
   * sent, response fully read, keep-alive agreed), else closes it.
   * @param session - the finished session
   * @param peer - the peer it talked to (its reuse hash keys the pool)
   * @param idleTimeoutMs - how long the connection may stay idle; `0` closes it
   *   @defaultValue the peer's `idleTimeoutMs`
   */
  releaseHttpSession(session: ClientSession, peer: Peer, idleTimeoutMs?: number): void {
    if (!(session instanceof Http1ClientSession)) {
      // Only this connector's own sessions go back to its pool.
      session.shutdown()
      return
    }
    const stream = session.reuse()
    if (stream === undefined) return
    this.transport.releaseStream(
      stream,
      peer.reuseHash(),
      idleTimeoutMs ?? peer.options.idleTimeoutMs,
    )
  }

  /** Closes every idle pooled connection (for shutdown). */
  closeIdle(): void {
    this.transport.closeIdle()
  }

  /** How many idle connections were dropped because they received unexpected bytes. */
  unexpectedDataConnectionCount(): number {
    return this.transport.unexpectedDataConnectionCount()
  }

  /** The transport connector's counters, including the reuse ratio. */
  stats(): ConnectorStats {
    return this.transport.stats()
  }
}

function toFresh(session: ClientSession): [ClientSession, boolean] {
  return [session, false]
}

function newSession(stream: Stream, peer: Peer, reused: boolean): Http1ClientSession {
  const options = peer.options
  return new Http1ClientSession(stream, {
    reused,
    readTimeoutMs: options.readTimeoutMs ?? DEFAULT_UPSTREAM_TIMEOUT_MS,
    writeTimeoutMs: options.writeTimeoutMs ?? DEFAULT_UPSTREAM_TIMEOUT_MS,
    allowInvalidContentLength: options.allowH1ResponseInvalidContentLength,
  })
}

/** The ALPN to offer on new TLS connections: HTTP/1.1 only until HTTP/2 is supported. */
function h1Alpn(peer: Peer): typeof ALPN.H1 | undefined {
  const alpn = peer.options.alpn
  return peer.isTls() && alpn.includes('h2') ? ALPN.H1 : undefined
}
