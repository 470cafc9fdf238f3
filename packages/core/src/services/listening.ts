import { setMaxListeners } from 'node:events'
import type net from 'node:net'
import { PingoraError } from '@pingora-ts/error'
import { TlsSettings } from '@pingora-ts/tls'
import { type HttpServerApp, HttpServerAppDriver, isHttpServerApp } from '../apps/http-app.ts'
import type { ServerApp } from '../apps/server-app.ts'
import { type ConnectionRejectReason, channels } from '../diagnostics.ts'
import type { ConnectionFilter } from '../listeners/connection-filter.ts'
import { bindServerAddress, closeListener, listeningAddressOf } from '../listeners/l4.ts'
import { HANDSHAKE_TIMEOUT_MS, type ListenerConfig, Listeners } from '../listeners/listeners.ts'
import {
  applyProxyHeader,
  ProxyHeaderRejection,
  ProxyProtocolAcceptor,
  readProxyHeader,
} from '../listeners/proxy-protocol.ts'
import {
  formatHostPort,
  type ListeningAddress,
  type ServerAddress,
  type TcpListeningAddress,
  type TcpSocketOptions,
} from '../listeners/server-address.ts'
import { tlsListenerConfig } from '../listeners/tls.ts'
import type { SocketAddress } from '../protocols/digest.ts'
import { Stream } from '../protocols/l4/stream.ts'
import type { ShutdownWatch } from '../server/shutdown-watch.ts'
import type { Service, ServiceReadyNotifier } from './service.ts'

/** Options of a {@link ListeningService}. */
export interface ListeningServiceOptions {
  /**
   * How many times binding a TCP address in use is tried. Only an upgrade handover should retry.
   * @defaultValue `1` (an address in use fails at once)
   */
  readonly bindMaxTry?: number
  /** The pause between bind attempts, in ms. @defaultValue `1000` (Pingora) */
  readonly bindTryStepMs?: number
}

interface BoundEndpoint {
  readonly config: ListenerConfig
  readonly server: net.Server
  readonly address: ListeningAddress
  readonly proxyProtocol: ProxyProtocolAcceptor | undefined
}

const NEVER_ABORTED = new AbortController().signal

/**
 * A service that listens on endpoints (TCP, Unix sockets; TLS through a post-accept
 * handshake) and hands every accepted connection to its app (Pingora's `listening::Service`).
 * Port of `pingora-core/src/services/listening.rs`.
 *
 * Per connection: the endpoint's handshake (60 s limit), then `app.processNew` in a loop while
 * the app returns the stream for reuse, then the stream is closed. An exception in the app
 * never crashes the process: it is published on `pingora:connection:error` and only that
 * connection is destroyed. {@link HttpServerApp}s are run through {@link HttpServerAppDriver}.
 *
 * On shutdown the service stops accepting at once, runs the app's cleanup, and its `start`
 * resolves once every connection has closed; {@link ListeningService.stop} destroys the rest.
 *
 * @example
 * ```ts
 * const service = new ListeningService('hello', new HttpServer(hello))
 * service.addTcp('127.0.0.1:0')
 * server.addService(service)
 * await server.start()
 * const { port } = service.boundAddress() // { kind: 'tcp', port: 41235, ... }
 * ```
 */
