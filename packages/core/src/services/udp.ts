import dgram from 'node:dgram'
import { PingoraError } from '@pingora-ts/error'
import { channels } from '../diagnostics.ts'
import { formatHostPort, parseTcpAddress } from '../listeners/server-address.ts'
import type { SocketAddress } from '../protocols/digest.ts'
import type { ShutdownWatch } from '../server/shutdown-watch.ts'
import type { Service, ServiceReadyNotifier } from './service.ts'

/** Socket options of a UDP endpoint. */
export interface UdpSocketOptions {
  /** Accept only IPv6 on an IPv6 address (`IPV6_V6ONLY`). @defaultValue the OS default */
  readonly ipv6Only?: boolean | undefined
  /** `SO_RCVBUF` in bytes. @defaultValue the OS default */
  readonly recvBufferSize?: number | undefined
  /** `SO_SNDBUF` in bytes. @defaultValue the OS default */
  readonly sendBufferSize?: number | undefined
  /**
   * Datagrams waiting in this socket's send queue (the kernel's buffer was full) beyond which
   * {@link UdpEndpoint.send} drops new ones. @defaultValue {@link UDP_SEND_QUEUE_LIMIT}
   */
  readonly sendQueueLimit?: number | undefined
}

/** How many datagrams may wait in a UDP socket's send queue before more are dropped. */
export const UDP_SEND_QUEUE_LIMIT = 1024

/**
 * One bound UDP socket of a {@link UdpService}, as its app sees it: where it listens and how to
 * answer.
 */
export class UdpEndpoint {
  /** The underlying socket. */
  readonly socket: dgram.Socket
  /** The bound address (port 0 resolved). */
  readonly address: SocketAddress
  /** Datagrams dropped because the send queue was over its limit. */
  droppedSends: number
  readonly #sendQueueLimit: number

  /** @internal */
  constructor(socket: dgram.Socket, sendQueueLimit: number) {
    this.socket = socket
    const bound = socket.address()
    this.address = { address: bound.address, port: bound.port, family: bound.family }
    this.droppedSends = 0
    this.#sendQueueLimit = sendQueueLimit
  }

  /**
   * Sends a datagram from this endpoint. Never throws: when the socket's send queue is over
   * its limit the datagram is dropped (UDP may lose datagrams anyway) and counted in
   * {@link UdpEndpoint.droppedSends}; send errors are published on `pingora:server:error`.
   * @param data - the payload
   * @param to - the destination
   * @returns whether the datagram was handed to the socket
   */
  send(data: Uint8Array, to: SocketAddress): boolean {
    const socket = this.socket
    if (socket.getSendQueueCount() >= this.#sendQueueLimit) {
      this.droppedSends++
      return false
    }
    try {
      socket.send(data, to.port, to.address)
    } catch {
      // The socket is closed (shutdown): nothing to send with.
      this.droppedSends++
      return false
    }
    return true
  }
}

/**
 * An app a {@link UdpService} hands every received datagram to: the UDP counterpart of
 * `ServerApp`.
 */
export interface UdpServerApp {
  /**
   * Handles one datagram. Runs synchronously in the socket's `message` event: keep it short
   * and start asynchronous work without awaiting it. An exception is published on
   * `pingora:connection:error` and the datagram is dropped.
   * @param datagram - the payload (owned by the app)
   * @param from - the sender
   * @param endpoint - the endpoint it arrived on; answer with `endpoint.send`
   */
  processDatagram(datagram: Buffer, from: SocketAddress, endpoint: UdpEndpoint): void
  /** Runs once after the service stopped listening. Default: nothing. */
  cleanup?(): Promise<void> | void
}

interface UdpEndpointConfig {
  readonly address: string
  readonly options: UdpSocketOptions | undefined
}

/**
 * A service that listens on UDP endpoints (`node:dgram`, IPv4 and IPv6) and hands every
 * datagram to its app. Pingora has no UDP (its issue #455); this is the UDP counterpart of
 * `ListeningService`.
 *
 * @example
 * ```ts
 * const service = new UdpService('dns proxy', new UdpProxy({ upstreamPeer: () => peer }))
 * service.addUdp('127.0.0.1:6195')
 * service.addUdp('[::1]:6195')
 * server.addService(service)
 * ```
 */
export class UdpService<A extends UdpServerApp = UdpServerApp> implements Service {
  /** The service name. */
  readonly name: string
  /** The app. */
  readonly app: A
  readonly #configs: UdpEndpointConfig[]
  #endpoints: UdpEndpoint[]
  #started: boolean

  /**
   * Creates a service; add endpoints before the server starts.
   * @param name - the name, for diagnostics
   * @param app - what handles the datagrams
   */
  constructor(name: string, app: A) {
    this.name = name
    this.app = app
    this.#configs = []
    this.#endpoints = []
    this.#started = false
  }

