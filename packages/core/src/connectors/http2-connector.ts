import http2 from 'node:http2'
import type tls from 'node:tls'
import { PingoraError } from '@pingora-ts/error'
import { Digest } from '../protocols/digest.ts'
import {
  type Http2ClientSession,
  Http2ClientSession as Session,
} from '../protocols/http2/client.ts'
import type { Peer } from '../upstreams/peer.ts'
import { type ConnectedSocket, tlsDigestOf } from './transport-connector.ts'

/**
 * The receive windows of upstream HTTP/2 connections when the peer sets none (per stream and
 * for the whole connection): 8 MiB, as Pingora. Node's 64 KiB default caps a stream at a few
 * MB/s on any real round trip.
 */
export const DEFAULT_H2_WINDOW_SIZE = 8 * 1024 * 1024

/** Largest response header list accepted from an upstream (as the HTTP/1 client's 1 MiB). */
const MAX_HEADER_LIST_SIZE = 1024 * 1024

/** Memory one upstream session may hold in `node:http2`, in MiB (windows plus headers). */
const MAX_SESSION_MEMORY_MB = 64

/** Counters of the HTTP/2 upstream pool (see `HttpConnector.h2Stats`). */
export interface H2PoolStats {
  /** HTTP/2 connections opened. */
  readonly connections: number
  /** Connections open now (in use, idle or draining). */
  readonly open: number
  /** Connections open now that carry no stream. */
  readonly idle: number
  /** Connections that got a GOAWAY (or refused a stream) and take no new stream. */
  readonly draining: number
  /** Streams open now, across all connections. */
  readonly activeStreams: number
  /** Streams opened in total. */
  readonly streams: number
  /** Streams opened on a connection that had carried an earlier stream. */
  readonly reusedStreams: number
  /** Requests that waited for a connection being opened by another request. */
  readonly sharedConnects: number
}

/**
 * One pooled HTTP/2 connection (Pingora's `ConnectionRef` in `connectors/http/v2.rs`): the
 * `node:http2` session, how many streams it carries and may carry, and whether it still takes
 * new ones.
 */
class H2Connection {
  readonly session: http2.ClientHttp2Session
  readonly digest: Digest
  readonly scheme: 'http' | 'https'
  readonly key: string
  /** min(peer `maxH2Streams`, the server's SETTINGS_MAX_CONCURRENT_STREAMS). */
  maxStreams: number
  active = 0
  /** Streams opened on it so far. */
  opened = 0
  draining = false
  closed = false
  readonly #pool: Http2Connector
  readonly #peerMax: number
  readonly #idleTimeoutMs: number | undefined
  #idleTimer: NodeJS.Timeout | undefined = undefined
  #pingTimer: NodeJS.Timeout | undefined = undefined

