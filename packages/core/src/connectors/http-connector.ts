import type tls from 'node:tls'
import { PingoraError } from '@pingora-ts/error'
import { ALPN } from '@pingora-ts/tls'
import type { ClientSession } from '../protocols/http/client-session.ts'
import { Http1ClientSession } from '../protocols/http1/client.ts'
import { Http2ClientSession } from '../protocols/http2/client.ts'
import type { Stream } from '../protocols/l4/stream.ts'
import type { Peer } from '../upstreams/peer.ts'
import type { ConnectorOptionsInput } from './connector-options.ts'
import { type H2PoolStats, Http2Connector } from './http2-connector.ts'
import {
  type ConnectedSocket,
  type ConnectorStats,
  TransportConnector,
} from './transport-connector.ts'

/** How many peers' "answered HTTP/1.1 to ALPN h2" are remembered (oldest forgotten first). */
const PREFER_H1_LIMIT = 4096

/** A TLS connection whose ALPN chose HTTP/1.1: the socket, for whoever opened it. */
class H1Negotiated extends Error {
  connected: ConnectedSocket | undefined
  constructor(connected: ConnectedSocket) {
    super('ALPN chose HTTP/1.1')
    this.connected = connected
  }
}

/**
 * The upstream connect, read and write timeout {@link HttpConnector} applies when the peer sets
 * none (nginx's `proxy_connect_timeout`/`proxy_read_timeout`: 60 s): never wait forever for a
 * SYN-ACK or a silent origin. The peer's options are not changed.
 */
export const DEFAULT_UPSTREAM_TIMEOUT_MS = 60_000

