import type net from 'node:net'
import type tls from 'node:tls'
import { PingoraError } from '@pingora-ts/error'
import { ConnectionPool, type DropReason, type IdleProblem } from '@pingora-ts/pool'
import { setFastTimeout } from '@pingora-ts/timeout'
import type { AlpnProtocols, ClientTlsConnectorOptions } from '@pingora-ts/tls'
import { SocketReadSink } from '../protocols/l4/socket-read-sink.ts'
import { Stream } from '../protocols/l4/stream.ts'
import { encodeProxyHeader } from '../protocols/proxy-protocol.ts'
import type { Peer } from '../upstreams/peer.ts'
import type { BindTo } from '../upstreams/peer-options.ts'
import {
  type ConnectorOptions,
  type ConnectorOptionsInput,
  toConnectorOptions,
} from './connector-options.ts'
import { bindToRandom, connectL4, parkErrors } from './l4.ts'
import { handshake } from './tls.ts'

/** Counters of a {@link TransportConnector}. */
export interface ConnectorStats {
  /** New connections established (TCP, and TLS when used). */
  readonly newConnections: number
  /** Requests for a connection that were served from the pool. */
  readonly reusedConnections: number
  /** `reusedConnections / (reusedConnections + newConnections)`; 0 before any connection. */
  readonly reuseRatio: number
  /** Connections handed back and kept in the pool. */
  readonly released: number
  /** Connections handed back but not pooled (closed, unread bytes, pooling disabled). */
  readonly discarded: number
  /** Idle connections that received bytes nobody asked for (Pingora's counter of that name). */
  readonly unexpectedDataConnectionCount: number
  /** Idle connections currently in the pool. */
  readonly idle: number
}

/**
 * Opens, pools and reuses TCP, Unix-socket and TLS connections to peers (Pingora's
 * `TransportConnector`, `pingora-core/src/connectors/mod.rs`).
 *
 * Idle connections live in a `ConnectionPool` keyed by the peer's reuse hash and bounded
 * to `keepalivePoolSize` in total (least recently used evicted first). While idle, a
 * connection that the origin closes or that receives bytes is dropped at once, and one that
 * outlives its idle timeout is closed; {@link TransportConnector.getStream} never hands out
 * such a connection.
 *
 * @example
 * ```ts
 * const connector = new TransportConnector()
 * const [stream, reused] = await connector.getStream(peer)
 * // ... one clean exchange ...
 * connector.releaseStream(stream, peer.reuseHash(), peer.options.idleTimeoutMs)
 * ```
 */
export class TransportConnector {
  /** The connector-wide settings. */
  readonly options: ConnectorOptions

  readonly #pool: ConnectionPool<Stream>
  readonly #tlsOptions: ClientTlsConnectorOptions
  #newConnections = 0
  #reusedConnections = 0
  #released = 0
  #discarded = 0
  #unexpectedData = 0