  constructor(
    pool: Http2Connector,
    session: http2.ClientHttp2Session,
    connected: ConnectedSocket,
    key: string,
  ) {
    this.#pool = pool
    this.session = session
    this.key = key
    const peer = connected.peer
    this.scheme = peer.isTls() ? 'https' : 'http'
    this.digest = new Digest(connected.socket)
    if (peer.isTls()) this.digest.tls = tlsDigestOf(connected.socket as tls.TLSSocket, peer.sni)
    this.#peerMax = peer.options.maxH2Streams
    this.maxStreams = this.#effectiveMax()
    this.#idleTimeoutMs = peer.options.idleTimeoutMs
    session.on('remoteSettings', () => {
      this.maxStreams = this.#effectiveMax()
    })
    session.on('goaway', () => this.markDraining())
    session.on('error', noop)
    session.once('close', () => this.#onClose())
    const pingMs = peer.options.h2PingIntervalMs
    if (pingMs !== undefined && pingMs > 0) this.#startPings(pingMs)
  }

  #effectiveMax(): number {
    const remote = this.session.remoteSettings.maxConcurrentStreams
    return Math.max(1, Math.min(this.#peerMax, remote ?? this.#peerMax))
  }

  get reusedConnection(): boolean {
    return this.opened > 1
  }

  hasCapacity(): boolean {
    return !this.draining && !this.closed && this.active < this.maxStreams
  }

  /** Takes a stream slot and returns a session for it. */
  open(readTimeoutMs: number, writeTimeoutMs: number): Http2ClientSession {
    this.active++
    this.opened++
    this.#pool.streamOpened(this.opened > 1)
    if (this.#idleTimer !== undefined) {
      clearTimeout(this.#idleTimer)
      this.#idleTimer = undefined
    }
    if (this.active === 1) this.session.ref()
    const host = {
      session: this.session,
      digest: this.digest,
      scheme: this.scheme,
      reusedConnection: this.opened > 1,
      releaseStream: () => this.#streamDone(),
      markDraining: () => this.markDraining(),
    }
    return new Session(host, { readTimeoutMs, writeTimeoutMs })
  }

  #streamDone(): void {
    this.active--
    this.#pool.streamClosed()
    if (this.active > 0 || this.closed) return
    if (this.draining) {
      this.session.close()
      return
    }
    // Idle: it no longer keeps the process alive, and it closes after the peer's idle timeout.
    this.session.unref()
    const idleMs = this.#idleTimeoutMs
    if (idleMs === 0) {
      this.session.close()
    } else if (idleMs !== undefined) {
      this.#idleTimer = setTimeout(() => this.session.close(), idleMs)
      this.#idleTimer.unref()
    }
    this.#pool.becameIdle(this)
  }

  markDraining(): void {
    if (this.draining) return
    this.draining = true
    this.#pool.drained(this)
    if (this.active === 0 && !this.closed) this.session.close()
  }

  #startPings(intervalMs: number): void {
    const ping = (): void => {
      if (this.closed) return
      // No answer within the interval: the connection is dead, fail its streams now.
      const timer = setTimeout(() => {
        this.session.destroy(
          new PingoraError('H2Error', {
            source: 'upstream',
            context: `no PING answer within ${intervalMs}ms`,
          }),
        )
      }, intervalMs)
      timer.unref()
      try {
        this.session.ping(() => clearTimeout(timer))
      } catch {
        clearTimeout(timer)
      }
    }
    this.#pingTimer = setInterval(ping, intervalMs)
    this.#pingTimer.unref()
  }

  close(): void {
    if (!this.closed) this.session.close()
  }

  #onClose(): void {
    this.closed = true
    if (this.#idleTimer !== undefined) clearTimeout(this.#idleTimer)
    if (this.#pingTimer !== undefined) clearInterval(this.#pingTimer)
    this.#pool.removed(this)
  }
}

function noop(): void {}

/** A connection being opened, that requests arriving meanwhile may share. */
interface Pending {
  readonly promise: Promise<H2Connection>
  /** Streams promised to requests waiting for it (the opener included). */
  reserved: number
  readonly max: number
}

/**
 * The multiplexed HTTP/2 upstream pool (Pingora's `connectors/http/v2.rs`): connections are
 * shared by many concurrent streams. A request takes a stream on a connection of the same
 * peer (same reuse hash) that has spare capacity, busy connections first, then idle ones; when
 * none has room, it joins a connection being opened by another request (up to its
 * `maxH2Streams`), else it opens a new one. A connection's capacity is
 * min(`maxH2Streams`, the server's SETTINGS_MAX_CONCURRENT_STREAMS). A GOAWAY (or a refused
 * stream) marks the connection as draining: its streams finish, it takes no new ones and closes
 * after the last. Idle connections close after the peer's `idleTimeoutMs` and at most
 * `maxIdle` of them are kept (the oldest idle one is closed first).
 * @internal
 */
export class Http2Connector {
  readonly #live = new Map<string, H2Connection[]>()
  readonly #pending = new Map<string, Pending[]>()
  readonly #idle = new Set<H2Connection>()
  readonly #maxIdle: number
  #connections = 0
  #open = 0
  #draining = 0
  #active = 0
  #streams = 0
  #reusedStreams = 0
  #sharedConnects = 0

  /** @param maxIdle - the most idle connections kept, across all peers */
  constructor(maxIdle: number) {
    this.#maxIdle = maxIdle
  }

  /**
   * A stream on a live connection to the peer with room for it (busy connections first, then
   * idle), or `undefined`; never connects.
   * @param peer - the peer (its reuse hash selects the connections)
   * @param readTimeoutMs - the session's read timeout
   * @param writeTimeoutMs - the session's write timeout
   */
  reusedSession(
    peer: Peer,
    readTimeoutMs: number,
    writeTimeoutMs: number,
  ): Http2ClientSession | undefined {
    const list = this.#live.get(peer.reuseHash())
    if (list === undefined) return undefined
    let idle: H2Connection | undefined
    for (let i = 0; i < list.length; i++) {
      const connection = list[i] as H2Connection
      if (!connection.hasCapacity()) continue
      if (connection.active > 0) return connection.open(readTimeoutMs, writeTimeoutMs)
      idle ??= connection
    }
    if (idle === undefined) return undefined
    this.#idle.delete(idle)
    return idle.open(readTimeoutMs, writeTimeoutMs)
  }

  /**
   * A stream for the peer: on a live connection with room, on a connection being opened with
   * room, or on a new connection made from `connect()`'s socket.
   * @param peer - the peer
   * @param connect - opens the socket (TLS with ALPN `h2` done, or plain for h2c)
   * @param connectTimeoutMs - how long to wait for the server's first SETTINGS
   * @param readTimeoutMs - the session's read timeout
   * @param writeTimeoutMs - the session's write timeout
   */
  async session(
    peer: Peer,
    connected: ConnectedSocket | undefined,
    connect: () => Promise<ConnectedSocket>,
    connectTimeoutMs: number | undefined,
    readTimeoutMs: number,
    writeTimeoutMs: number,
  ): Promise<Http2ClientSession> {
    const key = peer.reuseHash()
    if (connected === undefined) {
      const reused = this.reusedSession(peer, readTimeoutMs, writeTimeoutMs)
      if (reused !== undefined) return reused
      const pendings = this.#pending.get(key)
      if (pendings !== undefined) {
        for (let i = 0; i < pendings.length; i++) {
          const pending = pendings[i] as Pending
          if (pending.reserved >= pending.max) continue
          pending.reserved++
          this.#sharedConnects++
          const connection = await pending.promise
          // The server may allow fewer streams than hoped: then look again (maybe a new one).
          if (connection.hasCapacity()) return connection.open(readTimeoutMs, writeTimeoutMs)
          return this.session(
            peer,
            undefined,
            connect,
            connectTimeoutMs,
            readTimeoutMs,
            writeTimeoutMs,
          )
        }
      }
    }
    const pending: Pending = {
      promise: this.#connect(key, peer, connected, connect, connectTimeoutMs),
      reserved: 1,
      // What the server allowed on the peer's other connections, when known.
      max: this.#live.get(key)?.[0]?.maxStreams ?? peer.options.maxH2Streams,
    }
    let list = this.#pending.get(key)
    if (list === undefined) {
      list = []
      this.#pending.set(key, list)
    }
    list.push(pending)
    let connection: H2Connection
    try {
      connection = await pending.promise
    } finally {
      const index = list.indexOf(pending)
      if (index !== -1) list.splice(index, 1)
      if (list.length === 0 && this.#pending.get(key) === list) this.#pending.delete(key)
    }
    return connection.open(readTimeoutMs, writeTimeoutMs)
  }

  async #connect(
    key: string,
    peer: Peer,
    connected: ConnectedSocket | undefined,
    connect: () => Promise<ConnectedSocket>,
    connectTimeoutMs: number | undefined,
  ): Promise<H2Connection> {
    const socket = connected ?? (await connect())
    const options = peer.options
    const streamWindow = options.h2StreamWindowSize ?? DEFAULT_H2_WINDOW_SIZE
    const connectionWindow = options.h2ConnectionWindowSize ?? DEFAULT_H2_WINDOW_SIZE
    const authority = `${peer.isTls() ? 'https' : 'http'}://localhost`
    const session = http2.connect(authority, {
      createConnection: () => socket.socket,
      settings: {
        enablePush: false,
        initialWindowSize: Math.min(streamWindow, 2 ** 31 - 1),
        maxHeaderListSize: MAX_HEADER_LIST_SIZE,
      },
      maxSessionMemory: MAX_SESSION_MEMORY_MB,
      maxHeaderListPairs: 256,
    })
    session.on('error', noop)
    try {
      await waitSettings(session, connectTimeoutMs, peer)
    } catch (error) {
      session.destroy()
      throw error
    }
    try {
      session.setLocalWindowSize(Math.min(connectionWindow, 2 ** 31 - 1))
    } catch {
      // The session closed meanwhile; the first stream reports it.
    }
    const connection = new H2Connection(this, session, socket, key)
    this.#connections++
    this.#open++
    let list = this.#live.get(key)
    if (list === undefined) {
      list = []
      this.#live.set(key, list)
    }
    list.push(connection)
    return connection
  }

  /** @internal A stream was opened. */
  streamOpened(reused: boolean): void {
    this.#active++
    this.#streams++
    if (reused) this.#reusedStreams++
  }

  /** @internal A stream closed. */
  streamClosed(): void {
    this.#active--
  }

  /** @internal A connection has no stream left: keep at most `maxIdle` idle connections. */
  becameIdle(connection: H2Connection): void {
    this.#idle.add(connection)
    if (this.#idle.size <= this.#maxIdle) return
    const oldest = this.#idle.values().next().value as H2Connection
    this.#idle.delete(oldest)
    oldest.close()
  }

  /** @internal A connection stopped taking streams. */
  drained(connection: H2Connection): void {
    this.#draining++
    this.#idle.delete(connection)
  }

  /** @internal A connection closed. */
  removed(connection: H2Connection): void {
    this.#open--
    if (connection.draining) this.#draining--
    this.#idle.delete(connection)
    const list = this.#live.get(connection.key)
    if (list === undefined) return
    const index = list.indexOf(connection)
    if (index !== -1) list.splice(index, 1)
    if (list.length === 0) this.#live.delete(connection.key)
  }

  /** Closes every idle connection (for shutdown); busy ones finish their streams first. */
  closeIdle(): void {
    for (const list of this.#live.values()) {
      for (const connection of [...list]) connection.markDraining()
    }
  }

  /** The pool's counters. */
  stats(): H2PoolStats {
    return {
      connections: this.#connections,
      open: this.#open,
      idle: this.#idle.size,
      draining: this.#draining,
      activeStreams: this.#active,
      streams: this.#streams,
      reusedStreams: this.#reusedStreams,
      sharedConnects: this.#sharedConnects,
    }
  }
}

/** Waits for the server's first SETTINGS frame (its stream limit), within the connect timeout. */
function waitSettings(
  session: http2.ClientHttp2Session,
  timeoutMs: number | undefined,
  peer: Peer,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined
    const cleanup = (): void => {
      if (timer !== undefined) clearTimeout(timer)
      session.off('remoteSettings', onSettings)
      session.off('close', onClose)
      session.off('error', onError)
    }
    const onSettings = (): void => {
      cleanup()
      resolve()
    }
    const onError = (error: Error): void => {
      cleanup()
      reject(
        new PingoraError('H2Error', {
          source: 'upstream',
          context: `HTTP/2 handshake with ${peer.toString()}`,
          cause: error,
        }),
      )
    }
    const onClose = (): void => {
      cleanup()
      reject(
        new PingoraError('ConnectionClosed', {
          source: 'upstream',
          context: `connection closed before the HTTP/2 SETTINGS of ${peer.toString()}`,
        }),
      )
    }
    session.on('remoteSettings', onSettings)
    session.on('close', onClose)
    session.on('error', onError)
    if (timeoutMs !== undefined && timeoutMs > 0) {
      timer = setTimeout(() => {
        cleanup()
        reject(
          new PingoraError('ConnectTimedout', {
            source: 'upstream',
            context: `no HTTP/2 SETTINGS from ${peer.toString()} within ${timeoutMs}ms`,
          }),
        )
      }, timeoutMs)
    }
  })
}
