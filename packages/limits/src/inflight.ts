import { Estimator, type EstimatorKey } from './estimator.ts'

/** Options for {@link Inflight}. */
export interface InflightOptions {
  /** Rows of the estimator. @defaultValue 4 */
  hashes?: number
  /** Counters per row. @defaultValue 8192 */
  slots?: number
  /** Hash seed for reproducible estimates. @defaultValue random */
  seed?: number
}

/**
 * Counts work in progress per key (Pingora's `Inflight`): {@link Inflight.incr} adds to the count
 * and returns a guard whose release takes it back off, once.
 *
 * ```ts
 * const inflight = new Inflight()
 * {
 *   using guard = inflight.incr(upstream) // released at the end of the block (Node >= 20.4 / TS 5.2)
 *   if (guard.count > 100) return reject()
 *   await forward()
 * }
 * // without `using`: try { ... } finally { guard.release() }
 * ```
 */
export class Inflight {
  readonly #estimator: Estimator

  /**
   * Creates an in-flight counter in fixed memory.
   * @param options - estimator size and seed
   */
  constructor(options: InflightOptions = {}) {
    this.#estimator = new Estimator(options.hashes ?? 4, options.slots ?? 8192, {
      seed: options.seed,
    })
  }

  /**
   * Adds `n` in-flight units for the key.
   * @param key - string or bytes
   * @param n - units to add
   * @defaultValue n = 1
   * @returns a guard holding the new estimate in `count`; release it when the work ends
   */
  incr(key: EstimatorKey, n = 1): InflightGuard {
    const count = this.#estimator.incr(key, n)
    return new InflightGuard(this.#estimator, key, n, count)
  }

  /** Returns the key's current in-flight estimate. */
  get(key: EstimatorKey): number {
    return this.#estimator.get(key)
  }
}

/**
 * Returned by {@link Inflight.incr}: holds one key's units until released. Releasing twice (or
 * disposing after an explicit release) takes the units off only once.
 */
export class InflightGuard {
  /** The key's in-flight estimate right after this guard's units were added. */
  readonly count: number
  #estimator: Estimator | undefined
  readonly #key: EstimatorKey
  readonly #n: number

  /** @internal Made by {@link Inflight.incr}. */
  constructor(estimator: Estimator, key: EstimatorKey, n: number, count: number) {
    this.#estimator = estimator
    this.#key = key
    this.#n = n
    this.count = count
  }

  /** Whether the units are still counted (not yet released). */
  get isHeld(): boolean {
    return this.#estimator !== undefined
  }

  /** Takes this guard's units back off the count; later calls do nothing. */
  release(): void {
    const estimator = this.#estimator
    if (estimator === undefined) return
    this.#estimator = undefined
    estimator.decr(this.#key, this.#n)
  }

  /** Same as {@link InflightGuard.release}; lets `using guard = inflight.incr(key)` release it. */
  [Symbol.dispose](): void {
    this.release()
  }
}