  /**
   * Creates a connector.
   * @param options - connector-wide settings: a {@link ConnectorOptions}, its plain form, or
   *   the server configuration. `caFile` and `certKeyFile` are read on the first TLS
   *   connection that needs them.
   */
  constructor(options?: ConnectorOptionsInput) {
    this.options = toConnectorOptions(options)
    this.#pool = new ConnectionPool<Stream>({
      // A size of 0 disables pooling: `releaseStream` then closes every connection.
      size: Math.max(1, this.options.keepalivePoolSize),
      watch: watchIdleStream,
      onDrop: this.#onDrop,
    })
    this.#tlsOptions = tlsConnectorOptions(this.options)
  }

  /**
   * Opens a new connection to the peer (never from the pool), within the peer's
   * `totalConnectionTimeoutMs` (TCP and TLS) and `connectionTimeoutMs` (each step).
   * @param peer - where and how to connect
   * @param alpnOverride - ALPN ids to offer instead of the peer's (the HTTP connector uses it)
   * @param defaultConnectionTimeoutMs - the per-step timeout when the peer sets neither
   *   `connectionTimeoutMs` nor `totalConnectionTimeoutMs` (the peer's options stay untouched)
   * @param proxyHeader - a PROXY protocol header to send first (before TLS) instead of the one
   *   `peer.options.proxyProtocol` describes (the TCP proxy uses it)
   * @throws PingoraError (source `'upstream'`) `ConnectTimedout`, `ConnectRefused`,
   *   `ConnectNoRoute`, `ConnectError`, `TLSHandshakeFailure`, `InvalidCert`,
   *   `TLSHandshakeTimedout`
   */
  newStream(
    peer: Peer,
    alpnOverride?: AlpnProtocols,
    defaultConnectionTimeoutMs?: number,
    proxyHeader?: Uint8Array,
  ): Promise<Stream> {
    return this.#open(peer, alpnOverride, defaultConnectionTimeoutMs, proxyHeader, true).then(
      this.#wrap,
    )
  }

  /**
   * Opens a new connection to the peer like {@link TransportConnector.newStream} but hands
   * back the connected socket itself (TLS done, nothing read from it yet) for a protocol engine
   * that reads the socket on its own (`node:http2`), or for {@link TransportConnector.wrapSocket}
   * once the negotiated ALPN says HTTP/1.
   * @param peer - where and how to connect
   * @param alpnOverride - ALPN ids to offer instead of the peer's
   * @param defaultConnectionTimeoutMs - the per-step timeout when the peer sets none
   * @throws PingoraError the errors of {@link TransportConnector.newStream}
   * @internal
   */
  newSocket(
    peer: Peer,
    alpnOverride?: AlpnProtocols,
    defaultConnectionTimeoutMs?: number,
  ): Promise<ConnectedSocket> {
    return this.#open(peer, alpnOverride, defaultConnectionTimeoutMs, undefined, false)
  }

  /**
   * Wraps a socket from {@link TransportConnector.newSocket} into a {@link Stream}.
   * @param connected - the socket and its peer
   * @internal
   */
  wrapSocket(connected: ConnectedSocket): Stream {
    return this.#wrap(connected)
  }

  #open(
    peer: Peer,
    alpnOverride: AlpnProtocols | undefined,
    defaultConnectionTimeoutMs: number | undefined,
    proxyHeader: Uint8Array | undefined,
    useSink: boolean,
  ): Promise<ConnectedSocket> {
    const bindTo = bindToRandom(peer, this.options.bindToV4, this.options.bindToV6)
    const total = peer.options.totalConnectionTimeoutMs
    const stepMs =
      peer.options.connectionTimeoutMs ??
      (total === undefined ? defaultConnectionTimeoutMs : undefined)
    if (total === undefined) {
      return this.#connect(
        peer,
        bindTo,
        alpnOverride,
        undefined,
        undefined,
        stepMs,
        proxyHeader,
        useSink,
      )
    }
    const controller = new AbortController()
    const phase: ConnectPhase = { tls: false }
    const timer = setFastTimeout(() => {
      controller.abort(
        new PingoraError(phase.tls ? 'TLSHandshakeTimedout' : 'ConnectTimedout', {
          source: 'upstream',
          context: `connecting to server ${peer.toString()}, total-connection timeout ${total}ms`,
        }),
      )
    }, total)
    const connecting = this.#connect(
      peer,
      bindTo,
      alpnOverride,
      controller.signal,
      phase,
      stepMs,
      proxyHeader,
      useSink,
    )
    connecting.then(
      () => timer.cancel(),
      () => timer.cancel(),
    )
    return connecting
  }

  /**
   * Takes an idle connection for the peer from the pool, if there is one that is still
   * usable (open, no unread bytes).
   * @param peer - the peer; its reuse hash selects the connections
   */
  reusedStream(peer: Peer): Stream | undefined {
    const key = peer.reuseHash()
    for (;;) {
      const stream = this.#pool.get(key)
      if (stream === undefined) return undefined
      // The pool drops connections as soon as they close or receive bytes; this re-check
      // covers events that arrived in the same tick as the `get`.
      if (this.#testReusable(stream)) {
        this.#reusedConnections++
        stream.socket.ref()
        return stream
      }
    }
  }

  /**
   * Returns a pooled connection for the peer when one is idle, else opens a new one.
   * Resolves `[stream, reused]`.
   * @param peer - where and how to connect
   * @param alpnOverride - ALPN ids to offer on a new TLS connection instead of the peer's
   */
  getStream(peer: Peer, alpnOverride?: AlpnProtocols): Promise<[Stream, boolean]> {
    const reused = this.reusedStream(peer)
    if (reused !== undefined) return Promise.resolve([reused, true])
    return this.newStream(peer, alpnOverride).then(toFresh)
  }

  /**
   * Hands a connection back for reuse. It is pooled only if it is still open, has no unread
   * bytes and `idleTimeoutMs` is not 0; otherwise it is closed. Call this only after a
   * clean, fully read exchange.
   * @param stream - the connection
   * @param key - the reuse hash of the peer it is connected to (`peer.reuseHash()`)
   * @param idleTimeoutMs - how long it may stay idle; `0` closes it now, `undefined` keeps it
   *   until evicted or closed by the origin
   */
  releaseStream(stream: Stream, key: string, idleTimeoutMs?: number): void {
    if (idleTimeoutMs === 0 || this.options.keepalivePoolSize === 0) {
      this.#discarded++
      stream.close()
      return
    }
    if (!this.#testReusable(stream)) {
      this.#discarded++
      return
    }
    this.#released++
    // Like node:http's Agent: idle pooled sockets do not keep the process alive.
    stream.socket.unref()
    this.#pool.put(
      { key, id: stream.id },
      stream,
      idleTimeoutMs === undefined ? undefined : { idleTimeoutMs },
    )
  }

  /** Closes every idle pooled connection (for shutdown); connections in use are not touched. */
  closeIdle(): void {
    this.#pool.clear()
  }

  /** How many idle connections were dropped because they received unexpected bytes. */
  unexpectedDataConnectionCount(): number {
    return this.#unexpectedData
  }

  /** The connector's counters, including the reuse ratio. */
  stats(): ConnectorStats {
    const total = this.#newConnections + this.#reusedConnections
    return {
      newConnections: this.#newConnections,
      reusedConnections: this.#reusedConnections,
      reuseRatio: total === 0 ? 0 : this.#reusedConnections / total,
      released: this.#released,
      discarded: this.#discarded,
      unexpectedDataConnectionCount: this.#unexpectedData,
      idle: this.#pool.idle,
    }
  }

  async #connect(
    peer: Peer,
    bindTo: BindTo | undefined,
    alpnOverride: AlpnProtocols | undefined,
    signal: AbortSignal | undefined,
    phase: ConnectPhase | undefined,
    timeoutMs: number | undefined,
    proxyHeader: Uint8Array | undefined,
    useSink: boolean,
  ): Promise<ConnectedSocket> {
    // Plain TCP is read through an `onread` sink (no Readable machinery per read); a TLS
    // socket reads the raw socket's handle itself, and so does an engine given the raw socket.
    const sink =
      !useSink || peer.isTls() || peer.address.kind === 'unix' ? undefined : new SocketReadSink()
    let socket: net.Socket | tls.TLSSocket = await connectL4(peer, bindTo, signal, sink, timeoutMs)
    const proxyProtocol = peer.options.proxyProtocol
    const header =
      proxyHeader ??
      (proxyProtocol === undefined
        ? undefined
        : encodeProxyHeader(proxyProtocol.version, proxyProtocol))
    // The PROXY protocol header goes first on the wire, before any TLS record.
    if (header !== undefined) socket.write(header)
    if (peer.isTls()) {
      if (phase !== undefined) phase.tls = true
      socket = await handshake(socket, peer, this.#tlsOptions, alpnOverride, signal, timeoutMs)
    }
    this.#newConnections++
    const tracer = peer.options.tracer
    if (tracer !== undefined) {
      tracer.onConnected()
      socket.once('close', () => tracer.onDisconnected())
    }
    return { socket, peer, sink }
  }

  readonly #wrap = (connected: ConnectedSocket): Stream => {
    const { socket, peer, sink } = connected
    const stream = new Stream(socket, 'upstream')
    sink?.attach(stream)
    socket.off('error', parkErrors)
    if (peer.isTls()) stream.digest.tls = tlsDigestOf(socket as tls.TLSSocket, peer.sni)
    return stream
  }

  /** Closes a connection that left the pool without being handed out. */
  #onDrop = (stream: Stream, reason: DropReason): void => {
    if (reason === 'unexpected-data') {
      this.#unexpectedData++
      stream.destroy()
    } else if (reason === 'closed') {
      stream.destroy()
    } else {
      // Evicted, timed out, replaced or cleared: a healthy connection, closed gracefully.
      stream.close()
    }
  }

  /**
   * Whether a connection can be (re)used: still open, peer not finished, nothing unread.
   * Unread bytes on an idle connection are counted as unexpected data.
   */
  #testReusable(stream: Stream): boolean {
    if (stream.closed || stream.peerEnded) {
      stream.destroy()
      return false
    }
    if (stream.bufferedLength > 0) {
      this.#unexpectedData++
      stream.destroy()
      return false
    }
    return true
  }
}

