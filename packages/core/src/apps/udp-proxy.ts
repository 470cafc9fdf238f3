import dgram from 'node:dgram'
import { PingoraError } from '@pingora-ts/error'
import { channels } from '../diagnostics.ts'
import { formatHostPort } from '../listeners/server-address.ts'
import type { SocketAddress } from '../protocols/digest.ts'
import type { UdpEndpoint, UdpServerApp } from '../services/udp.ts'
import type { Peer } from '../upstreams/peer.ts'

/** How long a UDP session lives without traffic unless told otherwise, in ms. */
export const DEFAULT_UDP_IDLE_TIMEOUT_MS = 30_000

/** How many UDP sessions a proxy keeps at once unless told otherwise. */
export const DEFAULT_UDP_MAX_SESSIONS = 10_000

/** How many datagrams wait per session while its upstream is being set up, unless told otherwise. */
export const DEFAULT_UDP_MAX_QUEUED_DATAGRAMS = 64

/**
 * One client address of a {@link UdpProxy} and its upstream socket, as `upstreamPeer` and
 * `logging` see it. Every field exists from the start (same shape for every session).
 */
export class UdpProxySession {
  /** The client's address (its IP and source port identify the session). */
  readonly clientAddr: SocketAddress
  /** The proxy's endpoint address the client sent to. */
  readonly serverAddr: SocketAddress
  /** The peer chosen by `upstreamPeer`, once chosen. */
  peer: Peer | undefined
  /** Datagrams from the client relayed upstream. */
  datagramsFromClient: number
  /** Bytes from the client relayed upstream. */
  bytesFromClient: number
  /** Datagrams from the upstream relayed to the client. */
  datagramsToClient: number
  /** Bytes from the upstream relayed to the client. */
  bytesToClient: number
  /** Datagrams dropped: queue full while the upstream was being set up, or send queue full. */
  droppedDatagrams: number
  /** When the session started (ms since the epoch). */
  readonly startedAt: number
  /** When the session last relayed a datagram either way (ms since the epoch). */
  lastActivityAt: number

  /** @internal */
  constructor(clientAddr: SocketAddress, serverAddr: SocketAddress, now: number) {
    this.clientAddr = clientAddr
    this.serverAddr = serverAddr
    this.peer = undefined
    this.datagramsFromClient = 0
    this.bytesFromClient = 0
    this.datagramsToClient = 0
    this.bytesToClient = 0
    this.droppedDatagrams = 0
    this.startedAt = now
    this.lastActivityAt = now
  }
}

/** What a {@link UdpProxy} does; only `upstreamPeer` is required. */
export interface UdpProxyOptions {
  /**
   * Chooses the upstream of a new session (the first datagram from a client address), with
   * the same shape as `TcpProxyOptions.upstreamPeer`: return a `BasicPeer` (built from a
   * `LoadBalancer` selection to balance UDP). Throw to drop the session's datagrams.
   * @param session - the new session
   */
  upstreamPeer(session: UdpProxySession): Peer | Promise<Peer>
  /**
   * Runs once per session when it ends (idle, evicted at shutdown, or failed), with the error
   * that ended it, if any. Default: nothing.
   */
  logging?(session: UdpProxySession, error: PingoraError | undefined): void
  /** Ends a session after this long without a datagram either way, in ms. @defaultValue {@link DEFAULT_UDP_IDLE_TIMEOUT_MS} */
  readonly idleTimeoutMs?: number | undefined
  /** The most sessions at once; datagrams opening more are dropped. @defaultValue {@link DEFAULT_UDP_MAX_SESSIONS} */
  readonly maxSessions?: number | undefined
  /**
   * Datagrams a session queues while its upstream is being chosen and its socket bound; more
   * are dropped. @defaultValue {@link DEFAULT_UDP_MAX_QUEUED_DATAGRAMS}
   */
  readonly maxQueuedDatagrams?: number | undefined
  /** Time source, for tests. @defaultValue `Date.now` */
  readonly now?: (() => number) | undefined
}

/** Counters of a {@link UdpProxy}. */
export interface UdpProxyStats {
  /** Sessions open now. */
  readonly sessions: number
  /** Sessions opened so far. */
  readonly sessionsOpened: number
  /** Datagrams dropped because `maxSessions` sessions were open. */
  readonly droppedNoSession: number
}

