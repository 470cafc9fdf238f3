import type { ShutdownWatch } from '../server/shutdown-watch.ts'
import type { Service, ServiceReadyNotifier } from './service.ts'

/**
 * A task that runs for the life of the server (Pingora's `BackgroundService`): health checks,
 * service discovery, metrics flushing. Port of `pingora-core/src/services/background.rs`.
 *
 * @example
 * ```ts
 * const refresher: BackgroundService = {
 *   async start(shutdown) {
 *     while (!shutdown.aborted) {
 *       await refresh()
 *       await sleep(5_000, { signal: shutdown }).catch(() => {})
 *     }
 *   },
 * }
 * server.addService(backgroundService('refresher', refresher))
 * ```
 */
export interface BackgroundService {
  /**
   * Runs the task; return once `shutdown` aborts.
   * @param shutdown - aborted when the server starts to shut down
   */
  start(shutdown: ShutdownWatch): Promise<void>
  /**
   * Runs the task and says when it is ready, for services that depend on it. Default: signal
   * ready at once, then call {@link BackgroundService.start}.
   * @param shutdown - aborted when the server starts to shut down
   * @param ready - call `notifyReady()` once ready
   */
  startWithReadyNotifier?(shutdown: ShutdownWatch, ready: ServiceReadyNotifier): Promise<void>
}

/**
 * A {@link Service} that runs a {@link BackgroundService} (Pingora's `GenBackgroundService`).
 * Create it with {@link backgroundService}.
 */
export class GenBackgroundService<T extends BackgroundService = BackgroundService>
  implements Service
{
  /** The service name: `BG <name>`. */
  readonly name: string
  /** The task; share it with other services (e.g. a health-checked backend list). */
  readonly task: T
  /** Preferred worker count. @defaultValue `1` */
  threads: number | undefined
  /** Whether every worker process runs the task or only the first one. @defaultValue `'all'` */
  workers: 'all' | 'one'

  /**
   * Wraps a task.
   * @param name - the full service name
   * @param task - the task
   */
  constructor(name: string, task: T) {
    this.name = name
    this.task = task
    this.threads = 1
    this.workers = 'all'
  }

  /**
   * Runs the task until it returns.
   * @param shutdown - aborted when the server starts to shut down
   * @param ready - signalled ready before the task starts, unless the task signals it itself
   */
  async start(shutdown: ShutdownWatch, ready: ServiceReadyNotifier): Promise<void> {
    if (this.task.startWithReadyNotifier !== undefined) {
      await this.task.startWithReadyNotifier(shutdown, ready)
      return
    }
    ready.notifyReady()
    await this.task.start(shutdown)
  }
}

/**
 * Creates a background service named `BG <name>` (Pingora's `background_service`).
 * @param name - the name
 * @param task - the task
 */
export function backgroundService<T extends BackgroundService>(
  name: string,
  task: T,
): GenBackgroundService<T> {
  return new GenBackgroundService(`BG ${name}`, task)
}
