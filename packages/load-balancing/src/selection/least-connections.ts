import type { Backend } from '../backend.ts'
import {
  type BackendIter,
  type BackendLoad,
  type BackendSelection,
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
 * until `release()`. Plain {@link LoadBalancer.select} calls are not counted. O(n) per pick;
 * fallbacks are the other backends in list order.
 */
export class LeastConnections implements BackendSelection {
  /** The backends, in build order. */
  readonly backends: readonly Backend[]
  readonly #loads: readonly BackendLoad[]
  readonly #weights: Float64Array
  readonly #current: Float64Array

  private constructor(backends: readonly Backend[], loads: readonly BackendLoad[]) {
    this.backends = backends
    this.#loads = loads
    this.#weights = Float64Array.from(backends, (backend) => backend.weight)
    this.#current = new Float64Array(backends.length)
  }

  /**
   * Builds a least-connections selection over `backends`.
   * @param backends - the backends
   * @param context - supplies the live in-flight counts
   */
  static build(
    backends: readonly Backend[],
    context = DEFAULT_SELECTION_CONTEXT,
  ): LeastConnections {
    return new LeastConnections(
      backends,
      backends.map((backend) => context.load(backend)),
    )
  }

  /** Picks the least loaded backend; the key is ignored. */
  iter(_key: Uint8Array): BackendIter {
    const backends = this.backends
    const n = backends.length
    if (n === 0) return EMPTY_ITER
    const loads = this.#loads
    const weights = this.#weights
    // Pass 1: the lowest inFlight/weight, and how many backends share it.
    let best = 0
    let bestInFlight = (loads[0] as BackendLoad).inFlight
    let bestWeight = weights[0] as number
    let ties = 1
    for (let i = 1; i < n; i++) {
      const inFlight = (loads[i] as BackendLoad).inFlight
      const weight = weights[i] as number
      const lhs = inFlight * bestWeight
      const rhs = bestInFlight * weight
      if (lhs < rhs) {
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
        const weight = weights[i] as number
        if ((loads[i] as BackendLoad).inFlight * bestWeight !== bestInFlight * weight) continue
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
    return new RotatingIter(backends, best)
  }
}
