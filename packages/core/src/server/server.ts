import cluster from 'node:cluster'
import { setMaxListeners } from 'node:events'
import { openSync } from 'node:fs'
import { PingoraError } from '@pingora-ts/error'
import { channels } from '../diagnostics.ts'
import { PRIMARY_LISTEN_FDS_ENV, processListenFds } from '../listeners/listen-fds.ts'
import { DependencyGraph } from '../services/dependency-graph.ts'
import { type Service, ServiceReadyNotifier } from '../services/service.ts'
import { ServiceHandle } from '../services/service-handle.ts'
import {
  DEFAULT_DAEMON_READY_TIMEOUT_SECONDS,
  DEFAULT_GRACEFUL_SHUTDOWN_TIMEOUT_SECONDS,
  EXIT_TIMEOUT_SECONDS,
  ServerConf,
  type ServerConfFields,
} from './configuration.ts'
import { exitCannotStart, type Opt } from './opt.ts'
import {
  type ShutdownSignalWatch,
  type ShutdownWatch,
  UnixShutdownSignalWatch,
} from './shutdown-watch.ts'
import {
  currentCommand,
  removeOwnPidFile,
  reportReady,
  requestUpgrade,
  STARTED_BY_PINGORA,
  type Successor,
  spawnSuccessor,
  UPGRADE_READY_TIMEOUT_MS,
  type UpgradeCommand,
  UpgradeSocket,
  writePidFile,
} from './upgrade.ts'
import {
  reportWorkerReady,
  superviseWorkers,
  UPGRADE_REQUEST_MESSAGE,
  UPGRADE_RESULT_MESSAGE,
  WORKER_INDEX_ENV,
  type WorkerSupervisor,
  workerIndex,
} from './workers.ts'

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
  #upgrading: Promise<Successor> | undefined
  #upgradeSocket: UpgradeSocket | undefined
  #pidFile: string | undefined
  #forever: boolean

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
    this.#upgrading = undefined
    this.#upgradeSocket = undefined
    this.#pidFile = undefined
    this.#forever = false
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
   * Runs the process as Pingora's `run_forever` does, then exits it:
   * - `-u` (and not started by an upgrade): asks the running instance on `upgrade_sock` to
   *   upgrade to this program, prints the outcome and exits 0 once the new process is ready
   *   (1 if the upgrade failed); this process serves nothing.
   * - `daemon` (and not started by a daemon launch): starts the program again in the
   *   background (own session, output to `error_log`, cwd `working_directory`) and exits 0, at
   *   once or, with `daemon_wait_for_ready`, once its listeners accept (1 when it failed or
   *   `daemon_ready_timeout_seconds` passed).
   * - otherwise serves until SIGTERM (graceful shutdown), SIGINT (fast shutdown; a second one
   *   during a graceful shutdown ends it at once) or SIGQUIT/SIGHUP (graceful upgrade: see
   *   {@link Server.upgrade}), then exits 0. A daemon writes `pid_file` once listening and
   *   removes it at exit unless an upgrade handed it on. A start failure (an address in use:
   *   `BindError`) prints `cannot start: <error>` on one line to stderr and exits 1.
   * In the first two cases {@link Server.start} never resolves, so code after it does not run.
   */
  runForever(): void {
    const conf = this.configuration
    if (this.options?.upgrade === true && !STARTED_BY_PINGORA && !cluster.isWorker) {
      this.#startPromise = new Promise<void>(noop)
      requestUpgrade(conf.upgradeSock).then(
        (successor) => {
          process.stdout.write(`upgraded: the new process ${successor.pid} is ready\n`)
          process.exit(0)
        },
        (error: unknown) => {
          process.stderr.write(`upgrade failed: ${errorLine(error)}\n`)
          process.exit(1)
        },
      )
      return
    }
    if (conf.daemon && !STARTED_BY_PINGORA && !cluster.isWorker) {
      this.#startPromise = new Promise<void>(noop)
      this.#daemonize().then(
        () => process.exit(0),
        (error: unknown) => {
          process.stderr.write(`daemon failed: ${errorLine(error)}\n`)
          process.exit(1)
        },
      )
      return
    }
    if (conf.threads > 1 && cluster.isPrimary) {
      this.#startPromise = new Promise<void>(noop)
      this.#superviseWorkers()
      return
    }
    this.#forever = true
    const watch = new UnixShutdownSignalWatch()
    this.run({ shutdownSignal: watch }).then(
      () => process.exit(0),
      (error: unknown) => {
        // Pingora panics on a failed bind; a program should say why in one line instead.
        exitCannotStart(error)
      },
    )
    // The process exits on a failed start (above): a later `await server.start()` in the
    // program must not see the rejection first and crash with a stack trace.
    const started = this.#startPromise
    if (started !== undefined) this.#startPromise = started.catch(() => new Promise<void>(noop))
  }

  /**
   * The primary of `threads` > 1: runs the workers, relays SIGTERM/SIGINT, owns the pid file and
   * `upgrade_sock`. A graceful upgrade (SIGQUIT, SIGHUP, `-u`) goes through a worker, which holds
   * the listening sockets: it starts the new program with them inherited; once that one (a new
   * primary, with new workers on the same sockets) is ready, this one drains its workers and
   * exits.
   */
  #superviseWorkers(): void {
    const conf = this.configuration
    const watch = new UnixShutdownSignalWatch()
    let request: (kind: 'graceful' | 'fast') => void = noop
    const shutdownRequested = new Promise<'graceful' | 'fast'>((resolve) => {
      request = resolve
    })
    // Sockets this primary inherited in an upgrade: its workers listen on them through it.
    const inherited = processListenFds.inheritedEntries()
    const supervisor = superviseWorkers({
      count: conf.threads,
      shutdownRequested,
      env: inherited.length > 0 ? { [PRIMARY_LISTEN_FDS_ENV]: JSON.stringify(inherited) } : {},
      onReady: () => {
        try {
          this.#becomeRunningInstance()
        } catch (error) {
          publishServerError(error, 'daemon setup failed')
        }
        this.#setPhase('Running')
        reportReady()
        if (conf.upgradeSock !== undefined) {
          const socket = new UpgradeSocket(conf.upgradeSock, (command) => upgrade(command))
          socket.open().then(
            () => {
              this.#upgradeSocket = socket
            },
            (error: unknown) => publishServerError(error, 'cannot listen on upgrade_sock'),
          )
        }
      },
    })
    const upgrade = (command: UpgradeCommand): Promise<Successor> => {
      if (this.#upgrading !== undefined) {
        return Promise.reject(
          PingoraError.internal('InternalError', 'an upgrade is already under way'),
        )
      }
      if (this.#phase !== 'Running') {
        return Promise.reject(
          PingoraError.internal('InternalError', `cannot upgrade a server in phase ${this.#phase}`),
        )
      }
      const upgrading = this.#upgradeThroughWorker(command, supervisor, () => request('graceful'))
      this.#upgrading = upgrading
      const clear = (): void => {
        this.#upgrading = undefined
      }
      upgrading.then(clear, clear)
      return upgrading
    }
    void (async () => {
      for (;;) {
        const signal = await watch.recv()
        if (signal === 'GracefulUpgrade') {
          upgrade(currentCommand()).catch(noop)
          continue
        }
        this.#setPhase(signal === 'FastShutdown' ? 'ShutdownStarted' : 'GracefulTerminate')
        request(signal === 'FastShutdown' ? 'fast' : 'graceful')
        if (signal === 'FastShutdown') return
      }
    })()
    supervisor.done.then(() => {
      watch.close()
      this.#upgradeSocket?.close()
      if (this.#pidFile !== undefined) removeOwnPidFile(this.#pidFile)
      this.#setPhase('Terminated')
      process.exit(0)
    }, noop)
  }

  /** The primary's side of an upgrade: a worker starts the successor, then the workers drain. */
  async #upgradeThroughWorker(
    command: UpgradeCommand,
    supervisor: WorkerSupervisor,
    drain: () => void,
  ): Promise<Successor> {
    this.#setPhase('GracefulUpgradeTransferringFds')
    // The new primary listens on upgrade_sock itself: free the path (reopened on failure).
    const socket = this.#upgradeSocket
    socket?.close()
    const answer = await supervisor.askUpgrade({ command })
    if (answer.pid === undefined) {
      this.#setPhase('Running')
      if (socket !== undefined) await socket.open().catch(noop)
      const error = PingoraError.internal(
        'InternalError',
        `upgrade failed: ${answer.error ?? 'no answer'}`,
      )
      publishServerError(error, 'graceful upgrade failed')
      throw error
    }
    // The new primary owns the pid file now (it wrote it before reporting ready).
    this.#pidFile = undefined
    this.#upgradeSocket = undefined
    this.#setPhase('GracefulUpgradeCloseTimeout')
    drain()
    return { pid: answer.pid }
  }

  /**
   * A worker's side of an upgrade of `threads` > 1: on its primary's request, starts the new
   * program with this worker's listening sockets inherited and answers with its pid once ready.
   */
  #serveUpgradeRequests(): void {
    process.on('message', (message: unknown) => {
      const request = message as { type?: unknown; command?: UpgradeCommand } | null
      if (request?.type !== UPGRADE_REQUEST_MESSAGE || request.command === undefined) return
      const env = { ...request.command.env }
      // The successor is a primary of its own, not a worker of ours.
      delete env.NODE_UNIQUE_ID
      delete env[WORKER_INDEX_ENV]
      spawnSuccessor({ ...request.command, env }, processListenFds.listening(), {
        timeoutMs: UPGRADE_READY_TIMEOUT_MS,
        detached: this.configuration.daemon,
      }).then(
        (successor) => {
          // Closing our listeners must not remove the Unix socket files the new process uses.
          processListenFds.handOver()
          process.send?.({ type: UPGRADE_RESULT_MESSAGE, pid: successor.pid })
        },
        (error: unknown) => {
          process.send?.({ type: UPGRADE_RESULT_MESSAGE, error: errorLine(error) })
        },
      )
    })
  }

  async #daemonize(): Promise<void> {
    const conf = this.configuration
    const output = conf.errorLog === undefined ? 'ignore' : openSync(conf.errorLog, 'a')
    // Started in this directory (relative paths of the command line, `--import` specifiers
    // resolve as here); the daemon moves to `working_directory` once listening.
    await spawnSuccessor(currentCommand(), [], {
      timeoutMs: (conf.daemonReadyTimeoutSeconds ?? DEFAULT_DAEMON_READY_TIMEOUT_SECONDS) * 1000,
      detached: true,
      output,
      noWait: !conf.daemonWaitForReady,
    })
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
      // Inherited sockets no endpoint took would otherwise stay open (and queue connections).
      processListenFds.closeUnused()
      if (this.#forever) this.#becomeRunningInstance()
    } catch (error) {
      await this.shutdown({ graceful: false })
      throw error
    }
    this.#setPhase('Running')
    // Last: once the old process (or the launching command) hears this, it lets go.
    if (cluster.isWorker) {
      reportWorkerReady()
      if (this.#forever) this.#serveUpgradeRequests()
      return
    }
    reportReady()
    if (this.#forever) await this.#openUpgradeSocket()
  }

  /** The daemon's duties once listening: pid file, then the user and group it runs as. */
  #becomeRunningInstance(): void {
    const conf = this.configuration
    if (!conf.daemon) return
    // With worker processes the primary owns the pid file.
    if (!cluster.isWorker) {
      writePidFile(conf.pidFile)
      this.#pidFile = conf.pidFile
    }
    try {
      if (conf.workingDirectory !== undefined) process.chdir(conf.workingDirectory)
      if (conf.group !== undefined) process.setgid?.(conf.group)
      if (conf.user !== undefined) process.setuid?.(conf.user)
    } catch (error) {
      throw PingoraError.internal(
        'InternalError',
        `cannot switch to working directory ${conf.workingDirectory ?? '-'}, user ${conf.user ?? '-'}, group ${conf.group ?? '-'}`,
        error,
      )
    }
  }

  async #openUpgradeSocket(): Promise<void> {
    const socket = new UpgradeSocket(this.configuration.upgradeSock, (command) =>
      this.upgrade(command),
    )
    try {
      await socket.open()
      this.#upgradeSocket = socket
    } catch (error) {
      // Upgrades through signals still work; say why `-u` will not.
      publishServerError(error, 'cannot listen on upgrade_sock')
    }
  }

  /**
   * Hands the listening sockets to a new process and, once it reports ready, shuts this one down
   * gracefully (Pingora's graceful upgrade, through descriptor inheritance rather than a Unix
   * socket; see ADR 0014). The new process runs `command` with the sockets inherited, takes them
   * over (for the same addresses), writes the pid file, then reports ready; until then this
   * process keeps serving, and if it fails this process stays the running instance.
   * Called on SIGQUIT and SIGHUP by {@link Server.runForever}, and for `-u` requests.
   * @param command - the program to start @defaultValue this process's own command line
   * @returns the new process, once ready
   * @throws PingoraError when an upgrade is under way, the server is not running, or the new
   *   process exited or was not ready within {@link UPGRADE_READY_TIMEOUT_MS}
   */
  upgrade(command: UpgradeCommand = currentCommand()): Promise<Successor> {
    if (this.#upgrading !== undefined) {
      return Promise.reject(
        PingoraError.internal('InternalError', 'an upgrade is already under way'),
      )
    }
    if (this.#phase !== 'Running') {
      return Promise.reject(
        PingoraError.internal('InternalError', `cannot upgrade a server in phase ${this.#phase}`),
      )
    }
    const upgrading = this.#runUpgrade(command)
    this.#upgrading = upgrading
    upgrading.then(
      () => {
        this.#upgrading = undefined
      },
      () => {
        this.#upgrading = undefined
      },
    )
    return upgrading
  }

  async #runUpgrade(command: UpgradeCommand): Promise<Successor> {
    this.#setPhase('GracefulUpgradeTransferringFds')
    // The new process listens on upgrade_sock itself: free the path (we reopen it on failure).
    const socket = this.#upgradeSocket
    socket?.close()
    let successor: Successor
    try {
      successor = await spawnSuccessor(command, processListenFds.listening(), {
        timeoutMs: UPGRADE_READY_TIMEOUT_MS,
        detached: this.configuration.daemon,
      })
    } catch (error) {
      this.#setPhase('Running')
      if (socket !== undefined) await socket.open().catch(noop)
      publishServerError(error, 'graceful upgrade failed')
      throw error
    }
    // The new process owns the pid file now (it wrote it before reporting ready).
    this.#pidFile = undefined
    // Closing our listeners must not remove the Unix socket files the new process uses.
    processListenFds.handOver()
    this.#setPhase('GracefulUpgradeCloseTimeout')
    void this.shutdown({ graceful: true })
    return successor
  }

  async #runService(entry: ServiceEntry): Promise<void> {
    if (entry.service.workers === 'one' && (workerIndex() ?? 0) > 0) {
      // Runs in worker 0 only: here it counts as ready (for dependents) and done.
      entry.ready.notifyReady()
      return
    }
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
    this.#upgradeSocket?.close()
    this.#upgradeSocket = undefined
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
    if (this.#pidFile !== undefined) removeOwnPidFile(this.#pidFile)
    this.#setPhase('Terminated')
    this.#resolveTerminated()
  }

  async #watchSignals(watch: ShutdownSignalWatch): Promise<void> {
    const terminated = this.#terminated.then(() => undefined)
    for (;;) {
      const signal = await Promise.race([watch.recv(), terminated])
      if (signal === undefined) return
      if (signal === 'GracefulUpgrade') {
        // Workers leave upgrades to their primary.
        if (cluster.isWorker) continue
        // A failed upgrade leaves this process running (published on pingora:server:error).
        this.upgrade().catch(noop)
        continue
      }
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

function errorLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error)
  return message.split('\n')[0] ?? message
}

function publishServerError(error: unknown, context: string): void {
  if (!channels.serverError.hasSubscribers) return
  channels.serverError.publish({
    error: PingoraError.from(error, 'InternalError', context, 'internal'),
    service: undefined,
  })
}
