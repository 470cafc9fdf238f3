import { setMaxListeners } from 'node:events'
import { PingoraError } from '@pingora-ts/error'
import { channels } from '../diagnostics.ts'
import { DependencyGraph } from '../services/dependency-graph.ts'
import { type Service, ServiceReadyNotifier } from '../services/service.ts'
import { ServiceHandle } from '../services/service-handle.ts'
import {
  DEFAULT_GRACEFUL_SHUTDOWN_TIMEOUT_SECONDS,
  EXIT_TIMEOUT_SECONDS,
  ServerConf,
  type ServerConfFields,
} from './configuration.ts'
import type { Opt } from './opt.ts'
import {
  type ShutdownSignalWatch,
  type ShutdownWatch,
  UnixShutdownSignalWatch,
} from './shutdown-watch.ts'

/**
 * Where the server is in its life (Pingora's `ExecutionPhase`); published on
 * `pingora:server:phase` at each change.
 */
export type ExecutionPhase =
  | 'Setup'
  | 'Bootstrap'
  | 'BootstrapComplete'
  | 'Running'
  | 'GracefulUpgradeTransferringFds'
  | 'GracefulUpgradeCloseTimeout'
  | 'GracefulTerminate'
  | 'ShutdownStarted'
  | 'ShutdownGracePeriod'
  | 'ShutdownRuntimes'
  | 'Terminated'

/** Options of {@link Server}'s constructor. */
export interface ServerOptions {
  /** The configuration, or fields overriding Pingora's defaults. @defaultValue all defaults */
  readonly configuration?: ServerConf | Partial<ServerConfFields> | undefined
  /**
   * The command line (from `parseCommandLine`): `-d` turns `daemon` on, `-u` makes the server
   * take over listening sockets. @defaultValue no flags
   */
  readonly opt?: Opt | undefined
}

/** Arguments of {@link Server.run} (Pingora's `RunArgs`). */
export interface RunArgs {
  /**
   * Where shutdown requests come from. {@link Server.runForever} passes the process signals;
   * without it, only {@link Server.shutdown} stops the server.
   */
  readonly shutdownSignal?: ShutdownSignalWatch | undefined
}

/** Options of {@link Server.shutdown}. */
export interface ShutdownOptions {
  /**
   * `true`: stop accepting and let in-flight work finish within the grace period (SIGTERM).
   * `false`: destroy every connection now (SIGINT). @defaultValue `true`
   */
  readonly graceful?: boolean
}

interface ServiceEntry {
  readonly service: Service
  readonly handle: ServiceHandle
  readonly ready: ServiceReadyNotifier
  done: Promise<void> | undefined
}

/**
 * The top-level object of a pingora-ts process (Pingora's `Server`): owns the services, starts
 * them in dependency order, and shuts them down on request or signal. Port of
 * `pingora-core/src/server/mod.rs`.
 *
 * Shutdown: a graceful one aborts the {@link ShutdownWatch} (listeners stop accepting, idle
 * keep-alive connections close, in-flight requests finish with `Connection: close`), waits up
 * to `gracePeriodSeconds` for the services to finish, then calls every service's `stop()`
 * (remaining connections destroyed) and waits up to `gracefulShutdownTimeoutSeconds`. Unlike
 * Pingora, which always sleeps the whole grace period, it ends as soon as the work is done.
 * A fast shutdown skips the grace period.
 *
 * @example
 * ```ts
 * const server = new Server()
 * server.bootstrap()
 * const service = new ListeningService('hello', new HttpServer(hello))
 * service.addTcp('0.0.0.0:6188')
 * server.addService(service)
 * server.runForever() // SIGTERM: graceful, SIGINT: fast, then the process exits
 * ```
 */
export class Server {
  /** The configuration. */
  readonly configuration: ServerConf
  /** The command line it was given, if any (Pingora's `server.options`). */
  readonly options: Opt | undefined
  readonly #graph: DependencyGraph
  readonly #services: ServiceEntry[]
  readonly #controller: AbortController
  readonly #terminated: Promise<void>
  #resolveTerminated: () => void
  #phase: ExecutionPhase
  #startPromise: Promise<void> | undefined
  #shutdownPromise: Promise<void> | undefined
  #escalate: (() => void) | undefined

