/**
 * A weighted cache admission and eviction policy in the manner of TinyUFO: S3-FIFO queues with
 * a TinyLFU frequency sketch consulted at admission.
 *
 * ```
 *   admit ──> [ small FIFO ~10 % ] ──(used again)──> [ main FIFO ~90 % ] ──(uses > 0: again)─┐
 *                    │ (not used)                           ^                               │
 *                    v                                      └───────────────────────────────┘
 *                 evicted                                   (uses == 0) -> evicted
 * ```
 *
 * Why: one-hit wonders leave through the small queue without disturbing the main one, and the
 * count-min sketch keeps a newcomer from displacing a more popular victim. Bound: the items'
 * total weight never exceeds the capacity after {@link TinyUfo.admit} returns; the sketch is
 * fixed-size (4 rows of `width` 8-bit counters, halved every `10 * width` increments).
 *
 * The policy tracks keys and weights only; the storage holds the values and removes what
 * {@link TinyUfo.admit} reports evicted.
 */
export class TinyUfo<K> {
  readonly #capacity: number
  readonly #smallTarget: number
  readonly #items: Map<K, UfoItem<K>>
  readonly #small: FifoQueue<K>
  readonly #main: FifoQueue<K>
  readonly #sketch: CountMinSketch
  #smallWeight: number
  #mainWeight: number

  /**
   * Creates a policy.
   * @param capacity - the total weight (bytes) to keep
   * @param expectedItems - how many items are expected, to size the frequency sketch
   */
  constructor(capacity: number, expectedItems = 16_384) {
    if (!(capacity > 0)) throw new RangeError('capacity must be a positive number')
    this.#capacity = capacity
    this.#smallTarget = capacity * 0.1
    this.#items = new Map()
    this.#small = new FifoQueue()
    this.#main = new FifoQueue()
    this.#sketch = new CountMinSketch(expectedItems)
    this.#smallWeight = 0
    this.#mainWeight = 0
  }

  /** The total weight of the items kept. */
  get weight(): number {
    return this.#smallWeight + this.#mainWeight
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
   * Records a read of the key (a hit, or a miss that counts toward its popularity).
   * @param key - the key
   * @returns whether the key is kept
   */
  access(key: K): boolean {
    this.#sketch.increment(hashKey(key))
    const item = this.#items.get(key)
    if (item === undefined) return false
    if (item.uses < 3) item.uses++
    return true
  }

  /**
   * Admits a key with a weight, or updates the weight of a kept key, and evicts until the
   * total fits. Returns the keys evicted, which may include `key` itself when it is heavier
   * than the capacity or less popular than the item it would displace.
   * @param key - the key
   * @param weight - its weight (bytes)
   */
  admit(key: K, weight: number): K[] {
    const hash = hashKey(key)
    const existing = this.#items.get(key)
    if (existing !== undefined) {
      this.#addWeight(existing, weight - existing.weight)
      existing.weight = weight
      return this.#evictToFit(undefined)
    }
    const frequency = this.#sketch.increment(hash)
    if (weight > this.#capacity) return [key]
    const item: UfoItem<K> = { key, hash, weight, uses: 0, inMain: false, removed: false }
    this.#items.set(key, item)
    this.#small.push(item)
    this.#smallWeight += weight
    return this.#evictToFit(item, frequency)
  }

  /**
   * Forgets a key (purged by the storage).
   * @param key - the key
   * @returns whether it was kept
   */
  remove(key: K): boolean {
    const item = this.#items.get(key)
    if (item === undefined) return false
    this.#drop(item)
    return true
  }

  #evictToFit(newcomer: UfoItem<K> | undefined, newcomerFrequency = 0): K[] {
    const evicted: UfoItem<K>[] = []
    while (this.weight > this.#capacity) {
      const victim = this.#evictOne(newcomer)
      if (victim === undefined) break
      evicted.push(victim)
    }
    // TinyLFU at admission: a single victim more popular than the newcomer (and no heavier, so it
    // fits back in the newcomer's place) stays, and the newcomer goes instead.
    if (newcomer !== undefined && evicted.length === 1) {
      const victim = evicted[0] as UfoItem<K>
      if (
        victim !== newcomer &&
        !newcomer.removed &&
        victim.weight <= newcomer.weight &&
        this.#sketch.get(victim.hash) > newcomerFrequency
      ) {
        this.#drop(newcomer)
        victim.removed = false
        victim.uses = 0
        victim.inMain = false
        this.#items.set(victim.key, victim)
        this.#small.push(victim)
        this.#smallWeight += victim.weight
        return [newcomer.key]
      }
    }
    return evicted.map((item) => item.key)
  }

  // One S3-FIFO eviction step; returns the evicted item.
  #evictOne(newcomer: UfoItem<K> | undefined): UfoItem<K> | undefined {
    for (;;) {
      const fromSmall = this.#smallWeight > this.#smallTarget || this.#main.isEmpty()
      const queue = fromSmall ? this.#small : this.#main
      const item = queue.shift()
      if (item === undefined) {
        if (this.#small.isEmpty() && this.#main.isEmpty()) return undefined
        continue
      }
      if (item.removed) continue
      if (fromSmall) {
        this.#smallWeight -= item.weight
        // The newcomer is never promoted by its own admission.
        if (item.uses > 0 && item !== newcomer) {
          item.inMain = true
          item.uses = 0
          this.#main.push(item)
          this.#mainWeight += item.weight
          continue
        }
        item.removed = true
        this.#items.delete(item.key)
        return item
      }
      if (item.uses > 0) {
        item.uses--
        this.#main.push(item)
        continue
      }
      this.#mainWeight -= item.weight
      item.removed = true
      this.#items.delete(item.key)
      return item
    }
  }

  #addWeight(item: UfoItem<K>, delta: number): void {
    if (item.inMain) this.#mainWeight += delta
    else this.#smallWeight += delta
  }

