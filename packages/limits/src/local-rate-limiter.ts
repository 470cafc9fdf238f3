import type { EstimatorKey } from './estimator.ts'
import { Rate, type RateComponents } from './rate.ts'
import { decide, type RateLimitDecision } from './rate-limit-decision.ts'

/** Options for {@link LocalRateLimiter}. */
export interface LocalRateLimiterOptions {
  /** Requests (or cost units) allowed per sliding window. */
  limit: number
  /** The window length in milliseconds. @defaultValue 1000 */
  windowMs?: number
  /** Rows of each estimator. @defaultValue 4 */
  hashes?: number
  /** Counters per row of each estimator. @defaultValue 1024 */
  slots?: number
  /** Milliseconds clock, injected by tests. @defaultValue `performance.now` */
  now?: () => number
  /** Hash seed for reproducible estimates. @defaultValue random */
  seed?: number
}

const identity = (components: RateComponents): RateComponents => components

/**
 * A per-process sliding-window rate limiter on a {@link Rate}: fixed memory whatever the number
 * of keys, synchronous, no I/O. A key's count can only be overestimated (hash collisions), so it
 * never lets more through than `limit` per window; it may deny a little early under many keys.
 *
 * ```ts
 * const limiter = new LocalRateLimiter({ limit: 100, windowMs: 1000 })
 * const decision = limiter.check(clientIp)
 * if (!decision.allowed) return tooManyRequests(decision)
 * ```
 */
export class LocalRateLimiter {
  /** Requests allowed per window. */
  readonly limit: number
  /** Window length in milliseconds. */
  readonly windowMs: number
  readonly #rate: Rate

  /**
   * Creates the limiter.
   * @param options - limit, window, estimator size, clock
   * @throws RangeError when `limit` is not a positive integer
   */
  constructor(options: LocalRateLimiterOptions) {
    if (!Number.isInteger(options.limit) || options.limit < 1) {
      throw new RangeError(`limit must be a positive integer, got ${options.limit}`)
    }
    this.limit = options.limit
    this.windowMs = options.windowMs ?? 1000
    this.#rate = new Rate(this.windowMs, options)
  }

  /**
   * Counts `cost` for the key if it fits under the limit of the sliding window ending now.
   * @param key - who is limited (client IP, app id...)
   * @param cost - units this request uses
   * @defaultValue cost = 1
   * @returns the decision, with the values of the `X-Rate-Limit-*` headers
   */
  check(key: EstimatorKey, cost = 1): RateLimitDecision {
    const components = this.#rate.rateWith(key, identity)
    const previous = components.previousSamples
    let current = components.currentSamples
    const elapsedMs = components.currentIntervalFraction * this.windowMs
    const estimate = previous * (1 - components.currentIntervalFraction) + current
    const allowed = estimate + cost <= this.limit
    if (allowed) current = this.#rate.observe(key, cost)
    return decide(allowed, previous, current, elapsedMs, this.windowMs, this.limit, cost, 'local')
  }
}
