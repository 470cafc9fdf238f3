/**
 * The signal every service, app and connection handler receives: it is aborted when the server
 * starts to shut down (Pingora's `ShutdownWatch`, a `watch<bool>` that flips to `true`).
 *
 * On a graceful shutdown it aborts first and the server then waits up to
 * `gracePeriodSeconds` for work to finish. React to it by:
 * - stopping to take new work (listeners stop accepting on their own),
 * - closing idle connections (`Http1ServerSession` does this for keep-alive connections),
 * - answering in-flight requests with `Connection: close`,
 * - returning from `BackgroundService.start`.
 *
 * On a fast shutdown it aborts and remaining connections are destroyed right away.
 *
 * @example
 * ```ts
 * async start(shutdown: ShutdownWatch) {
 *   while (!shutdown.aborted) await sleep(1000, { signal: shutdown }).catch(() => {})
 * }
 * ```
 */
export type ShutdownWatch = AbortSignal

/** Why the server shuts down (Pingora's `ShutdownSignal`). */
export type ShutdownSignal =
  /** SIGQUIT or SIGHUP: hand the listening sockets to a new process, then terminate gracefully. */
  | 'GracefulUpgrade'
  /** SIGTERM: stop accepting, let in-flight work finish within the grace period. */
  | 'GracefulTerminate'
  /** SIGINT: stop now. */
  | 'FastShutdown'

/**
 * A source of shutdown requests (Pingora's `ShutdownSignalWatch`), passed to `Server.run`.
 * Each call to {@link ShutdownSignalWatch.recv} resolves with the next request: a
 * `FastShutdown` received during a graceful shutdown cuts the grace period short.
 */
export interface ShutdownSignalWatch {
  /** Resolves with the next shutdown request. */
  recv(): Promise<ShutdownSignal>
  /** Stops watching (removes process listeners); called when the server has terminated. */
  close?(): void
}

const SIGNALS: ReadonlyArray<readonly [NodeJS.Signals, ShutdownSignal]> = [
  ['SIGQUIT', 'GracefulUpgrade'],
  ['SIGHUP', 'GracefulUpgrade'],
  ['SIGTERM', 'GracefulTerminate'],
  ['SIGINT', 'FastShutdown'],
]

/**
 * Watches the process signals Pingora reacts to: SIGTERM (graceful terminate), SIGINT (fast
 * shutdown) and SIGQUIT (graceful upgrade), plus SIGHUP (graceful upgrade too, the reload
 * signal most service managers send). Installing it replaces Node's default "exit at
 * once" for these signals until {@link UnixShutdownSignalWatch.close}.
 */
export class UnixShutdownSignalWatch implements ShutdownSignalWatch {
  readonly #pending: ShutdownSignal[]
  #waiter: ((signal: ShutdownSignal) => void) | undefined
  readonly #listeners: Array<readonly [NodeJS.Signals, () => void]>

  /** Installs the process signal listeners. */
  constructor() {
    this.#pending = []
    this.#waiter = undefined
    this.#listeners = []
    for (const [name, signal] of SIGNALS) {
      // SIGQUIT does not exist on Windows; Node would throw when listening to it.
      if (process.platform === 'win32' && (name === 'SIGQUIT' || name === 'SIGHUP')) continue
      const listener = (): void => this.#deliver(signal)
      process.on(name, listener)
      this.#listeners.push([name, listener])
    }
  }

  /** Resolves with the next signal received. */
  recv(): Promise<ShutdownSignal> {
    const next = this.#pending.shift()
    if (next !== undefined) return Promise.resolve(next)
    return new Promise((resolve) => {
      this.#waiter = resolve
    })
  }

  /** Removes the process signal listeners. */
  close(): void {
    for (const [name, listener] of this.#listeners) process.off(name, listener)
    this.#listeners.length = 0
  }

  #deliver(signal: ShutdownSignal): void {
    const waiter = this.#waiter
    if (waiter === undefined) {
      this.#pending.push(signal)
      return
    }
    this.#waiter = undefined
    waiter(signal)
  }
}