interface SessionState {
  readonly session: UdpProxySession
  readonly endpoint: UdpEndpoint
  socket: dgram.Socket | undefined
  queue: Buffer[] | undefined
  closed: boolean
}

/**
 * A UDP proxy app for a {@link UdpService}: datagrams from each client address (IP and port)
 * form a session with its own upstream socket, connected to the peer `upstreamPeer` chose,
 * so the upstream's answers are routed back to exactly that client. Sessions end after
 * `idleTimeoutMs` without traffic; the number of sessions and the datagrams queued while a
 * session's upstream is being set up are bounded. Pingora has no UDP (its issue #455).
 *
 * @example
 * ```ts
 * const proxy = new UdpProxy({ upstreamPeer: () => new BasicPeer('10.0.0.53:53') })
 * const service = new UdpService('dns', proxy)
 * service.addUdp('0.0.0.0:6195')
 * ```
 */
export class UdpProxy implements UdpServerApp {
  readonly #options: UdpProxyOptions
  readonly #sessions: Map<string, SessionState>
  readonly #idleTimeoutMs: number
  readonly #maxSessions: number
  readonly #maxQueued: number
  readonly #now: () => number
  #sweepTimer: NodeJS.Timeout | undefined
  #sessionsOpened: number
  #droppedNoSession: number

