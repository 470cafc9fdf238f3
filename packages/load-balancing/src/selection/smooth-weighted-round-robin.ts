import type { Backend } from '../backend.ts'
import {
  type BackendIter,
  type BackendSelection,
  EMPTY_ITER,
  type SelectionContext,
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
 * sequence repeats across cycle boundaries). O(n) per pick. Fallbacks are the
 * other backends in list order. The scores restart when the backend list changes.
 */
export class SmoothWeightedRoundRobin implements BackendSelection {
  /** The backends, in build order. */
  readonly backends: readonly Backend[]
  readonly #weights: Float64Array
  readonly #current: Float64Array
  readonly #total: number
  #previous = -1

  private constructor(backends: readonly Backend[]) {
    this.backends = backends
    this.#weights = new Float64Array(backends.length)
    this.#current = new Float64Array(backends.length)
    let total = 0
    for (let i = 0; i < backends.length; i++) {
      const weight = (backends[i] as Backend).weight
      this.#weights[i] = weight
      total += weight
    }
    this.#total = total
  }

  /**
   * Builds a smooth weighted round robin over `backends`.
   * @param backends - the backends
   * @param _context - unused
   */
  static build(
    backends: readonly Backend[],
    _context?: SelectionContext,
  ): SmoothWeightedRoundRobin {
    return new SmoothWeightedRoundRobin(backends)
  }

  /** Picks the next backend (advancing the scores); the key is ignored. */
  iter(_key: Uint8Array): BackendIter {
    const n = this.backends.length
    if (n === 0) return EMPTY_ITER
    const weights = this.#weights
    const current = this.#current
    let best = 0
    let bestScore = Number.NEGATIVE_INFINITY
    let second = -1
    let secondScore = Number.NEGATIVE_INFINITY
    for (let i = 0; i < n; i++) {
      const score = (current[i] as number) + (weights[i] as number)
      current[i] = score
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
    // The one refinement over nginx: never the same backend twice in a row when its weight is
    // at most half the total (a repeat-free interleaving exists). nginx repeats across cycle
    // boundaries, e.g. weights 2,1,1 give `a b c a a b c a`; this gives `a b c a b a c a`.
    if (best === this.#previous && second >= 0 && 2 * (weights[best] as number) <= this.#total) {
      best = second
      bestScore = secondScore
    }
    current[best] = bestScore - this.#total
    this.#previous = best
    return new RotatingIter(this.backends, best)
  }
}
