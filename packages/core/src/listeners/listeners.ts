import type net from 'node:net'
import type { Stream } from '../protocols/l4/stream.ts'
import { ProxyProtocolAcceptor, type ProxyProtocolOptions } from './proxy-protocol.ts'
import { parseTcpAddress, type ServerAddress, type TcpSocketOptions } from './server-address.ts'

/** How long a post-accept handshake may take before the connection is dropped (Pingora's 60 s). */
export const HANDSHAKE_TIMEOUT_MS = 60_000

/**
 * Turns an accepted socket into a {@link Stream}, e.g. by running a TLS handshake. It runs once
 * per connection, right after accept and before the app sees the connection.
 *
 * Reject (or let `signal` abort it) to drop the connection; the error is published on
 * `pingora:connection:error`.
 * @param socket - the accepted socket
 * @param signal - aborted when the handshake times out or the server stops
 */
export type PostAcceptHandshake = (socket: net.Socket, signal: AbortSignal) => Promise<Stream>

/** One listening endpoint: where to listen and how to turn accepted sockets into streams. */
export interface ListenerConfig {
  /** Where to listen. */
  readonly address: ServerAddress
  /** Runs on every accepted socket; without it the socket is wrapped in a plain `Stream`. */
  readonly handshake?: PostAcceptHandshake | undefined
  /** The handshake's time limit, in ms. @defaultValue {@link HANDSHAKE_TIMEOUT_MS} */
  readonly handshakeTimeoutMs?: number | undefined
  /**
   * Accept the PROXY protocol (v1 and v2) on this endpoint: every connection from a trusted
   * source must start with a header, read before the handshake; its addresses become the
   * stream's `digest.peerAddr` / `localAddr`. Connections from untrusted sources, with a
   * malformed header or too slow to send it are closed and published on
   * `pingora:connection:rejected`. @defaultValue `undefined` (no PROXY protocol)
   */
  readonly proxyProtocol?: ProxyProtocolOptions | undefined
}

/**
 * The endpoints a listening service listens on (Pingora's `Listeners`). Adding an endpoint
 * only records it; binding happens when the service starts.
 */
export class Listeners {
  readonly #configs: ListenerConfig[]

  /** Creates an empty endpoint list. */
  constructor() {
    this.#configs = []
  }

  /** The recorded endpoints, in the order they were added. */
  get configs(): readonly ListenerConfig[] {
    return this.#configs
  }

  /**
   * Adds a TCP endpoint.
   * @param address - `host:port` or `[ipv6]:port`; port 0 lets the OS pick
   * @throws TypeError when the address is malformed
   */
  addTcp(address: string): void {
    this.addAddress({ kind: 'tcp', address })
  }

  /**
   * Adds a TCP endpoint with socket options.
   * @param address - `host:port` or `[ipv6]:port`
   * @param options - the socket options
   * @throws TypeError when the address is malformed
   */
  addTcpWithSettings(address: string, options: TcpSocketOptions): void {
    this.addAddress({ kind: 'tcp', address, options })
  }

  /**
   * Adds a Unix domain socket endpoint.
   * @param path - the socket file path; a stale file there is removed when binding
   * @param mode - the socket file's permission bits @defaultValue `0o666`
   */
  addUds(path: string, mode?: number): void {
    this.addAddress({ kind: 'uds', path, mode })
  }

  /**
   * Adds an endpoint described by a {@link ServerAddress}.
   * @param address - the address
   */
  addAddress(address: ServerAddress): void {
    this.addListener({ address })
  }

  /**
   * Adds an endpoint with its own post-accept handshake (the seam TLS endpoints use).
   * @param config - the endpoint
   * @throws TypeError / RangeError when the address or options are malformed
   */
  addListener(config: ListenerConfig): void {
    validateConfig(config)
    this.#configs.push(config)
  }
}

function validateConfig(config: ListenerConfig): void {
  const address = config.address
  if (address.kind === 'tcp') {
    parseTcpAddress(address.address)
    const backlog = address.options?.backlog
    if (backlog !== undefined && (!Number.isInteger(backlog) || backlog < 1)) {
      throw new RangeError(`backlog must be a positive integer, got ${backlog}`)
    }
    const idleMs = address.options?.tcpKeepalive?.idleMs
    if (idleMs !== undefined && (!Number.isFinite(idleMs) || idleMs < 0)) {
      throw new RangeError(`tcpKeepalive.idleMs must be a non-negative number, got ${idleMs}`)
    }
  } else if (address.kind === 'uds') {
    if (typeof address.path !== 'string' || address.path === '') {
      throw new TypeError('Unix socket path must be a non-empty string')
    }
    const mode = address.mode
    if (mode !== undefined && (!Number.isInteger(mode) || mode < 0 || mode > 0o777)) {
      throw new RangeError(`Unix socket mode must be an integer from 0 to 0o777, got ${mode}`)
    }
  } else {
    throw new TypeError(
      `Unknown server address kind: ${String((address as { kind: unknown }).kind)}`,
    )
  }
  // Checks the options (throws on bad ones); the service compiles its own copy at start.
  if (config.proxyProtocol !== undefined) new ProxyProtocolAcceptor(config.proxyProtocol)
  const timeoutMs = config.handshakeTimeoutMs
  if (timeoutMs !== undefined && (!Number.isFinite(timeoutMs) || timeoutMs <= 0)) {
    throw new RangeError(`handshakeTimeoutMs must be a positive number, got ${timeoutMs}`)
  }
}