  /**
   * Creates the app.
   * @param options - the upstream choice and the bounds
   * @throws TypeError without an `upstreamPeer` function
   * @throws RangeError when a bound is not a positive integer
   */
  constructor(options: UdpProxyOptions) {
    if (typeof options?.upstreamPeer !== 'function') {
      throw new TypeError('UdpProxy needs an upstreamPeer function')
    }
    this.#options = options
    this.#idleTimeoutMs = positive(
      'idleTimeoutMs',
      options.idleTimeoutMs,
      DEFAULT_UDP_IDLE_TIMEOUT_MS,
    )
    this.#maxSessions = positive('maxSessions', options.maxSessions, DEFAULT_UDP_MAX_SESSIONS)
    this.#maxQueued = positive(
      'maxQueuedDatagrams',
      options.maxQueuedDatagrams,
      DEFAULT_UDP_MAX_QUEUED_DATAGRAMS,
    )
    this.#now = options.now ?? Date.now
    this.#sessions = new Map()
    this.#sweepTimer = undefined
    this.#sessionsOpened = 0
    this.#droppedNoSession = 0
  }

  /** The proxy's counters. */
  stats(): UdpProxyStats {
    return {
      sessions: this.#sessions.size,
      sessionsOpened: this.#sessionsOpened,
      droppedNoSession: this.#droppedNoSession,
    }
  }

  /**
   * Relays a client datagram upstream, opening the client's session first if needed.
   * @param datagram - the payload
   * @param from - the client
   * @param endpoint - the endpoint it arrived on (answers leave from it)
   */
  processDatagram(datagram: Buffer, from: SocketAddress, endpoint: UdpEndpoint): void {
    const key = `${from.address}\0${from.port}\0${endpoint.address.port}`
    let state = this.#sessions.get(key)
    if (state === undefined) {
      if (this.#sessions.size >= this.#maxSessions) {
        this.#droppedNoSession++
        return
      }
      state = this.#open(key, from, endpoint)
    }
    const session = state.session
    const socket = state.socket
    if (socket === undefined) {
      const queue = state.queue as Buffer[]
      if (queue.length >= this.#maxQueued) session.droppedDatagrams++
      else queue.push(datagram)
      return
    }
    this.#forward(state, socket, datagram)
  }

  /** Ends every session (the service calls it after it stopped listening). */
  cleanup(): void {
    if (this.#sweepTimer !== undefined) clearInterval(this.#sweepTimer)
    this.#sweepTimer = undefined
    for (const [key, state] of this.#sessions) this.#close(key, state, undefined)
  }

  /**
   * Ends the sessions idle for `idleTimeoutMs` or more. Runs on its own every
   * `idleTimeoutMs / 2`; call it directly with an injected clock in tests.
   */
  expireIdle(): void {
    const deadline = this.#now() - this.#idleTimeoutMs
    for (const [key, state] of this.#sessions) {
      if (state.session.lastActivityAt <= deadline) this.#close(key, state, undefined)
    }
  }

  #open(key: string, from: SocketAddress, endpoint: UdpEndpoint): SessionState {
    const session = new UdpProxySession(from, endpoint.address, this.#now())
    const state: SessionState = { session, endpoint, socket: undefined, queue: [], closed: false }
    this.#sessions.set(key, state)
    this.#sessionsOpened++
    if (this.#sweepTimer === undefined) {
      this.#sweepTimer = setInterval(() => this.expireIdle(), Math.max(1, this.#idleTimeoutMs / 2))
      this.#sweepTimer.unref()
    }
    this.#connect(key, state).catch((error: unknown) => {
      this.#close(key, state, PingoraError.from(error, 'ConnectError', 'UDP upstream', 'upstream'))
    })
    return state
  }

  async #connect(key: string, state: SessionState): Promise<void> {
    const session = state.session
    const peer = await this.#options.upstreamPeer(session)
    session.peer = peer
    const address = peer.address
    if (address.kind !== 'inet') {
      throw PingoraError.internal(
        'ConnectError',
        `UDP peer must be an IP address: ${peer.toString()}`,
      )
    }
    if (state.closed) return
    const socket = dgram.createSocket(
      address.family === 6 || address.host.includes(':') ? 'udp6' : 'udp4',
    )
    socket.on('error', (error: Error) => {
      // A connected UDP socket reports ICMP "port unreachable" as ECONNREFUSED.
      this.#close(key, state, mapUdpError(error, peer))
    })
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject)
      socket.connect(address.port, address.host, () => {
        socket.off('error', reject)
        resolve()
      })
    })
    if (state.closed) {
      socket.close()
      return
    }
    socket.on('message', (reply: Buffer) => {
      session.datagramsToClient++
      session.bytesToClient += reply.length
      session.lastActivityAt = this.#now()
      if (!state.endpoint.send(reply, session.clientAddr)) session.droppedDatagrams++
    })
    state.socket = socket
    const queue = state.queue as Buffer[]
    state.queue = undefined
    for (let i = 0; i < queue.length; i++) this.#forward(state, socket, queue[i] as Buffer)
  }

  #forward(state: SessionState, socket: dgram.Socket, datagram: Buffer): void {
    const session = state.session
    if (socket.getSendQueueCount() >= this.#maxQueued) {
      session.droppedDatagrams++
      return
    }
    session.datagramsFromClient++
    session.bytesFromClient += datagram.length
    session.lastActivityAt = this.#now()
    socket.send(datagram)
  }

  #close(key: string, state: SessionState, error: PingoraError | undefined): void {
    if (state.closed) return
    state.closed = true
    if (this.#sessions.get(key) === state) this.#sessions.delete(key)
    if (state.socket !== undefined) {
      try {
        state.socket.close()
      } catch {
        // Already closed.
      }
    }
    state.queue = undefined
    if (this.#sessions.size === 0 && this.#sweepTimer !== undefined) {
      clearInterval(this.#sweepTimer)
      this.#sweepTimer = undefined
    }
    const logging = this.#options.logging
    if (logging === undefined) return
    try {
      logging.call(this.#options, state.session, error)
    } catch (thrown) {
      // Called from socket events and timers: a throw here must not crash the process.
      if (channels.connectionError.hasSubscribers) {
        const client = state.session.clientAddr
        channels.connectionError.publish({
          error: PingoraError.from(thrown, 'InternalError', 'UDP proxy logging', 'internal'),
          service: undefined,
          peer: formatHostPort(client.address, client.port),
        })
      }
    }
  }
}

function mapUdpError(error: NodeJS.ErrnoException, peer: Peer): PingoraError {
  const context = `UDP to ${peer.toString()}`
  if (error.code === 'ECONNREFUSED') {
    return new PingoraError('ConnectRefused', { source: 'upstream', context, cause: error })
  }
  return new PingoraError('ConnectError', { source: 'upstream', context, cause: error })
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`${name} must be an integer >= 1, got ${String(value)}`)
  }
  return value
}
