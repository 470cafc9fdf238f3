import type { Backend } from '../backend.ts'
import {
  type BackendIter,
  type BackendSelection,
  type BackendStatus,
  DEFAULT_SELECTION_CONTEXT,
  EMPTY_ITER,
} from './backend-selection.ts'
import { RotatingIter } from './smooth-weighted-round-robin.ts'

/**
 * Weighted least connections, nginx's `least_conn`: picks the backend with the fewest in-flight
 * requests relative to its weight (`inFlight / weight`, compared without division); ties are
 * broken by smooth weighted round robin, so idle backends still share traffic by weight.
 *
 * In-flight counts come from {@link LoadBalancer.selectLease}: a lease counts from selection
 * until `release()`. Plain {@link LoadBalancer.select} calls are not counted. Backends that are
 * not ready are left out (an unhealthy backend, having no leases, would otherwise always look
 * least loaded). O(n) per pick; fallbacks are the other backends in list order.
 */
export class LeastConnections implements BackendSelection {
  /** The backends, in build order. */
  readonly backends: readonly Backend[]
  readonly #statuses: readonly BackendStatus[]
  readonly #weights: Float64Array
  readonly #current: Float64Array

  private constructor(backends: readonly Backend[], statuses: readonly BackendStatus[]) {
    this.backends = backends
    this.#statuses = statuses
    this.#weights = Float64Array.from(backends, (backend) => backend.weight)
    this.#current = new Float64Array(backends.length)
  }

  /**
   * Builds a least-connections selection over `backends`.
   * @param backends - the backends
   * @param context - supplies the live in-flight counts and readiness
   */
  static build(
    backends: readonly Backend[],
    context = DEFAULT_SELECTION_CONTEXT,
  ): LeastConnections {
    return new LeastConnections(
      backends,
      backends.map((backend) => context.status(backend)),
    )
  }

  /** Picks the least loaded ready backend; the key is ignored. */
  iter(_key: Uint8Array): BackendIter {
    const n = this.backends.length
    if (n === 0) return EMPTY_ITER
    // An unhealthy backend has no leases, so it would always look least loaded: leave out the
    // backends that are not ready (all take part when none is).
    let best = this.#pick(true)
    if (best < 0) best = this.#pick(false)
    return new RotatingIter(this.backends, best)
  }

  #pick(readyOnly: boolean): number {
    const n = this.backends.length
    const statuses = this.#statuses
    const weights = this.#weights
    // Pass 1: the lowest inFlight/weight, and how many backends share it.
    let best = -1
    let bestInFlight = 0
    let bestWeight = 1
    let ties = 0
    for (let i = 0; i < n; i++) {
      const status = statuses[i] as BackendStatus
      if (readyOnly && !status.ready) continue
      const inFlight = status.inFlight
      const weight = weights[i] as number
      const lhs = inFlight * bestWeight
      const rhs = bestInFlight * weight
      if (best < 0 || lhs < rhs) {
        best = i
        bestInFlight = inFlight
        bestWeight = weight
        ties = 1
      } else if (lhs === rhs) {
        ties++
      }
    }
    if (ties > 1) {
      // Pass 2: smooth weighted round robin among the tied backends (as nginx does).
      const current = this.#current
      let total = 0
      let bestScore = Number.NEGATIVE_INFINITY
      const first = best
      for (let i = first; i < n; i++) {
        const status = statuses[i] as BackendStatus
        if (readyOnly && !status.ready) continue
        const weight = weights[i] as number
        if (status.inFlight * bestWeight !== bestInFlight * weight) continue
        const score = (current[i] as number) + weight
        current[i] = score
        total += weight
        if (score > bestScore) {
          best = i
          bestScore = score
        }
      }
      current[best] = bestScore - total
    }
    return best
  }
}