  #drop(item: UfoItem<K>): void {
    if (item.removed) return
    item.removed = true
    this.#items.delete(item.key)
    this.#addWeight(item, -item.weight)
  }
}

interface UfoItem<K> {
  key: K
  hash: number
  weight: number
  uses: number
  inMain: boolean
  // Removed items stay in their queue until popped (lazy deletion).
  removed: boolean
}

// A FIFO over an array with a moving head, compacted when half of it is consumed.
class FifoQueue<K> {
  #items: (UfoItem<K> | undefined)[] = []
  #head = 0

  push(item: UfoItem<K>): void {
    this.#items.push(item)
  }

  shift(): UfoItem<K> | undefined {
    if (this.#head >= this.#items.length) return undefined
    const item = this.#items[this.#head]
    this.#items[this.#head] = undefined
    this.#head++
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head)
      this.#head = 0
    }
    return item
  }

  isEmpty(): boolean {
    return this.#head >= this.#items.length
  }
}

/** A count-min sketch with 4 rows of 8-bit saturating counters, halved periodically (aging). */
export class CountMinSketch {
  readonly #rows: Uint8Array
  readonly #mask: number
  readonly #width: number
  readonly #resetAt: number
  #increments: number

  /**
   * Creates a sketch sized for about `expectedItems` distinct keys.
   * @param expectedItems - the expected number of distinct keys
   */
  constructor(expectedItems: number) {
    let width = 64
    while (width < expectedItems && width < 1 << 24) width <<= 1
    this.#width = width
    this.#mask = width - 1
    this.#rows = new Uint8Array(width * 4)
    this.#resetAt = width * 10
    this.#increments = 0
  }

  /**
   * Counts one occurrence and returns the new estimate.
   * @param hash - a 32-bit hash of the key
   */
  increment(hash: number): number {
    let min = 255
    for (let row = 0; row < 4; row++) {
      const index = row * this.#width + (rowHash(hash, row) & this.#mask)
      const value = this.#rows[index] as number
      if (value < 255) this.#rows[index] = value + 1
      if (value + 1 < min) min = value + 1
    }
    if (++this.#increments >= this.#resetAt) this.#age()
    return min
  }

  /**
   * The estimated count.
   * @param hash - a 32-bit hash of the key
   */
  get(hash: number): number {
    let min = 255
    for (let row = 0; row < 4; row++) {
      const value = this.#rows[row * this.#width + (rowHash(hash, row) & this.#mask)] as number
      if (value < min) min = value
    }
    return min
  }

  #age(): void {
    for (let i = 0; i < this.#rows.length; i++) this.#rows[i] = (this.#rows[i] as number) >> 1
    this.#increments = 0
  }
}

const SEEDS = [0x9e3779b1, 0x85ebca77, 0xc2b2ae3d, 0x27d4eb2f]

function rowHash(hash: number, row: number): number {
  let h = Math.imul(hash ^ (SEEDS[row] as number), 0x5bd1e995)
  h ^= h >>> 15
  return h >>> 0
}

/**
 * A 32-bit FNV-1a hash of a key's string form (cache keys are hex strings already).
 * @param key - the key
 */
export function hashKey(key: unknown): number {
  const text = typeof key === 'string' ? key : String(key)
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}
