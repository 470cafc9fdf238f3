import type { CacheKey } from './key.ts'
import { NoCacheReason } from './no-cache-reason.ts'

/** Options for {@link Predictor}. */
export interface PredictorOptions {
  /** How many keys are remembered (least recently marked forgotten first). @defaultValue `16384` */
  capacity?: number
  /**
   * Whether a custom no-cache reason should not be remembered; by default every custom reason
   * is.
   */
  skipCustomReason?: (reason: string) => boolean
}

const BUILT_IN = new Set<string>(Object.values(NoCacheReason))
const REMEMBERED = new Set<string>([NoCacheReason.OriginNotCache, NoCacheReason.ResponseTooLarge])

/**
 * Remembers keys whose responses turned out uncacheable, so the next request for them skips
 * the lookup and the cache lock (it goes straight to the origin, phase `Bypass`). Port of
 * `pingora-cache::predictor::Predictor`: only `OriginNotCache`, `ResponseTooLarge` and custom
 * reasons are remembered; a response that becomes cacheable again clears the mark.
 */
export class Predictor {
  readonly #keys: Map<string, true>
  readonly #capacity: number
  readonly #skipCustomReason: ((reason: string) => boolean) | undefined

  /**
   * Creates a predictor.
   * @param options - capacity and custom-reason filter
   */
  constructor(options: PredictorOptions = {}) {
    this.#keys = new Map()
    this.#capacity = options.capacity ?? 16_384
    this.#skipCustomReason = options.skipCustomReason
  }

  /**
   * Whether the key is predicted cacheable (`false`: bypass the cache).
   * @param key - the key
   */
  cacheablePrediction(key: CacheKey): boolean {
    return !this.#keys.has(key.primaryHash())
  }

  /**
   * Remembers that the key's response was not cacheable for `reason`; returns whether the
   * reason is one that is remembered.
   * @param key - the key
   * @param reason - why
   */
  markUncacheable(key: CacheKey, reason: NoCacheReason): boolean {
    const custom = !BUILT_IN.has(reason)
    if (!REMEMBERED.has(reason) && !custom) return false
    if (custom && this.#skipCustomReason?.(reason)) return false
    const hash = key.primaryHash()
    this.#keys.delete(hash)
    this.#keys.set(hash, true)
    if (this.#keys.size > this.#capacity) {
      const oldest = this.#keys.keys().next()
      if (!oldest.done) this.#keys.delete(oldest.value)
    }
    return true
  }

  /**
   * Forgets the mark, after a response for the key turned out cacheable.
   * @param key - the key
   * @returns whether the key was marked
   */
  markCacheable(key: CacheKey): boolean {
    return this.#keys.delete(key.primaryHash())
  }
}