/**
 * Hands out HTTP sessions to peers over pooled connections (Pingora's
 * `connectors::http::Connector`, `pingora-core/src/connectors/http/mod.rs`, `v1.rs` and
 * `v2.rs`).
 *
 * Sessions are handed out as the protocol-neutral {@link ClientSession} (`protocol` tells
 * which). The peer's ALPN (`PeerOptions.alpn`, or `setHttpVersion(max, min)`) decides the
 * protocol, as in Pingora:
 *
 * | peer ALPN           | TLS peer                                           | cleartext peer          |
 * | ------------------- | -------------------------------------------------- | ----------------------- |
 * | `http/1.1` (default)| HTTP/1.1                                           | HTTP/1.1                |
 * | `h2`, `http/1.1`    | ALPN decides; an HTTP/1.1 answer is remembered     | HTTP/1.1                |
 * | `h2`                | HTTP/2 (the handshake fails without it)            | h2c, prior knowledge    |
 *
 * HTTP/1 connections go back to the pool only after a clean, fully read exchange. HTTP/2
 * connections are multiplexed: up to min(`maxH2Streams`, the server's
 * SETTINGS_MAX_CONCURRENT_STREAMS) streams share one connection (see {@link HttpConnector.h2Stats}).
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
  readonly #h2: Http2Connector
  /** Peers (reuse hashes) whose ALPN answer was HTTP/1.1: offered only `http/1.1` next time. */
  readonly #preferH1 = new Set<string>()

  /**
   * Creates a connector.
   * @param options - connector-wide settings (pool size, CA file, source addresses): a
   *   `ConnectorOptions`, its plain form, or the server configuration
   */
  constructor(options?: ConnectorOptionsInput) {
    this.transport = new TransportConnector(options)
    this.#h2 = new Http2Connector(Math.max(1, this.transport.options.keepalivePoolSize))
  }

  /**
   * Returns an HTTP session to the peer on a pooled connection when one is idle (or, for
   * HTTP/2, has a free stream), else on a new one. Resolves `[session, reused]`. The session
   * takes the peer's read and write timeouts (else the defaults) and its
   * `allowH1ResponseInvalidContentLength`.
   * @param peer - where and how to connect
   * @throws PingoraError the connect errors of {@link TransportConnector.newStream}
   */
  getHttpSession(peer: Peer): Promise<[ClientSession, boolean]> {
    const pooled = this.reusedHttpSession(peer)
    if (pooled !== undefined) return Promise.resolve([pooled, true])
    return this.newHttpSession(peer).then(toFresh)
  }

  /**
   * Returns a session on a new connection to the peer (Pingora's `new_http_session`); never
   * takes an idle HTTP/1 connection from the pool. For HTTP/2 it shares a connection that
   * another request is opening when that one has room, so concurrent requests to a new peer
   * open ceil(requests / streams per connection) connections, not one each. Call it after
   * {@link HttpConnector.reusedHttpSession} found nothing.
   * @param peer - where and how to connect
   * @throws PingoraError the connect errors of {@link TransportConnector.newStream}; `H2Error`
   *   or `ConnectTimedout` when the HTTP/2 handshake fails
   */
  async newHttpSession(peer: Peer): Promise<ClientSession> {
    const options = peer.options
    if (options.maxHttpVersion() === 1 || (!peer.isTls() && options.minHttpVersion() === 1)) {
      const stream = await this.transport.newStream(peer, h1Alpn(peer), DEFAULT_UPSTREAM_TIMEOUT_MS)
      return newSession(stream, peer, false)
    }
    const h2Only = options.minHttpVersion() === 2
    if (!h2Only && this.#preferH1.has(peer.reuseHash())) {
      const stream = await this.transport.newStream(peer, ALPN.H1, DEFAULT_UPSTREAM_TIMEOUT_MS)
      return newSession(stream, peer, false)
    }
    const connect = async (): Promise<ConnectedSocket> => {
      const connected = await this.transport.newSocket(peer, undefined, DEFAULT_UPSTREAM_TIMEOUT_MS)
      if (peer.isTls() && (connected.socket as tls.TLSSocket).alpnProtocol !== 'h2') {
        if (h2Only) {
          connected.socket.destroy()
          throw new PingoraError('H2Error', {
            source: 'upstream',
            context: `${peer.toString()} did not choose h2 in ALPN`,
          })
        }
        this.#rememberH1(peer.reuseHash())
        throw new H1Negotiated(connected)
      }
      return connected
    }
    try {
      return await this.#h2.session(
        peer,
        undefined,
        connect,
        options.connectionTimeoutMs ??
          options.totalConnectionTimeoutMs ??
          DEFAULT_UPSTREAM_TIMEOUT_MS,
        options.readTimeoutMs ?? DEFAULT_UPSTREAM_TIMEOUT_MS,
        options.writeTimeoutMs ?? DEFAULT_UPSTREAM_TIMEOUT_MS,
      )
    } catch (error) {
      if (!(error instanceof H1Negotiated)) throw error
      // The origin speaks HTTP/1.1 only: whoever opened the connection uses it; requests that
      // were waiting to share it open their own.
      const connected = error.connected
      error.connected = undefined
      const stream =
        connected === undefined
          ? await this.transport.newStream(peer, ALPN.H1, DEFAULT_UPSTREAM_TIMEOUT_MS)
          : this.transport.wrapSocket(connected)
      return newSession(stream, peer, false)
    }
  }

  #rememberH1(key: string): void {
    const set = this.#preferH1
    if (set.has(key)) return
    if (set.size >= PREFER_H1_LIMIT) set.delete(set.values().next().value as string)
    set.add(key)
  }

  /**
   * Returns an HTTP session on a pooled connection to the peer, or `undefined` when there is
   * none (Pingora's `reused_http_session`); never connects. For HTTP/2 peers, a stream on a
   * connection with room (busy connections first, then idle ones); then, unless the peer is
   * HTTP/2 only, an idle HTTP/1 connection.
   * @param peer - the peer; its reuse hash selects the connections
   */
  reusedHttpSession(peer: Peer): ClientSession | undefined {
    const options = peer.options
    if (options.maxHttpVersion() === 2 && (peer.isTls() || options.minHttpVersion() === 2)) {
      const h2 = this.#h2.reusedSession(
        peer,
        options.readTimeoutMs ?? DEFAULT_UPSTREAM_TIMEOUT_MS,
        options.writeTimeoutMs ?? DEFAULT_UPSTREAM_TIMEOUT_MS,
      )
      if (h2 !== undefined || options.minHttpVersion() === 2) return h2
    }
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
    if (session instanceof Http2ClientSession) {
      // The connection stays in the HTTP/2 pool; an unfinished stream is reset.
      session.finish()
      return
    }
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

  /**
   * Closes every idle pooled connection (for shutdown); HTTP/2 connections still carrying
   * streams close after their last one.
   */
  closeIdle(): void {
    this.transport.closeIdle()
    this.#h2.closeIdle()
  }

  /** The HTTP/2 pool's counters: connections, streams, reuse. */
  h2Stats(): H2PoolStats {
    return this.#h2.stats()
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

/** The ALPN to offer on a new HTTP/1 connection: the peer's own unless it names `h2`. */
function h1Alpn(peer: Peer): typeof ALPN.H1 | undefined {
  const alpn = peer.options.alpn
  return peer.isTls() && alpn.includes('h2') ? ALPN.H1 : undefined
}
