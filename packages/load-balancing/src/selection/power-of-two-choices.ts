import type { Backend } from '../backend.ts'
import {
  type BackendIter,
  type BackendSelection,
  type BackendStatus,
  DEFAULT_SELECTION_CONTEXT,
  EMPTY_ITER,
} from './backend-selection.ts'

/** Candidates: the chosen backend, the one it beat, then the rest in list order. */
class TwoChoicesIter implements BackendIter {
  readonly #backends: readonly Backend[]
  readonly #chosen: number
  readonly #other: number
  #step = 0

  constructor(backends: readonly Backend[], chosen: number, other: number) {
    this.#backends = backends
    this.#chosen = chosen
    this.#other = other
  }

  next(): Backend | undefined {
    const n = this.#backends.length
    while (this.#step <= n) {
      const step = this.#step++
      if (step === 0) return this.#backends[this.#chosen]
      if (step === 1) {
        if (this.#other !== this.#chosen) return this.#backends[this.#other]
        continue
      }
      // Steps 2..n: every backend but the chosen one, in list order, minus the other draw.
      const index = (this.#chosen + step - 1) % n
      if (index !== this.#other) return this.#backends[index]
    }
    return undefined
  }
}

/**
 * Power of two choices: draws two backends at random (weighted, distinct when there are two or
 * more) and takes the one with fewer in-flight requests relative to its weight; the first draw
 * wins ties, and a ready backend always beats one that is not. Close to least connections in balance at O(1) per pick, and without herding onto
 * one backend when several load balancers share stale counts.
 *
 * In-flight counts come from {@link LoadBalancer.selectLease}. Randomness comes from the
 * context. Fallbacks: the other draw, then the rest in list order.
 */
export class PowerOfTwoChoices implements BackendSelection {
  /** The backends, in build order. */
  readonly backends: readonly Backend[]
  readonly #statuses: readonly BackendStatus[]
  readonly #random: () => number
  /** Cumulative weights: backend i covers `[cumulative[i-1], cumulative[i])`. */
  readonly #cumulative: Float64Array

  private constructor(
    backends: readonly Backend[],
    statuses: readonly BackendStatus[],
    random: () => number,
  ) {
    this.backends = backends
    this.#statuses = statuses
    this.#random = random
    this.#cumulative = new Float64Array(backends.length)
    let total = 0
    for (let i = 0; i < backends.length; i++) {
      total += (backends[i] as Backend).weight
      this.#cumulative[i] = total
    }
  }

  /**
   * Builds a power-of-two-choices selection over `backends`.
   * @param backends - the backends
   * @param context - supplies randomness, the live in-flight counts and readiness
   */
  static build(
    backends: readonly Backend[],
    context = DEFAULT_SELECTION_CONTEXT,
  ): PowerOfTwoChoices {
    return new PowerOfTwoChoices(
      backends,
      backends.map((backend) => context.status(backend)),
      context.random,
    )
  }

  /** Draws a backend index with probability proportional to its weight (binary search). */
  #draw(): number {
    const cumulative = this.#cumulative
    const target = this.#random() * (cumulative[cumulative.length - 1] as number)
    let low = 0
    let high = cumulative.length - 1
    while (low < high) {
      const mid = (low + high) >>> 1
      if ((cumulative[mid] as number) > target) high = mid
      else low = mid + 1
    }
    return low
  }

  /** Picks the less loaded of two weighted random draws; the key is ignored. */
  iter(_key: Uint8Array): BackendIter {
    const n = this.backends.length
    if (n === 0) return EMPTY_ITER
    const a = this.#draw()
    if (n === 1) return new TwoChoicesIter(this.backends, a, a)
    let b = this.#draw()
    // Redraw a bounded number of times for a distinct second choice (heavy weights collide).
    for (let tries = 0; b === a && tries < 8; tries++) b = this.#draw()
    if (b === a) b = (a + 1) % n
    const statusA = this.#statuses[a] as BackendStatus
    const statusB = this.#statuses[b] as BackendStatus
    // A ready backend beats one that is not; then the lower in-flight count per weight wins.
    if (statusA.ready !== statusB.ready) {
      return statusA.ready
        ? new TwoChoicesIter(this.backends, a, b)
        : new TwoChoicesIter(this.backends, b, a)
    }
    const loadA = statusA.inFlight * (this.backends[b] as Backend).weight
    const loadB = statusB.inFlight * (this.backends[a] as Backend).weight
    return loadB < loadA
      ? new TwoChoicesIter(this.backends, b, a)
      : new TwoChoicesIter(this.backends, a, b)
  }
}