export class ListeningService<A extends ServerApp | HttpServerApp = ServerApp | HttpServerApp>
  implements Service
{
  /** The service name. */
  readonly name: string
  /** The app, as given. */
  readonly appLogic: A
  /** Preferred worker count; `undefined` follows `ServerConf.threads`. */
  threads: number | undefined
  readonly #app: ServerApp
  readonly #listeners: Listeners
  readonly #bindMaxTry: number | undefined
  readonly #bindTryStepMs: number | undefined
  readonly #connections: Set<net.Socket>
  #endpoints: BoundEndpoint[]
  #shutdown: ShutdownWatch
  #started: boolean
  #forced: boolean
  #onDrained: (() => void) | undefined
  #filter: ConnectionFilter | undefined
  #rejected: number

  /**
   * Creates a service; add endpoints before the server starts.
   * @param name - the name, for diagnostics
   * @param appLogic - a {@link ServerApp} or an {@link HttpServerApp}
   * @param options - bind retry settings
   */
  constructor(name: string, appLogic: A, options: ListeningServiceOptions = {}) {
    this.name = name
    this.appLogic = appLogic
    this.threads = undefined
    this.#app = isHttpServerApp(appLogic) ? new HttpServerAppDriver(appLogic) : appLogic
    this.#listeners = new Listeners()
    this.#bindMaxTry = options.bindMaxTry
    this.#bindTryStepMs = options.bindTryStepMs
    this.#connections = new Set()
    this.#endpoints = []
    this.#shutdown = NEVER_ABORTED
    this.#started = false
    this.#forced = false
    this.#onDrained = undefined
    this.#filter = undefined
    this.#rejected = 0
  }

  /** The configured endpoints, e.g. to add more before start. */
  endpoints(): Listeners {
    return this.#listeners
  }

  /**
   * Adds a TCP endpoint; see {@link Listeners.addTcp}.
   * @param address - `host:port` or `[ipv6]:port`; port 0 lets the OS pick
   */
  addTcp(address: string): void {
    this.#listeners.addTcp(address)
  }

  /**
   * Adds a TCP endpoint with socket options; see {@link Listeners.addTcpWithSettings}.
   * @param address - `host:port` or `[ipv6]:port`
   * @param options - the socket options
   */
  addTcpWithSettings(address: string, options: TcpSocketOptions): void {
    this.#listeners.addTcpWithSettings(address, options)
  }

  /**
   * Adds a Unix domain socket endpoint; see {@link Listeners.addUds}.
   * @param path - the socket path
   * @param mode - the file's permission bits @defaultValue `0o666`
   */
  addUds(path: string, mode?: number): void {
    this.#listeners.addUds(path, mode)
  }

  /**
   * Adds a TLS endpoint with one certificate chain and key file and the default (Mozilla
   * intermediate) settings, as `TlsSettings.intermediate(certPath, keyPath)` builds them.
   * @param address - `host:port` or `[ipv6]:port`
   * @param certPath - PEM file: leaf certificate followed by intermediates
   * @param keyPath - PEM private key file
   * @throws PingoraError `TLSConfigError` when the files cannot be read or do not match
   */
  addTls(address: string, certPath: string, keyPath: string): void {
    this.addTlsWithSettings(address, undefined, TlsSettings.intermediate(certPath, keyPath))
  }

  /**
   * Adds a TLS endpoint with its own settings (SNI certificates, ALPN, mTLS, reload...). Each
   * handshake reads the settings' current certificates, so `settings.reload()` and
   * `settings.watchFiles()` apply to a running service. The handshake time limit is the
   * settings' `handshakeTimeoutMs` (60 s unless set).
   * @param address - `host:port` or `[ipv6]:port`
   * @param options - the socket options, or `undefined`
   * @param settings - the TLS settings
   * @throws PingoraError `TLSConfigError` when the certificates cannot be loaded
   */
  addTlsWithSettings(
    address: string,
    options: TcpSocketOptions | undefined,
    settings: TlsSettings,
  ): void {
    const server: ServerAddress =
      options === undefined ? { kind: 'tcp', address } : { kind: 'tcp', address, options }
    this.#listeners.addListener(tlsListenerConfig(server, settings))
  }

  /**
   * Adds an endpoint from a {@link ServerAddress}.
   * @param address - the address
   */
  addAddress(address: ServerAddress): void {
    this.#listeners.addAddress(address)
  }

  /**
   * Adds an endpoint with its own post-accept handshake.
   * @param config - the endpoint
   */
  addListener(config: ListenerConfig): void {
    this.#listeners.addListener(config)
  }

  /**
   * Sets the filter every accepted connection of every endpoint goes through first, before
   * any byte is read (Pingora's `set_connection_filter`). A refused connection is closed at
   * once and published on `pingora:connection:rejected`. Set it before the server starts.
   * @param filter - the filter, e.g. an {@link IpConnectionFilter}; `undefined` removes it
   */
  setConnectionFilter(filter: ConnectionFilter | undefined): void {
    this.#filter = filter
  }

  /**
   * How many connections were closed right after accept: refused by the connection filter,
   * or failing a PROXY protocol listener's checks.
   */
  get rejectedConnectionCount(): number {
    return this.#rejected
  }

  /** The addresses the endpoints are bound to (port 0 resolved), in order; empty before start. */
  listeningAddresses(): ListeningAddress[] {
    return this.#endpoints.map((endpoint) => endpoint.address)
  }

  /**
   * The address the first TCP endpoint is bound to, with port 0 resolved: how a program or a
   * test that listened on port 0 finds its port.
   * @throws PingoraError `BindError` before the service is bound, or when it has no TCP endpoint
   * @example
   * ```ts
   * service.addTcp('127.0.0.1:0')
   * await server.start()
   * const url = `http://${service.boundAddress().address}/`
   * ```
   */
  boundAddress(): TcpListeningAddress {
    for (const endpoint of this.#endpoints) {
      if (endpoint.address.kind === 'tcp') return endpoint.address
    }
    throw PingoraError.internal(
      'BindError',
      this.#endpoints.length === 0
        ? `service ${this.name} is not bound yet`
        : `service ${this.name} has no TCP endpoint`,
    )
  }

  /** How many connections are open right now. */
  get connectionCount(): number {
    return this.#connections.size
  }

  /**
   * Binds every endpoint, signals ready, serves until `shutdown` aborts, then stops accepting
   * and resolves once every connection has closed.
   * @param shutdown - aborted when the server starts to shut down
   * @param ready - signalled once every endpoint is bound
   * @throws PingoraError `BindError` when an endpoint cannot be bound (none stays bound)
   */
  async start(shutdown: ShutdownWatch, ready: ServiceReadyNotifier): Promise<void> {
    if (this.#started) {
      throw PingoraError.internal('InternalError', `service ${this.name} can only start once`)
    }
    this.#started = true
    this.#shutdown = shutdown
    // Every idle keep-alive connection listens on the shutdown signal: no listener cap.
    setMaxListeners(0, shutdown)
    await this.#bindAll(shutdown)
    ready.notifyReady()
    if (!shutdown.aborted) {
      await new Promise<void>((resolve) => {
        // Stop accepting in the abort event itself, before any other I/O is processed.
        shutdown.addEventListener(
          'abort',
          () => {
            this.#closeEndpoints()
            resolve()
          },
          { once: true },
        )
      })
    }
    this.#closeEndpoints()
    try {
      await this.#app.cleanup?.()
    } catch (error) {
      publishServerError(error, this.name, 'app cleanup failed')
    }
    await this.#drained()
  }

  /** Stops accepting and destroys every open connection now. */
  stop(): void {
    this.#forced = true
    this.#closeEndpoints()
    for (const socket of this.#connections) socket.destroy()
  }

  async #bindAll(shutdown: ShutdownWatch): Promise<void> {
    const configs = this.#listeners.configs
    const retry = { maxTry: this.#bindMaxTry, tryStepMs: this.#bindTryStepMs, signal: shutdown }
    // Each endpoint serves as soon as it listens: an inherited socket listens at once, and its
    // clients must not wait (unanswered, with no `connection` listener) for a sibling endpoint
    // that is still binding.
    const results = await Promise.allSettled(
      configs.map(async (config) => {
        const server = await bindServerAddress(config.address, retry)
        const endpoint: BoundEndpoint = {
          config,
          server,
          address: listeningAddressOf(server, config.address),
          proxyProtocol:
            config.proxyProtocol === undefined
              ? undefined
              : new ProxyProtocolAcceptor(config.proxyProtocol),
        }
        server.on('connection', (socket: net.Socket) => this.#accept(socket, endpoint))
        server.on('error', this.#onServerError)
        return endpoint
      }),
    )
    const endpoints: BoundEndpoint[] = []
    let failure: unknown
    for (const result of results) {
      if (result.status === 'rejected') failure ??= result.reason
      else endpoints.push(result.value)
    }
    if (failure !== undefined) {
      for (const endpoint of endpoints) closeListener(endpoint.server)
      // The service does not start: connections the other endpoints took meanwhile go too.
      for (const socket of this.#connections) socket.destroy()
      throw failure
    }
    this.#endpoints = endpoints
  }

  #closeEndpoints(): void {
    for (const endpoint of this.#endpoints) closeListener(endpoint.server)
  }

  #drained(): Promise<void> {
    if (this.#connections.size === 0) return Promise.resolve()
    return new Promise((resolve) => {
      this.#onDrained = resolve
    })
  }

  #accept(socket: net.Socket, config: BoundEndpoint): void {
    if (this.#forced) {
      socket.destroy()
      return
    }
    const filter = this.#filter
    if (filter !== undefined) {
      this.#filterThenServe(socket, config, filter)
      return
    }
    this.#track(socket, undefined, undefined)
    void this.#serve(socket, config)
  }

  #track(
    socket: net.Socket,
    filter: ConnectionFilter | undefined,
    address: SocketAddress | undefined,
  ): void {
    const connections = this.#connections
    connections.add(socket)
    socket.once('close', () => {
      connections.delete(socket)
      if (filter?.connectionClosed !== undefined) {
        try {
          filter.connectionClosed(address)
        } catch (error) {
          publishServerError(error, this.name, 'connection filter failed')
        }
      }
      if (connections.size === 0 && this.#onDrained !== undefined) {
        const resolve = this.#onDrained
        this.#onDrained = undefined
        resolve()
      }
    })
  }

  #filterThenServe(socket: net.Socket, config: BoundEndpoint, filter: ConnectionFilter): void {
    const address = socketAddressOf(socket)
    let verdict: boolean | Promise<boolean>
    try {
      verdict = filter.shouldAccept(address)
    } catch {
      verdict = false
    }
    if (verdict === true) {
      this.#track(socket, filter, address)
      void this.#serve(socket, config)
      return
    }
    if (verdict === false || typeof verdict !== 'object') {
      this.#reject(socket, 'filter', undefined)
      return
    }
    // Waiting on the filter: read nothing meanwhile, and keep late errors from crashing.
    socket.pause()
    socket.on('error', noop)
    this.#connections.add(socket)
    const pending = (accepted: boolean): void => {
      this.#connections.delete(socket)
      socket.off('error', noop)
      if (!accepted || socket.destroyed || this.#forced || this.#shutdown.aborted) {
        this.#reject(socket, 'filter', undefined)
        if (accepted) filter.connectionClosed?.(address)
        return
      }
      this.#track(socket, filter, address)
      socket.resume()
      void this.#serve(socket, config)
    }
    verdict.then(pending, () => pending(false))
  }

  /** Closes a connection refused right after accept, counts it and publishes why. */
  #reject(socket: net.Socket, reason: ConnectionRejectReason, error: Error | undefined): void {
    this.#rejected++
    if (channels.connectionRejected.hasSubscribers) {
      channels.connectionRejected.publish({
        reason,
        service: this.name,
        peer: peerOf(socket),
        error,
      })
    }
    socket.on('error', noop)
    socket.destroy()
    if (this.#connections.size === 0 && this.#onDrained !== undefined) {
      const resolve = this.#onDrained
      this.#onDrained = undefined
      resolve()
    }
  }

  async #serve(socket: net.Socket, endpoint: BoundEndpoint): Promise<void> {
    let stream: Stream | undefined
    const config = endpoint.config
    try {
      const proxyHeader =
        endpoint.proxyProtocol === undefined
          ? undefined
          : await readProxyHeader(socket, endpoint.proxyProtocol)
      // The header reader left the socket paused; the stream or the handshake attaches its
      // reader in this same tick, before the resumed socket emits anything.
      if (proxyHeader !== undefined) socket.resume()
      stream =
        config.handshake === undefined ? new Stream(socket) : await this.#handshake(socket, config)
      if (proxyHeader !== undefined) applyProxyHeader(stream.digest, proxyHeader)
      const app = this.#app
      const shutdown = this.#shutdown
      let next = await app.processNew(stream, shutdown)
      while (next !== undefined) {
        stream = next
        next = await app.processNew(next, shutdown)
      }
      // Done with the connection (Pingora drops the stream here, which closes it).
      stream.close()
    } catch (error) {
      if (error instanceof ProxyHeaderRejection) {
        this.#reject(socket, error.reason, error.error)
        return
      }
      if (channels.connectionError.hasSubscribers) {
        channels.connectionError.publish({
          error: PingoraError.from(error, 'InternalError', 'serving a connection', 'internal'),
          service: this.name,
          peer: peerOf(socket),
        })
      }
      if (stream === undefined) socket.destroy()
      else stream.destroy()
    }
  }

  #handshake(socket: net.Socket, config: ListenerConfig): Promise<Stream> {
    const handshake = config.handshake as NonNullable<ListenerConfig['handshake']>
    const timeoutMs = config.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS
    // Until a Stream owns the socket, an 'error' event must not crash the process.
    socket.on('error', noop)
    const controller = new AbortController()
    return new Promise<Stream>((resolve, reject) => {
      let timedOut = false
      const timer = setTimeout(() => {
        timedOut = true
        const error = PingoraError.downstream(
          'HandshakeError',
          `downstream handshake timed out after ${timeoutMs}ms`,
        )
        controller.abort(error)
        reject(error)
      }, timeoutMs)
      handshake(socket, controller.signal).then(
        (stream) => {
          clearTimeout(timer)
          if (timedOut) stream.destroy()
          else resolve(stream)
        },
        (error: unknown) => {
          clearTimeout(timer)
          reject(PingoraError.from(error, 'HandshakeError', 'downstream handshake', 'downstream'))
        },
      )
    })
  }

  #onServerError = (error: Error): void => {
    publishServerError(
      PingoraError.internal('AcceptError', 'accept() failed', error),
      this.name,
      'accept() failed',
    )
  }
}

function publishServerError(error: unknown, service: string, context: string): void {
  if (!channels.serverError.hasSubscribers) return
  channels.serverError.publish({
    error: PingoraError.from(error, 'InternalError', context, 'internal'),
    service,
  })
}

function peerOf(socket: net.Socket): string | undefined {
  const address = socket.remoteAddress
  return address === undefined ? undefined : formatHostPort(address, socket.remotePort ?? 0)
}

function socketAddressOf(socket: net.Socket): SocketAddress | undefined {
  const address = socket.remoteAddress
  if (address === undefined) return undefined
  return { address, port: socket.remotePort ?? 0, family: socket.remoteFamily ?? 'unix' }
}

function noop(): void {}
