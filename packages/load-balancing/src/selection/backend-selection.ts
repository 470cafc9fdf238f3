import type { Backend } from '../backend.ts'

/**
 * The candidates of one selection, best first. Port of Pingora's `BackendIter`.
 *
 * The first item is the algorithm's choice; callers move on to the next one when a candidate
 * cannot be used (unhealthy, disabled, just failed). An iterator may repeat backends and may be
 * endless; {@link LoadBalancer.select} deduplicates and bounds it with `maxIterations`.
 */
export interface BackendIter {
  /** Returns the next candidate, or `undefined` when there are none left. */
  next(): Backend | undefined
}

/**
 * A load-balancing algorithm built over a fixed list of backends. Port of Pingora's
 * `BackendSelection` trait.
 *
 * Implement it (and a {@link BackendSelectionBuilder} for it, usually a static `build` on the
 * class) to plug your own algorithm into {@link LoadBalancer}. A selection is immutable as far as
 * the backend list goes: when the list changes, the load balancer builds a new one and swaps it in.
 */
export interface BackendSelection {
  /**
   * Returns the candidates for `key` in the algorithm's order.
   * @param key - the hashing key; ignored by algorithms that do not hash
   */
  iter(key: Uint8Array): BackendIter
}

/** The live status of one backend, kept by the {@link LoadBalancer} across rebuilds. */
export interface BackendStatus {
  /** Requests currently holding a lease on this backend ({@link LoadBalancer.selectLease}). */
  readonly inFlight: number
  /** Whether the backend may receive traffic now: healthy and enabled. */
  readonly ready: boolean
}

/**
 * What a {@link BackendSelectionBuilder} gets besides the backends: randomness and live status.
 */
export interface SelectionContext {
  /** Returns a uniformly distributed number in `[0, 1)`; inject a seeded one in tests. */
  readonly random: () => number
  /**
   * The live status (in-flight count, readiness) of `backend`. The returned object is updated in
   * place, so a selection may keep it and read it at every pick. Stateful algorithms use
   * `ready` to leave unhealthy backends out of their bookkeeping, as nginx does with down peers.
   * @param backend - one of the backends being built over
   */
  status(backend: Backend): BackendStatus
}

/**
 * Builds a {@link BackendSelection} from backends: the value passed to
 * `LoadBalancer.tryFromIter(RoundRobin, ...)`. Every built-in algorithm class is one through its
 * static `build`.
 */
export interface BackendSelectionBuilder<S extends BackendSelection = BackendSelection> {
  /**
   * Builds the selection.
   * @param backends - the backends, sorted by {@link Backend.compare} and without duplicates
   * @param context - randomness and live status
   */
  build(backends: readonly Backend[], context: SelectionContext): S
}

const IDLE_READY: BackendStatus = Object.freeze({ inFlight: 0, ready: true })

/**
 * The context used when a selection is built without a load balancer: `Math.random`, every
 * backend idle and ready.
 * @internal
 */
export const DEFAULT_SELECTION_CONTEXT: SelectionContext = Object.freeze({
  random: Math.random,
  status: () => IDLE_READY,
})

/**
 * An iterator that yields nothing (selections over no backends).
 * @internal
 */
export const EMPTY_ITER: BackendIter = Object.freeze({ next: () => undefined })
