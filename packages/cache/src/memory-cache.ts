import { ErrorType, PingoraError } from '@pingora-ts/error'
import { TinyUfo } from './tiny-ufo.ts'

/** How a {@link MemoryCache} lookup went. Port of `pingora-memory-cache::CacheStatus`. */
export type MemoryCacheStatus = 'Hit' | 'Miss' | 'Expired' | 'Stale' | 'LockHit'

/** Options for {@link MemoryCache}. */
export interface MemoryCacheOptions {
  /** The most total weight kept (each entry weighs 1 unless `put` says otherwise). */
  capacity: number
  /** The clock, epoch ms. @defaultValue `Date.now` */
  now?: () => number
}

interface Slot<V> {
  value: V
  expiresAt: number
}

/**
 * An in-memory key/value cache with a time to live per entry and TinyUFO eviction, for an
 * application's own lookups (per-request configuration, auth decisions). Port of
 * `pingora-memory-cache::MemoryCache`.
 */
export class MemoryCache<K, V> {
  readonly #slots: Map<K, Slot<V>>
  readonly #policy: TinyUfo<K>
  readonly #now: () => number

  /**
   * Creates a cache.
   * @param options - capacity and clock
   */
  constructor(options: MemoryCacheOptions) {
    this.#slots = new Map()
    this.#policy = new TinyUfo(options.capacity, Math.min(options.capacity, 1 << 20))
    this.#now = options.now ?? Date.now
  }

  /** How many entries are kept (expired ones included until evicted or replaced). */
  get size(): number {
    return this.#slots.size
  }

  /**
   * Reads a key: its value and `Hit`, or `undefined` and `Miss` / `Expired`.
   * @param key - the key
   */
  get(key: K): { value: V | undefined; status: MemoryCacheStatus } {
    const slot = this.#slots.get(key)
    this.#policy.access(key)
    if (slot === undefined) return { value: undefined, status: 'Miss' }
    if (slot.expiresAt <= this.#now()) return { value: undefined, status: 'Expired' }
    return { value: slot.value, status: 'Hit' }
  }

  /**
   * Reads a key, returning an expired value too (status `Stale`, with how long ago it expired).
   * @param key - the key
   */
  getStale(key: K): { value: V | undefined; status: MemoryCacheStatus; staleMs: number } {
    const slot = this.#slots.get(key)
    this.#policy.access(key)
    if (slot === undefined) return { value: undefined, status: 'Miss', staleMs: 0 }
    const now = this.#now()
    if (slot.expiresAt <= now)
      return { value: slot.value, status: 'Stale', staleMs: now - slot.expiresAt }
    return { value: slot.value, status: 'Hit', staleMs: 0 }
  }

  /**
   * Stores a value for `ttlMs` (`Infinity`: no expiry).
   * @param key - the key
   * @param value - the value
   * @param ttlMs - time to live in ms
   * @param weight - its weight against the capacity @defaultValue `1`
   */
  put(key: K, value: V, ttlMs: number, weight = 1): void {
    if (!(ttlMs > 0)) return
    this.#slots.set(key, { value, expiresAt: this.#now() + ttlMs })
    for (const evicted of this.#policy.admit(key, weight)) this.#slots.delete(evicted)
  }

  /**
   * Removes a key.
   * @param key - the key
   */
  remove(key: K): void {
    this.#slots.delete(key)
    this.#policy.remove(key)
  }
}

/** Options for {@link RTCache}. */
export interface RTCacheOptions<K, V> extends MemoryCacheOptions {
  /**
   * Loads a missing or expired value, with its time to live in ms (`undefined` ttl: use
   * `defaultTtlMs`).
   */
  lookup: (key: K) => Promise<{ value: V; ttlMs?: number }>
  /** The time to live when `lookup` gives none. @defaultValue `60_000` */
  defaultTtlMs?: number
  /**
   * The most a caller waits for another caller's lookup of the same key before running its own.
   * @defaultValue `undefined` (wait for it)
   */
  lockTimeoutMs?: number
}

/**
 * A read-through {@link MemoryCache}: a miss runs the lookup, and concurrent misses for the
 * same key share one lookup (a per-key lock), so a cold key is loaded once. Port of
 * `pingora-memory-cache::RTCache`.
 */
export class RTCache<K, V> {
  readonly #cache: MemoryCache<K, V>
  readonly #lookup: (key: K) => Promise<{ value: V; ttlMs?: number }>
  readonly #defaultTtlMs: number
  readonly #lockTimeoutMs: number | undefined
  readonly #inflight: Map<K, Promise<V>>

  /**
   * Creates a read-through cache.
   * @param options - capacity, clock, lookup and lock timeout
   */
  constructor(options: RTCacheOptions<K, V>) {
    this.#cache = new MemoryCache(options)
    this.#lookup = options.lookup
    this.#defaultTtlMs = options.defaultTtlMs ?? 60_000
    this.#lockTimeoutMs = options.lockTimeoutMs
    this.#inflight = new Map()
  }

  /**
   * Returns the cached value, or loads it (`Miss`), or shares a load already running
   * (`LockHit`). A failed lookup rejects every caller that shared it and caches nothing.
   * @param key - the key
   */
  async get(key: K): Promise<{ value: V; status: MemoryCacheStatus }> {
    const cached = this.#cache.get(key)
    if (cached.status === 'Hit') return { value: cached.value as V, status: 'Hit' }
    const running = this.#inflight.get(key)
    if (running !== undefined) {
      const shared = await this.#waitShared(running)
      if (shared !== undefined) return { value: shared.value, status: 'LockHit' }
    }
    return {
      value: await this.#load(key),
      status: cached.status === 'Expired' ? 'Expired' : 'Miss',
    }
  }

  /**
   * Returns a stale value at once (status `Stale`) and refreshes it in the background;
   * behaves like {@link RTCache.get} when nothing is cached.
   * @param key - the key
   */
  async getStaleWhileUpdate(key: K): Promise<{ value: V; status: MemoryCacheStatus }> {
    const stale = this.#cache.getStale(key)
    if (stale.status === 'Stale') {
      if (!this.#inflight.has(key)) this.#load(key).catch(() => undefined)
      return { value: stale.value as V, status: 'Stale' }
    }
    return this.get(key)
  }

  /**
   * Removes a key.
   * @param key - the key
   */
  remove(key: K): void {
    this.#cache.remove(key)
  }

  #load(key: K): Promise<V> {
    const running = this.#lookup(key).then(
      ({ value, ttlMs }) => {
        this.#cache.put(key, value, ttlMs ?? this.#defaultTtlMs)
        return value
      },
      (error: unknown) => {
        throw PingoraError.is(error)
          ? error
          : PingoraError.because(ErrorType.InternalError, 'RTCache lookup failed', error)
      },
    )
    const tracked = running.finally(() => {
      if (this.#inflight.get(key) === tracked) this.#inflight.delete(key)
    })
    this.#inflight.set(key, tracked)
    return tracked
  }

  // Waits for another caller's load; undefined when the lock timeout passed first.
  #waitShared(running: Promise<V>): Promise<{ value: V } | undefined> {
    const shared = running.then((value) => ({ value }))
    if (this.#lockTimeoutMs === undefined) return shared
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), this.#lockTimeoutMs)
    })
    return Promise.race([shared, timeout]).finally(() => clearTimeout(timer))
  }
}
