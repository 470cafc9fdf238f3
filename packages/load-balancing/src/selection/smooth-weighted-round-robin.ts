import type { Backend } from '../backend.ts'
import {
  type BackendIter,
  type BackendSelection,
  type BackendStatus,
  DEFAULT_SELECTION_CONTEXT,
  EMPTY_ITER,
} from './backend-selection.ts'

/**
 * Candidates after a chosen index: the chosen backend, then the others in list order.
 * @internal
 */
export class RotatingIter implements BackendIter {
  readonly #backends: readonly Backend[]
  readonly #start: number
  #step = 0

  constructor(backends: readonly Backend[], start: number) {
    this.#backends = backends
    this.#start = start
  }

  next(): Backend | undefined {
    const n = this.#backends.length
    if (this.#step >= n) return undefined
    return this.#backends[(this.#start + this.#step++) % n]
  }
}

/**
 * Smooth weighted round robin, nginx's algorithm (`ngx_http_upstream_get_peer`): weights are
 * honoured exactly over every cycle and interleaved, so a heavy backend never gets a burst.
 * With weights 5,1,1 the order is `a a b a c a a`, repeated.
 *
 * Each pick adds every backend's weight to its running score, takes the highest score (the
 * first one on ties) and subtracts the total weight from it. One refinement over nginx: when the
 * winner was also the previous pick and its weight is at most half the total, the runner-up is
 * taken instead, so no backend gets two in a row when the weights allow otherwise (nginx's
 * sequence repeats across cycle boundaries). Backends that are not ready (unhealthy or drained)
 * sit out, as nginx's down peers do, so the others keep their relative shares. O(n) per pick. Fallbacks are the
 * other backends in list order. The scores restart when the backend list changes.
 */
export class SmoothWeightedRoundRobin implements BackendSelection {
  /** The backends, in build order. */
  readonly backends: readonly Backend[]
  readonly #statuses: readonly BackendStatus[]
  readonly #weights: Float64Array
  readonly #current: Float64Array
  #previous = -1

  private constructor(backends: readonly Backend[], statuses: readonly BackendStatus[]) {
    this.backends = backends
    this.#statuses = statuses
    this.#weights = Float64Array.from(backends, (backend) => backend.weight)
    this.#current = new Float64Array(backends.length)
  }

  /**
   * Builds a smooth weighted round robin over `backends`.
   * @param backends - the backends
   * @param context - supplies readiness, so unhealthy backends sit out of the rotation
   */
  static build(
    backends: readonly Backend[],
    context = DEFAULT_SELECTION_CONTEXT,
  ): SmoothWeightedRoundRobin {
    return new SmoothWeightedRoundRobin(
      backends,
      backends.map((backend) => context.status(backend)),
    )
  }

  /** Picks the next backend (advancing the scores); the key is ignored. */
  iter(_key: Uint8Array): BackendIter {
    const n = this.backends.length
    if (n === 0) return EMPTY_ITER
    // Like nginx, backends that are down take no part; when all are down, all take part (the
    // load balancer then finds none ready, unless `selectWith` accepts one).
    let best = this.#pick(true)
    if (best < 0) best = this.#pick(false)
    return new RotatingIter(this.backends, best)
  }

  #pick(readyOnly: boolean): number {
    const n = this.backends.length
    const weights = this.#weights
    const current = this.#current
    const statuses = this.#statuses
    let total = 0
    let best = -1
    let bestScore = Number.NEGATIVE_INFINITY
    let second = -1
    let secondScore = Number.NEGATIVE_INFINITY
    for (let i = 0; i < n; i++) {
      if (readyOnly && !(statuses[i] as BackendStatus).ready) continue
      const weight = weights[i] as number
      const score = (current[i] as number) + weight
      current[i] = score
      total += weight
      if (score > bestScore) {
        second = best
        secondScore = bestScore
        best = i
        bestScore = score
      } else if (score > secondScore) {
        second = i
        secondScore = score
      }
    }
    if (best < 0) return -1
    // The one refinement over nginx: never the same backend twice in a row when its weight is
    // at most half the total (a repeat-free interleaving exists). nginx repeats across cycle
    // boundaries, e.g. weights 2,1,1 give `a b c a a b c a`; this gives `a b c a b a c a`.
    if (best === this.#previous && second >= 0 && 2 * (weights[best] as number) <= total) {
      best = second
      bestScore = secondScore
    }
    current[best] = bestScore - total
    this.#previous = best
    return best
  }
}