  /**
   * Adds a UDP endpoint.
   * @param address - `host:port` or `[ipv6]:port`; port 0 lets the OS pick
   * @param options - socket options
   * @throws TypeError when the address is malformed
   * @throws RangeError when an option is out of range
   */
  addUdp(address: string, options?: UdpSocketOptions): void {
    parseTcpAddress(address)
    for (const name of ['recvBufferSize', 'sendBufferSize', 'sendQueueLimit'] as const) {
      const value = options?.[name]
      if (value !== undefined && (!Number.isSafeInteger(value) || value < 1)) {
        throw new RangeError(`${name} must be a positive integer, got ${String(value)}`)
      }
    }
    this.#configs.push({ address, options })
  }

  /** The bound endpoints, in the order they were added; empty before start. */
  endpoints(): readonly UdpEndpoint[] {
    return this.#endpoints
  }

  /** The addresses the endpoints are bound to (port 0 resolved), in order; empty before start. */
  listeningAddresses(): SocketAddress[] {
    return this.#endpoints.map((endpoint) => endpoint.address)
  }

  /**
   * Binds every endpoint, signals ready, serves until `shutdown` aborts, then closes the
   * sockets and runs the app's cleanup.
   * @param shutdown - aborted when the server starts to shut down
   * @param ready - signalled once every endpoint is bound
   * @throws PingoraError `BindError` when an endpoint cannot be bound (none stays bound)
   */
  async start(shutdown: ShutdownWatch, ready: ServiceReadyNotifier): Promise<void> {
    if (this.#started) {
      throw PingoraError.internal('InternalError', `service ${this.name} can only start once`)
    }
    this.#started = true
    const results = await Promise.allSettled(this.#configs.map((config) => bindUdp(config)))
    const endpoints: UdpEndpoint[] = []
    let failure: unknown
    for (let i = 0; i < results.length; i++) {
      const result = results[i] as PromiseSettledResult<UdpEndpoint>
      if (result.status === 'fulfilled') endpoints.push(result.value)
      else failure ??= result.reason
    }
    if (failure !== undefined) {
      for (const endpoint of endpoints) endpoint.socket.close()
      throw failure
    }
    this.#endpoints = endpoints
    for (const endpoint of endpoints) this.#serve(endpoint)
    ready.notifyReady()
    if (!shutdown.aborted) {
      await new Promise<void>((resolve) => {
        shutdown.addEventListener('abort', () => resolve(), { once: true })
      })
    }
    this.stop()
    try {
      await this.app.cleanup?.()
    } catch (error) {
      this.#publishError(error, 'app cleanup failed')
    }
  }

  /** Closes every endpoint now. */
  stop(): void {
    for (const endpoint of this.#endpoints) {
      try {
        endpoint.socket.close()
      } catch {
        // Already closed.
      }
    }
  }

  #serve(endpoint: UdpEndpoint): void {
    const app = this.app
    const socket = endpoint.socket
    socket.on('message', (datagram: Buffer, info: dgram.RemoteInfo) => {
      try {
        app.processDatagram(
          datagram,
          { address: info.address, port: info.port, family: info.family },
          endpoint,
        )
      } catch (error) {
        if (channels.connectionError.hasSubscribers) {
          channels.connectionError.publish({
            error: PingoraError.from(error, 'InternalError', 'processing a datagram', 'internal'),
            service: this.name,
            peer: formatHostPort(info.address, info.port),
          })
        }
      }
    })
    // ICMP errors and send failures: the socket stays usable.
    socket.on('error', (error: Error) => this.#publishError(error, 'UDP socket error'))
  }

  #publishError(error: unknown, context: string): void {
    if (!channels.serverError.hasSubscribers) return
    channels.serverError.publish({
      error: PingoraError.from(error, 'SocketError', context, 'internal'),
      service: this.name,
    })
  }
}

function bindUdp(config: UdpEndpointConfig): Promise<UdpEndpoint> {
  const { host, port } = parseTcpAddress(config.address)
  const options = config.options
  const type = host.includes(':') ? 'udp6' : 'udp4'
  const socket = dgram.createSocket({
    type,
    ipv6Only: options?.ipv6Only,
    recvBufferSize: options?.recvBufferSize,
    sendBufferSize: options?.sendBufferSize,
  })
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => {
      socket.close()
      reject(PingoraError.internal('BindError', `Fail to bind to udp ${config.address}`, error))
    }
    socket.once('error', onError)
    socket.bind({ address: host, port }, () => {
      socket.off('error', onError)
      resolve(new UdpEndpoint(socket, options?.sendQueueLimit ?? UDP_SEND_QUEUE_LIMIT))
    })
  })
}