/**
 * A freshly connected socket (TCP, TLS done) not yet read by anyone: what
 * {@link TransportConnector.newSocket} resolves.
 * @internal
 */
export interface ConnectedSocket {
  /** The socket; a `tls.TLSSocket` for TLS peers (its `alpnProtocol` says what was chosen). */
  readonly socket: net.Socket | tls.TLSSocket
  /** The peer it is connected to. */
  readonly peer: Peer
  /** The `onread` sink of a plain TCP socket read by a {@link Stream}, else `undefined`. */
  readonly sink: SocketReadSink | undefined
}

interface ConnectPhase {
  tls: boolean
}

/**
 * Watches an idle pooled stream: bytes, end of stream, an error or a close all mean it
 * must leave the pool. The stream reports them through its `idleWatcher` hook (its own
 * socket listeners queue the bytes), so no socket listener is added or removed per request.
 */
function watchIdleStream(stream: Stream, onProblem: (problem: IdleProblem) => void): () => void {
  // The remote may have finished between the last read and the `put`.
  if (stream.closed || stream.peerEnded) {
    onProblem('closed')
    return noop
  }
  if (stream.bufferedLength > 0) {
    onProblem('unexpected-data')
    return noop
  }
  stream.idleWatcher = onProblem
  return () => {
    if (stream.idleWatcher === onProblem) stream.idleWatcher = undefined
  }
}

function noop(): void {}

function toFresh(stream: Stream): [Stream, boolean] {
  return [stream, false]
}

/** @internal The TLS facts of a connected client socket. */
export function tlsDigestOf(
  socket: tls.TLSSocket,
  sni: string,
): NonNullable<Stream['digest']['tls']> {
  const cipher = socket.getCipher()
  const alpn = socket.alpnProtocol
  return {
    version: socket.getProtocol() ?? undefined,
    cipher: cipher?.name,
    sni: sni === '' ? undefined : sni,
    alpn: typeof alpn === 'string' ? alpn : undefined,
    extension: undefined,
  }
}

function tlsConnectorOptions(options: ConnectorOptions): ClientTlsConnectorOptions {
  const certKeyFile = options.certKeyFile
  return {
    ...(options.caFile === undefined ? {} : { caFile: options.caFile }),
    ...(certKeyFile === undefined
      ? {}
      : { certKeyFile: { certPath: certKeyFile.certFile, keyPath: certKeyFile.keyFile } }),
    debugSslKeylog: options.debugSslKeylog,
  }
}
