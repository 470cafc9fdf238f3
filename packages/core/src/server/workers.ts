import cluster, { type Worker } from 'node:cluster'
import { channels } from '../diagnostics.ts'

/** The environment variable carrying a worker's slot, `0` to `threads - 1`. */
export const WORKER_INDEX_ENV = 'PINGORA_WORKER_INDEX'

/** The first pause before a dead worker is replaced, in ms; it doubles while workers keep dying. */
export const WORKER_RESTART_MIN_MS = 100

/** The longest pause before a dead worker is replaced, in ms. */
export const WORKER_RESTART_MAX_MS = 30_000

/** A worker that lived this long resets its slot's backoff, in ms. */
const WORKER_STABLE_MS = 10_000

/** The message a worker sends its primary once its services are ready. */
const READY_MESSAGE = 'pingora:worker:ready'

/**
 * This process's worker slot when it is a worker of a multi-process server, else `undefined`.
 */
export function workerIndex(): number | undefined {
  if (!cluster.isWorker) return undefined
  const index = Number(process.env[WORKER_INDEX_ENV])
  return Number.isInteger(index) && index >= 0 ? index : undefined
}

/** Tells the primary that this worker's services are ready (does nothing outside a worker). */
export function reportWorkerReady(): void {
  if (cluster.isWorker) process.send?.(READY_MESSAGE)
}

/** What {@link superviseWorkers} needs. */
export interface WorkerSupervisorOptions {
  /** How many workers. */
  readonly count: number
  /** Called once, when every slot has a ready worker. */
  readonly onReady: () => void
  /** Resolves with the shutdown to perform: graceful (SIGTERM to workers) or fast (SIGINT). */
  readonly shutdownRequested: Promise<'graceful' | 'fast'>
  /** Extra environment of every worker (the listening sockets the primary inherited). */
  readonly env?: Readonly<Record<string, string>>
}

/** The message a primary sends the worker that is to start its successor (an upgrade). */
export const UPGRADE_REQUEST_MESSAGE = 'pingora:worker:upgrade'
/** The worker's answer to {@link UPGRADE_REQUEST_MESSAGE}. */
export const UPGRADE_RESULT_MESSAGE = 'pingora:worker:upgrade-result'

/** What a worker answers a primary's upgrade request with. */
export interface WorkerUpgradeResult {
  readonly type: typeof UPGRADE_RESULT_MESSAGE
  /** The new primary's pid once it reported ready. */
  readonly pid?: number
  /** Why the upgrade failed. */
  readonly error?: string
}

/** The supervisor of the worker processes. */
export interface WorkerSupervisor {
  /** Resolves once every worker exited after the shutdown was requested. */
  readonly done: Promise<void>
  /**
   * Asks one ready worker to start the successor program with the listening sockets it holds
   * (the primary has none of its own: `node:cluster` keeps them private) and relays its answer.
   * @param message - the request, passed to the worker as is
   * @returns the worker's answer
   */
  askUpgrade(message: object): Promise<WorkerUpgradeResult>
}

/**
 * Runs `count` worker processes of this program with `node:cluster` (the listening sockets are
 * shared handles the kernel balances, see ADR 0015): each runs the program's services. A worker
 * that dies is replaced after a pause that doubles from {@link WORKER_RESTART_MIN_MS} to
 * {@link WORKER_RESTART_MAX_MS} while its slot keeps failing; every exit is published on
 * `pingora:worker:exit`. Resolves once a requested shutdown has ended every worker.
 * @param options - worker count, readiness callback, shutdown request
 */
export function superviseWorkers(options: WorkerSupervisorOptions): WorkerSupervisor {
  // Shared handles: the primary binds, the workers accept (no accept loop in the primary).
  cluster.schedulingPolicy = cluster.SCHED_NONE
  const slots: Array<Worker | undefined> = []
  const failures: number[] = []
  const ready = new Set<number>()
  let stopping = false
  let announced = false
  const timers = new Set<NodeJS.Timeout>()

  const start = (index: number): void => {
    const worker = cluster.fork({ ...options.env, [WORKER_INDEX_ENV]: String(index) })
    const startedAt = Date.now()
    slots[index] = worker
    worker.on('message', (message: unknown) => {
      if (message !== READY_MESSAGE) return
      ready.add(index)
      if (!announced && ready.size === options.count) {
        announced = true
        options.onReady()
      }
    })
    worker.once('exit', (code, signal) => {
      slots[index] = undefined
      ready.delete(index)
      const lived = Date.now() - startedAt
      failures[index] = lived >= WORKER_STABLE_MS ? 0 : (failures[index] ?? 0) + 1
      const restartInMs = stopping
        ? undefined
        : Math.min(
            WORKER_RESTART_MAX_MS,
            WORKER_RESTART_MIN_MS * 2 ** Math.max(0, (failures[index] ?? 1) - 1),
          )
      if (channels.workerExit.hasSubscribers) {
        channels.workerExit.publish({
          index,
          pid: worker.process.pid,
          code,
          signal,
          restartInMs,
        })
      }
      if (restartInMs === undefined) {
        if (slots.every((slot) => slot === undefined)) allGone()
        return
      }
      const timer = setTimeout(() => {
        timers.delete(timer)
        if (!stopping) start(index)
      }, restartInMs)
      timers.add(timer)
    })
  }

  let allGone: () => void = () => {}
  const done = new Promise<void>((resolve) => {
    allGone = resolve
  })
  for (let index = 0; index < options.count; index++) start(index)
  void options.shutdownRequested.then((kind) => {
    stopping = true
    for (const timer of timers) clearTimeout(timer)
    timers.clear()
    const live = slots.filter((slot): slot is Worker => slot !== undefined)
    if (live.length === 0) {
      allGone()
      return
    }
    for (const worker of live) worker.process.kill(kind === 'graceful' ? 'SIGTERM' : 'SIGINT')
  })
  const askUpgrade = (message: object): Promise<WorkerUpgradeResult> => {
    const index = slots.findIndex((slot, i) => slot !== undefined && ready.has(i))
    const worker = index === -1 ? undefined : slots[index]
    if (worker === undefined || stopping) {
      return Promise.resolve({ type: UPGRADE_RESULT_MESSAGE, error: 'no ready worker' })
    }
    return new Promise<WorkerUpgradeResult>((resolve) => {
      const onMessage = (answer: unknown): void => {
        if ((answer as WorkerUpgradeResult | null)?.type !== UPGRADE_RESULT_MESSAGE) return
        worker.off('message', onMessage)
        worker.off('exit', onExit)
        resolve(answer as WorkerUpgradeResult)
      }
      const onExit = (): void => {
        worker.off('message', onMessage)
        resolve({ type: UPGRADE_RESULT_MESSAGE, error: 'the worker exited during the upgrade' })
      }
      worker.on('message', onMessage)
      worker.once('exit', onExit)
      worker.send({ ...message, type: UPGRADE_REQUEST_MESSAGE })
    })
  }
  return { done, askUpgrade }
}
