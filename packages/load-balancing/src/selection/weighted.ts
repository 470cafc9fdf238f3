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
  readonly #table: Uint16Array | Uint32Array
  readonly #algorithm: IndexAlgorithm

  protected constructor(backends: readonly Backend[], algorithm: IndexAlgorithm) {
    let total = 0
    for (const backend of backends) total += backend.weight
    if (total > MAX_TABLE) {
      throw new RangeError(`the sum of backend weights must be at most ${MAX_TABLE}, got ${total}`)
    }
    this.backends = backends
    this.#algorithm = algorithm
    this.#table = backends.length <= 0xffff ? new Uint16Array(total) : new Uint32Array(total)
    let at = 0
    for (let index = 0; index < backends.length; index++) {
      const weight = (backends[index] as Backend).weight
      this.#table.fill(index, at, at + weight)
      at += weight
    }
  }

  /** Returns the candidates for `key`: one weighted pick, then unweighted fallbacks. */
  iter(key: Uint8Array): BackendIter {
    if (this.backends.length === 0) return EMPTY_ITER
    return new WeightedIter(this.backends, this.#table, this.#algorithm, key)
  }
}

/**
 * How one weighted algorithm turns a key (first pick) or the previous pick (fallbacks) into an
 * index below `n`; may keep a 64-bit state in the iterator.
 */
interface IndexAlgorithm {
  first(state: U64, key: Uint8Array, n: number): number
  fallback(state: U64, n: number): number
}

class WeightedIter implements BackendIter, U64 {
  hi = 0
  lo = 0
  readonly #backends: readonly Backend[]
  readonly #table: Uint16Array | Uint32Array
  readonly #algorithm: IndexAlgorithm
  #key: Uint8Array | undefined

  constructor(
    backends: readonly Backend[],
    table: Uint16Array | Uint32Array,
    algorithm: IndexAlgorithm,
    key: Uint8Array,
  ) {
    this.#backends = backends
    this.#table = table
    this.#algorithm = algorithm
    this.#key = key
  }

  next(): Backend | undefined {
    const key = this.#key
    if (key !== undefined) {
      this.#key = undefined
      const slot = this.#algorithm.first(this, key, this.#table.length)
      return this.#backends[this.#table[slot] as number]
    }
    return this.#backends[this.#algorithm.fallback(this, this.#backends.length)]
  }
}

/**
 * Weighted round robin: each selection takes the next slot of the weighted table, ignoring the
 * key. Port of Pingora's `RoundRobin` (`Weighted<algorithms::RoundRobin>`): with weights 3,1 the
 * order is `a a a b`, repeated. The counter restarts when the backend list changes.
 */
export class RoundRobin extends Weighted {
  private constructor(backends: readonly Backend[]) {
    // The counter stays exact up to 2^53 selections; fallbacks advance the same counter.
    let counter = 0
    super(backends, {
      first: (_state, _key, n) => counter++ % n,
      fallback: (_state, n) => counter++ % n,
    })
  }

  /**
   * Builds a round robin over `backends`.
   * @param backends - the backends
   * @param _context - unused
   */
  static build(backends: readonly Backend[], _context?: SelectionContext): RoundRobin {
    return new RoundRobin(backends)
  }
}

/**
 * Weighted random: the first pick is a random slot of the weighted table, fallbacks are random
 * backends. Port of Pingora's `Random`. Randomness comes from the context (`Math.random` unless
 * the load balancer was given a `random` option).
 */
export class Random extends Weighted {
  private constructor(backends: readonly Backend[], random: () => number) {
    super(backends, {
      first: (_state, _key, n) => Math.floor(random() * n),
      fallback: (_state, n) => Math.floor(random() * n),
    })
  }

  /**
   * Builds a weighted random selection over `backends`.
   * @param backends - the backends
   * @param context - supplies the random source
   */
  static build(backends: readonly Backend[], context = DEFAULT_SELECTION_CONTEXT): Random {
    return new Random(backends, context.random)
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
  private constructor(backends: readonly Backend[]) {
    super(backends, FNV_ALGORITHM)
  }

  /**
   * Builds an FNV hash selection over `backends`.
   * @param backends - the backends
   * @param _context - unused
   */
  static build(backends: readonly Backend[], _context?: SelectionContext): FNVHash {
    return new FNVHash(backends)
  }
}

const FNV_ALGORITHM: IndexAlgorithm = {
  first(state, key, n) {
    fnv1a64(key, state)
    return modU64(state, n)
  },
  fallback(state, n) {
    // Pingora re-hashes the previous 64-bit value (`index.to_le_bytes()`).
    fnv1a64OfU64(state, state)
    return modU64(state, n)
  },
}
