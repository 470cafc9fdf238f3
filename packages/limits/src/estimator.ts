/**
 * A count-min sketch: `hashes` rows of `slots` counters in one flat typed array.
 *
 * ```
 *            slot 0   slot 1   ...   slot s-1
 *   row 0  [   3   |   0    | ... |    7    ]   index = mix(h1 + 0*h2, seed0) % s
 *   row 1  [   0   |   9    | ... |    3    ]   index = mix(h1 + 1*h2, seed1) % s
 *   ...
 * ```
 *
 * A key is hashed once into two 32-bit values (one pass over its characters or bytes); each row
 * derives its slot from them with its own seed (double hashing, Kirsch and Mitzenmacher), so an
 * increment touches `hashes` counters and allocates nothing. Memory is `hashes * slots * 8` bytes
 * whatever the number of keys. Why: per-key maps grow with the keys an attacker can invent; this
 * stays fixed. The bound it buys: with only increments, `get(key)` is never below the true count
 * and exceeds it by more than `e / slots * total` with probability at most `e ** -hashes`
 * (`total` = the sum of all increments).
 */

/** A key the estimators accept: a string, or bytes (hashed by content). */
export type EstimatorKey = string | Uint8Array

/** Options for {@link Estimator}. */
export interface EstimatorOptions {
  /**
   * Seeds the per-row hash seeds, for reproducible estimates in tests. Without it each estimator
   * draws random seeds, so nobody can precompute keys that collide in every row.
   * @defaultValue a random 32-bit value
   */
  seed?: number
}

const FNV_OFFSET = 0x811c9dc5
const FNV_PRIME = 0x01000193
const MURMUR_M = 0x5bd1e995

/**
 * Estimates a count per key in fixed memory (Pingora's `Estimator`, a count-min sketch).
 *
 * ```ts
 * const estimator = new Estimator(4, 1024)
 * estimator.incr('client-a', 1) // => 1
 * estimator.get('client-a') // => 1 (never less than the true count while counts only grow)
 * ```
 */
export class Estimator {
  /** Number of rows (independent hashes). */
  readonly hashes: number
  /** Counters per row. */
  readonly slots: number
  readonly #counters: Float64Array
  readonly #seeds: Int32Array
  /** `slots - 1` when `slots` is a power of two (index by mask), else -1 (index by modulo). */
  readonly #mask: number
  // The two halves of the last key's hash, kept in fields so hashing returns nothing to allocate.
  #h1 = 0
  #h2 = 0

  /**
   * Creates a sketch of `hashes` rows by `slots` counters.
   * @param hashes - rows; more rows lower the chance of a large error (`e ** -hashes`)
   * @param slots - counters per row; more slots lower the error (`e / slots` of the total)
   * @param options - a fixed seed for reproducible hashing
   * @throws RangeError when `hashes` or `slots` is not a positive integer
   */
  constructor(hashes: number, slots: number, options: EstimatorOptions = {}) {
    if (!Number.isInteger(hashes) || hashes < 1 || hashes > 64) {
      throw new RangeError(`hashes must be an integer from 1 to 64, got ${hashes}`)
    }
    if (!Number.isInteger(slots) || slots < 1 || slots > 2 ** 24) {
      throw new RangeError(`slots must be an integer from 1 to 16777216, got ${slots}`)
    }
    this.hashes = hashes
    this.slots = slots
    this.#counters = new Float64Array(hashes * slots)
    this.#seeds = new Int32Array(hashes)
    this.#mask = (slots & (slots - 1)) === 0 ? slots - 1 : -1
    let state = (options.seed ?? (Math.random() * 2 ** 32) >>> 0) | 0
    for (let row = 0; row < hashes; row++) {
      // splitmix32: spreads one seed into independent-looking per-row seeds.
      state = (state + 0x9e3779b9) | 0
      this.#seeds[row] = mix(state)
    }
  }

  /**
   * Adds `n` to the key's counters and returns the new estimate (the smallest of its counters).
   * @param key - string or bytes
   * @param n - amount to add; may be negative
   * @defaultValue n = 1
   */
  incr(key: EstimatorKey, n = 1): number {
    return this.#add(key, n)
  }

  /**
   * Subtracts `n` from the key's counters (undoes an {@link Estimator.incr}).
   * @param key - string or bytes
   * @param n - amount to subtract
   * @defaultValue n = 1
   */
  decr(key: EstimatorKey, n = 1): void {
    this.incr(key, -n)
  }

  /** Returns the key's estimate (the smallest of its counters) without changing it. */
  get(key: EstimatorKey): number {
    return this.#add(key, 0)
  }

  /** Adds `n` (0 reads without writing) to the key's counters and returns the smallest. */
  #add(key: EstimatorKey, n: number): number {
    this.#hash(key)
    const counters = this.#counters
    const seeds = this.#seeds
    const slots = this.slots
    const mask = this.#mask
    const h1 = this.#h1
    const h2 = this.#h2
    const rows = seeds.length
    let min = Number.POSITIVE_INFINITY
    for (let row = 0, base = 0; row < rows; row++, base += slots) {
      // `& 0x7fffffff` keeps the hash a small integer, so `%` stays on V8's integer path.
      const hash = mix((h1 + Math.imul(row, h2)) ^ (seeds[row] as number)) & 0x7fffffff
      const index = base + (mask >= 0 ? hash & mask : hash % slots)
      const value = (counters[index] as number) + n
      if (n !== 0) counters[index] = value
      if (value < min) min = value
    }
    return min
  }

  /** Sets every counter back to zero. */
  reset(): void {
    this.#counters.fill(0)
  }

  /** Hashes the key into `h1` and `h2` in one pass: FNV-1a and a Murmur-style multiply. */
  #hash(key: EstimatorKey): void {
    let h1 = FNV_OFFSET
    let h2 = key.length
    if (typeof key === 'string') {
      for (let i = 0; i < key.length; i++) {
        const c = key.charCodeAt(i)
        h1 = Math.imul(h1 ^ c, FNV_PRIME)
        h2 = Math.imul(h2 ^ c, MURMUR_M) ^ (h2 >>> 15)
      }
    } else {
      for (let i = 0; i < key.length; i++) {
        const c = key[i] as number
        h1 = Math.imul(h1 ^ c, FNV_PRIME)
        h2 = Math.imul(h2 ^ c, MURMUR_M) ^ (h2 >>> 15)
      }
    }
    this.#h1 = mix(h1)
    // Odd, so successive rows step through different slots even when h1 collides.
    this.#h2 = mix(h2) | 1
  }
}

/** murmur3's 32-bit finaliser: every input bit affects every output bit. */
function mix(value: number): number {
  let h = value
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h
}