  /**
   * Creates a server; nothing runs until {@link Server.start}, {@link Server.run} or
   * {@link Server.runForever}.
   * @param options - the configuration
   * @throws TypeError / RangeError when a configuration field is invalid
   */
  constructor(options: ServerOptions = {}) {
    const configuration = options.configuration
    const conf = configuration instanceof ServerConf ? configuration : new ServerConf(configuration)
    this.options = options.opt
    // Pingora's `merge_with_opt`: the flag wins over the file.
    this.configuration =
      options.opt?.daemon === true && !conf.daemon
        ? new ServerConf({ ...conf, daemon: true })
        : conf
    this.#graph = new DependencyGraph()
    this.#services = []
    this.#controller = new AbortController()
    // Every idle keep-alive connection listens on the shutdown signal: no listener cap.
    setMaxListeners(0, this.#controller.signal)
    let resolve: () => void = noop
    this.#terminated = new Promise<void>((res) => {
      resolve = res
    })
    this.#resolveTerminated = resolve
    this.#phase = 'Setup'
    this.#startPromise = undefined
    this.#shutdownPromise = undefined
    this.#escalate = undefined
  }

  /** The current phase. */
  get phase(): ExecutionPhase {
    return this.#phase
  }

  /** The signal every service receives; aborted when shutdown starts. */
  get shutdownWatch(): ShutdownWatch {
    return this.#controller.signal
  }

  /**
   * Prepares the process before services start. Today it only records the phase; it is where
   * taking over listening sockets from an old process (zero-downtime upgrade) will happen.
   */
  bootstrap(): void {
    this.#setPhase('Bootstrap')
    this.#setPhase('BootstrapComplete')
  }

  /**
   * Adds a service; returns a handle to declare dependencies with.
   * @param service - the service
   * @throws PingoraError `InternalError` when the server has already started
   */
  addService(service: Service): ServiceHandle {
    if (this.#startPromise !== undefined || this.#shutdownPromise !== undefined) {
      throw PingoraError.internal('InternalError', 'cannot add a service to a started server')
    }
    const id = this.#graph.addNode(service.name)
    const handle = new ServiceHandle(id, service.name, this.#graph)
    this.#services.push({ service, handle, ready: new ServiceReadyNotifier(), done: undefined })
    return handle
  }

  /**
   * Adds several services.
   * @param services - the services
   */
  addServices(services: Iterable<Service>): ServiceHandle[] {
    const handles: ServiceHandle[] = []
    for (const service of services) handles.push(this.addService(service))
    return handles
  }

  /**
   * Starts every service, each after its dependencies are ready, and resolves once all are
   * ready (listeners bound). On failure, shuts down what started and rejects.
   * @throws PingoraError the first service failure, e.g. `BindError`
   */
  start(): Promise<void> {
    this.#startPromise ??= this.#startServices()
    return this.#startPromise
  }

  /**
   * Starts the server and resolves once it has shut down (through {@link Server.shutdown} or
   * `args.shutdownSignal`). Use it in tests and embedders; {@link Server.runForever} in mains.
   * @param args - where shutdown requests come from
   * @throws PingoraError when a service fails to start
   */
  async run(args: RunArgs = {}): Promise<void> {
    const watch = args.shutdownSignal
    try {
      await this.start()
      if (watch !== undefined) void this.#watchSignals(watch)
      await this.#terminated
    } finally {
      watch?.close?.()
    }
  }

  /**
   * Runs until SIGTERM (graceful shutdown), SIGINT (fast shutdown; a second one during a
   * graceful shutdown also ends it at once) or SIGQUIT (graceful upgrade; for now a graceful
   * shutdown), then exits the process with code 0. A start failure is thrown as an uncaught
   * exception (exit code 1). Never returns control in practice.
   */
  runForever(): void {
    const watch = new UnixShutdownSignalWatch()
    this.run({ shutdownSignal: watch }).then(
      () => process.exit(0),
      (error: unknown) => {
        // Like Pingora's panic on a failed bind: crash loudly.
        setImmediate(() => {
          throw error
        })
      },
    )
  }

  /**
   * Shuts the server down and resolves once it has terminated. Calling it again returns the same
   * promise; a fast request during a graceful shutdown cuts the grace period short.
   * @param options - graceful or fast
   */
  shutdown(options: ShutdownOptions = {}): Promise<void> {
    const graceful = options.graceful ?? true
    if (this.#shutdownPromise !== undefined) {
      if (!graceful) this.#escalate?.()
      return this.#shutdownPromise
    }
    this.#shutdownPromise = this.#shutdownServices(graceful)
    return this.#shutdownPromise
  }

  async #startServices(): Promise<void> {
    if (this.#shutdownPromise !== undefined) {
      throw PingoraError.internal('InternalError', 'cannot start a server that was shut down')
    }
    for (const id of this.#graph.topologicalSort()) {
      const entry = this.#services[id] as ServiceEntry
      entry.done = this.#runService(entry)
    }
    try {
      await Promise.all(this.#services.map((entry) => entry.ready.ready))
    } catch (error) {
      await this.shutdown({ graceful: false })
      throw error
    }
    this.#setPhase('Running')
  }

  async #runService(entry: ServiceEntry): Promise<void> {
    const name = entry.service.name
    const dependencies = this.#graph.dependenciesOf(entry.handle.id)
    try {
      for (const id of dependencies) await (this.#services[id] as ServiceEntry).ready.ready
    } catch (error) {
      entry.ready.fail(
        PingoraError.internal('InternalError', `a dependency of service ${name} failed`, error),
      )
      return
    }
    const signal = this.#controller.signal
    if (signal.aborted) {
      entry.ready.notifyReady()
      return
    }
    try {
      await entry.service.start(signal, entry.ready)
      entry.ready.notifyReady()
    } catch (error) {
      const failure = PingoraError.from(
        error,
        'InternalError',
        `service ${name} failed`,
        'internal',
      )
      if (!entry.ready.isSettled) entry.ready.fail(failure)
      if (channels.serverError.hasSubscribers) {
        channels.serverError.publish({ error: failure, service: name })
      }
    }
  }

  async #shutdownServices(graceful: boolean): Promise<void> {
    const configuration = this.configuration
    if (graceful) this.#setPhase('GracefulTerminate')
    this.#controller.abort()
    this.#setPhase('ShutdownStarted')
    const allDone = Promise.all(this.#services.map((entry) => entry.done))
    if (graceful) {
      this.#setPhase('ShutdownGracePeriod')
      const graceMs = (configuration.gracePeriodSeconds ?? EXIT_TIMEOUT_SECONDS) * 1000
      await settleWithin(allDone, graceMs, (escalate) => {
        this.#escalate = escalate
      })
      this.#escalate = undefined
    }
    this.#setPhase('ShutdownRuntimes')
    for (const entry of this.#services) {
      try {
        entry.service.stop?.()
      } catch (error) {
        if (channels.serverError.hasSubscribers) {
          channels.serverError.publish({
            error: PingoraError.from(error, 'InternalError', 'stopping the service', 'internal'),
            service: entry.service.name,
          })
        }
      }
    }
    const stopMs =
      (configuration.gracefulShutdownTimeoutSeconds ?? DEFAULT_GRACEFUL_SHUTDOWN_TIMEOUT_SECONDS) *
      1000
    await settleWithin(allDone, stopMs, noop)
    this.#setPhase('Terminated')
    this.#resolveTerminated()
  }

  async #watchSignals(watch: ShutdownSignalWatch): Promise<void> {
    const terminated = this.#terminated.then(() => undefined)
    for (;;) {
      const signal = await Promise.race([watch.recv(), terminated])
      if (signal === undefined) return
      // Graceful upgrade needs the socket hand-over, which is not built yet: without sockets
      // to send, Pingora goes straight to a graceful shutdown, and so do we.
      void this.shutdown({ graceful: signal !== 'FastShutdown' })
    }
  }

  #setPhase(phase: ExecutionPhase): void {
    this.#phase = phase
    if (channels.serverPhase.hasSubscribers) channels.serverPhase.publish({ phase })
  }
}

/** Waits for `promise` (never rejecting), at most `ms`, or until `escalate` is called. */
function settleWithin(
  promise: Promise<unknown>,
  ms: number,
  onEscalate: (escalate: () => void) => void,
): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms)
    const done = (): void => {
      clearTimeout(timer)
      resolve()
    }
    onEscalate(done)
    promise.then(done, done)
  })
}

function noop(): void {}
