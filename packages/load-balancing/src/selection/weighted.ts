import type { Backend } from '../backend.ts'
import {
  type BackendIter,
  type BackendSelection,
  DEFAULT_SELECTION_CONTEXT,
  EMPTY_ITER,
  type SelectionContext,
} from './backend-selection.ts'
import { fnv1a64, fnv1a64OfU64, modU64, type U64 } from './hash.ts'

/** Largest weighted table (sum of weights); keeps u64 modulo exact in doubles. */
const MAX_TABLE = 1 << 24

/**
 * The weighted table shared by {@link RoundRobin}, {@link Random} and {@link FNVHash}. Port of
 * Pingora's `Weighted<H>` (`selection/weighted.rs`):
 *
 * ```
 * backends  [ a(w=3), b(w=1), c(w=2) ]
 * table     [ 0 0 0 1 2 2 ]      first pick:  table[next(key) % 6]
 *                                fallbacks:   backends[next(previous) % 3]  (unweighted)
 * ```
 *
 * Weights are honoured by the first pick only; fallbacks spread evenly over the unique list.
 * Weighted round robin through this table is bursty (a a a b c c); see
 * {@link SmoothWeightedRoundRobin} for the interleaved variant.
 */
abstract class Weighted implements BackendSelection {
  /** The backends, in build order. */
  readonly backends: readonly Backend[]
  /** Indexes into `backends`, each repeated `weight` times. */
  protected readonly table: Uint16Array | Uint32Array

  protected constructor(backends: readonly Backend[]) {
    let total = 0
    for (const backend of backends) total += backend.weight
    if (total > MAX_TABLE) {
      throw new RangeError(`the sum of backend weights must be at most ${MAX_TABLE}, got ${total}`)
    }
    this.backends = backends
    this.table = backends.length <= 0xffff ? new Uint16Array(total) : new Uint32Array(total)
    let at = 0
    for (let index = 0; index < backends.length; index++) {
      const weight = (backends[index] as Backend).weight
      this.table.fill(index, at, at + weight)
      at += weight
    }
  }

  /** Returns the candidates for `key`: one weighted pick, then unweighted fallbacks. */
  iter(key: Uint8Array): BackendIter {
    if (this.backends.length === 0) return EMPTY_ITER
    return new WeightedIter(this, key)
  }

  /**
   * The first index into a table of `n` entries. @internal
   */
  abstract first(iter: WeightedIter, key: Uint8Array, n: number): number
  /**
   * The next fallback index into the `n` unique backends. @internal
   */
  abstract fallback(iter: WeightedIter, n: number): number

  /** @internal */
  pickFirst(iter: WeightedIter, key: Uint8Array): Backend {
    const index = this.table[this.first(iter, key, this.table.length)] as number
    return this.backends[index] as Backend
  }

  /** @internal */
  pickFallback(iter: WeightedIter): Backend {
    return this.backends[this.fallback(iter, this.backends.length)] as Backend
  }
}

/** @internal */
class WeightedIter implements BackendIter, U64 {
  hi = 0
  lo = 0
  readonly #selection: Weighted
  #key: Uint8Array | undefined

  constructor(selection: Weighted, key: Uint8Array) {
    this.#selection = selection
    this.#key = key
  }

  next(): Backend | undefined {
    const key = this.#key
    if (key !== undefined) {
      this.#key = undefined
      return this.#selection.pickFirst(this, key)
    }
    return this.#selection.pickFallback(this)
  }
}

/**
 * Weighted round robin: each selection takes the next slot of the weighted table, ignoring the
 * key. Port of Pingora's `RoundRobin` (`Weighted<algorithms::RoundRobin>`): with weights 3,1 the
 * order is `a a a b`, repeated. The counter restarts when the backend list changes.
 */
export class RoundRobin extends Weighted {
  #counter = 0

  /**
   * Builds a round robin over `backends`.
   * @param backends - the backends
   * @param _context - unused
   */
  static build(backends: readonly Backend[], _context?: SelectionContext): RoundRobin {
    return new RoundRobin(backends)
  }

  /** @internal */
  first(_iter: WeightedIter, _key: Uint8Array, n: number): number {
    // The counter stays exact up to 2^53 selections.
    return this.#counter++ % n
  }

  /** @internal */
  fallback(_iter: WeightedIter, n: number): number {
    return this.#counter++ % n
  }
}

/**
 * Weighted random: the first pick is a random slot of the weighted table, fallbacks are random
 * backends. Port of Pingora's `Random`. Randomness comes from the context (`Math.random` unless
 * the load balancer was given a `random` option).
 */
export class Random extends Weighted {
  readonly #random: () => number

  private constructor(backends: readonly Backend[], random: () => number) {
    super(backends)
    this.#random = random
  }

  /**
   * Builds a weighted random selection over `backends`.
   * @param backends - the backends
   * @param context - supplies the random source
   */
  static build(backends: readonly Backend[], context = DEFAULT_SELECTION_CONTEXT): Random {
    return new Random(backends, context.random)
  }

  /** @internal */
  first(_iter: WeightedIter, _key: Uint8Array, n: number): number {
    return Math.floor(this.#random() * n)
  }

  /** @internal */
  fallback(_iter: WeightedIter, n: number): number {
    return Math.floor(this.#random() * n)
  }
}

/**
 * Weighted hashing with 64-bit FNV-1a: the same key picks the same backend while the backend list
 * is unchanged. Port of Pingora's `FNVHash` (`Weighted<FnvHasher>`), with the same picks for the
 * same sorted backend list. Fallbacks re-hash the previous 64-bit value.
 *
 * Adding or removing a backend moves most keys; use {@link Consistent} when that matters.
 */
export class FNVHash extends Weighted {
  /**
   * Builds an FNV hash selection over `backends`.
   * @param backends - the backends
   * @param _context - unused
   */
  static build(backends: readonly Backend[], _context?: SelectionContext): FNVHash {
    return new FNVHash(backends)
  }

  /** @internal */
  first(iter: WeightedIter, key: Uint8Array, n: number): number {
    fnv1a64(key, iter)
    return modU64(iter, n)
  }

  /** @internal */
  fallback(iter: WeightedIter, n: number): number {
    fnv1a64OfU64(iter, iter)
    return modU64(iter, n)
  }
}
