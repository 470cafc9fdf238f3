/**
 * A plain weighted LRU over a `Map` (insertion order is recency order): the baseline
 * {@link TinyUfo} is measured against, and a simple policy for small caches. Same interface as
 * {@link TinyUfo}.
 */
export class WeightedLru<K> {
  readonly #capacity: number
  readonly #items: Map<K, number>
  #weight: number

  /**
   * Creates a policy.
   * @param capacity - the total weight to keep
   */
  constructor(capacity: number) {
    if (!(capacity > 0)) throw new RangeError('capacity must be a positive number')
    this.#capacity = capacity
    this.#items = new Map()
    this.#weight = 0
  }

  /** The total weight kept. */
  get weight(): number {
    return this.#weight
  }

  /** How many items are kept. */
  get size(): number {
    return this.#items.size
  }

  /**
   * Whether the key is kept.
   * @param key - the key
   */
  has(key: K): boolean {
    return this.#items.has(key)
  }

  /**
   * Marks the key most recently used.
   * @param key - the key
   * @returns whether the key is kept
   */
  access(key: K): boolean {
    const weight = this.#items.get(key)
    if (weight === undefined) return false
    this.#items.delete(key)
    this.#items.set(key, weight)
    return true
  }

  /**
   * Admits or re-weighs a key and evicts the least recently used until the total fits.
   * @param key - the key
   * @param weight - its weight
   * @returns the evicted keys
   */
  admit(key: K, weight: number): K[] {
    this.remove(key)
    if (weight > this.#capacity) return [key]
    this.#items.set(key, weight)
    this.#weight += weight
    const evicted: K[] = []
    for (const [oldest, oldestWeight] of this.#items) {
      if (this.#weight <= this.#capacity) break
      this.#items.delete(oldest)
      this.#weight -= oldestWeight
      evicted.push(oldest)
    }
    return evicted
  }

  /**
   * Forgets a key.
   * @param key - the key
   * @returns whether it was kept
   */
  remove(key: K): boolean {
    const weight = this.#items.get(key)
    if (weight === undefined) return false
    this.#items.delete(key)
    this.#weight -= weight
    return true
  }
}
