import type { ShutdownWatch } from '../server/shutdown-watch.ts'

/**
 * Something the {@link Server} runs: a listening service, a background task (Pingora's
 * `ServiceWithDependents`). Port of `pingora-core/src/services/mod.rs`.
 *
 * Lifecycle: the server calls {@link Service.start} once, after the services it depends on are
 * ready. On shutdown it aborts `shutdown`, waits up to the grace period for `start` to settle,
 * then calls {@link Service.stop} to end whatever is left.
 */
export interface Service {
  /** The name, for diagnostics. */
  readonly name: string
  /**
   * Preferred worker count. Recorded for the multi-worker server to come; a single Node
   * process runs every service on its event loop. `undefined` follows `ServerConf.threads`.
   */
  readonly threads?: number | undefined
  /**
   * With worker processes (`ServerConf.threads` > 1): `'all'` runs the service in every worker,
   * `'one'` only in the first worker slot (a task that must not run N times, e.g. pushing
   * metrics). A single process runs it either way. @defaultValue `'all'`
   */
  readonly workers?: 'all' | 'one' | undefined
  /**
   * Runs the service. Call `ready.notifyReady()` once it can serve (listeners bound);
   * settling the promise counts as ready too. Resolve once everything the service started has
   * finished after `shutdown` aborted. A rejection before ready fails `Server.start`.
   * @param shutdown - aborted when the server starts to shut down
   * @param ready - tells dependent services they may start
   */
  start(shutdown: ShutdownWatch, ready: ServiceReadyNotifier): Promise<void>
  /**
   * Ends remaining work now (destroy connections): called when the grace period is over or on a
   * fast shutdown; `start` should settle soon after. Default: nothing.
   */
  stop?(): void
}

/**
 * Tells the server and dependent services that a service is ready to serve (Pingora's
 * `ServiceReadyNotifier`).
 */
export class ServiceReadyNotifier {
  /** Resolves when the service is ready; rejects when it failed before becoming ready. */
  readonly ready: Promise<void>
  #resolve: () => void
  #reject: (error: unknown) => void
  #settled: boolean

  /** Creates a notifier that is not ready yet. */
  constructor() {
    let resolve: () => void = noop
    let reject: (error: unknown) => void = noop
    this.ready = new Promise<void>((res, rej) => {
      resolve = res
      reject = rej
    })
    // A failure is reported through Server.start; do not let it become an unhandled rejection.
    this.ready.catch(noop)
    this.#resolve = resolve
    this.#reject = reject
    this.#settled = false
  }

  /** Whether ready (or failed) has been signalled. */
  get isSettled(): boolean {
    return this.#settled
  }

  /** Signals that the service is ready. Later calls do nothing. */
  notifyReady(): void {
    if (this.#settled) return
    this.#settled = true
    this.#resolve()
  }

  /**
   * Signals that the service failed before becoming ready. Does nothing once ready.
   * @param error - why
   */
  fail(error: unknown): void {
    if (this.#settled) return
    this.#settled = true
    this.#reject(error)
  }
}

function noop(): void {}
