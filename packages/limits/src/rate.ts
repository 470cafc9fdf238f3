import { Estimator, type EstimatorKey } from './estimator.ts'

/**
 * What {@link Rate.rateWith} hands to its function: the samples of the last full interval and of
 * the current one, and how far into the current interval we are.
 */
export interface RateComponents {
  /** Events observed during the previous (last full) interval. */
  previousSamples: number
  /** Events observed so far in the current interval. */
  currentSamples: number
  /** The interval length in milliseconds. */
  intervalMs: number
  /** Fraction of the current interval already elapsed, from 0 (just started) to below 1. */
  currentIntervalFraction: number
}

/** Options for {@link Rate}. */
export interface RateOptions {
  /** Rows of each estimator. @defaultValue 4 */
  hashes?: number
  /** Counters per row of each estimator. @defaultValue 1024 */
  slots?: number
  /** Milliseconds clock, injected by tests. @defaultValue `performance.now` */
  now?: () => number
  /** Hash seed for reproducible estimates. @defaultValue random */
  seed?: number
}

/**
 * The sliding-window estimate of Cloudflare's "counting things, a lot of different things" post:
 * the previous interval weighted by the part of it still inside a sliding window ending now, plus
 * the current interval, in events per second. Pingora's `PROPORTIONAL_RATE_ESTIMATE_CALC_FN`.
 *
 * ```ts
 * const perSecond = rate.rateWith(key, proportionalRateEstimate)
 * ```
 * @param components - the samples and the elapsed fraction
 * @returns events per second over the sliding window
 */
export function proportionalRateEstimate(components: RateComponents): number {
  return (
    (components.previousSamples * (1 - components.currentIntervalFraction) +
      components.currentSamples) /
    (components.intervalMs / 1000)
  )
}

/**
 * Sliding-window count (not per second): the number of events the window of one interval ending
 * now is estimated to hold. What a rate limiter compares with its limit.
 * @param components - the samples and the elapsed fraction
 * @returns events in the last `intervalMs`
 */
export function slidingWindowCount(components: RateComponents): number {
  return (
    components.previousSamples * (1 - components.currentIntervalFraction) +
    components.currentSamples
  )
}

/**
 * Measures events per key per interval with two rotating {@link Estimator}s (Pingora's `Rate`):
 * one counts the current interval, the other keeps the previous one. Fixed memory.
 *
 * ```ts
 * const rate = new Rate(1000)
 * rate.observe(clientIp, 1)
 * if (rate.rate(clientIp) > 100) reject()
 * ```
 */
export class Rate {
  /** The interval in milliseconds. */
  readonly intervalMs: number
  #current: Estimator
  #previous: Estimator
  readonly #now: () => number
  /** Start of the current interval, on the `now` clock. */
  #startMs: number
  // Reused by rateWith so a rate query allocates nothing.
  readonly #components: RateComponents

  /**
   * Creates a rate counter.
   * @param intervalMs - length of one interval
   * @param options - estimator size, clock and seed
   * @throws RangeError when `intervalMs` is not a positive finite number
   */
  constructor(intervalMs: number, options: RateOptions = {}) {
    if (!(intervalMs > 0) || !Number.isFinite(intervalMs)) {
      throw new RangeError(`intervalMs must be a positive finite number, got ${intervalMs}`)
    }
    const hashes = options.hashes ?? 4
    const slots = options.slots ?? 1024
    this.intervalMs = intervalMs
    this.#current = new Estimator(hashes, slots, { seed: options.seed })
    this.#previous = new Estimator(hashes, slots, { seed: options.seed })
    this.#now = options.now ?? (() => performance.now())
    this.#startMs = this.#now()
    this.#components = {
      previousSamples: 0,
      currentSamples: 0,
      intervalMs,
      currentIntervalFraction: 0,
    }
  }

  /**
   * Records `n` events for the key in the current interval.
   * @param key - string or bytes
   * @param n - number of events
   * @defaultValue n = 1
   * @returns the key's estimated events so far in the current interval
   */
  observe(key: EstimatorKey, n = 1): number {
    this.#rotate()
    return this.#current.incr(key, n)
  }

  /**
   * Returns the key's events per second during the last full interval (0 when that interval is
   * more than one interval ago).
   */
  rate(key: EstimatorKey): number {
    this.#rotate()
    return this.#previous.get(key) / (this.intervalMs / 1000)
  }

  /**
   * Calls `fn` with the key's previous and current samples and the elapsed fraction of the
   * current interval, and returns what it returns; e.g. {@link proportionalRateEstimate} or
   * {@link slidingWindowCount}. The components object is reused: read it inside `fn` only.
   */
  rateWith<T>(key: EstimatorKey, fn: (components: RateComponents) => T): T {
    this.#rotate()
    const components = this.#components
    components.previousSamples = this.#previous.get(key)
    components.currentSamples = this.#current.get(key)
    components.currentIntervalFraction = (this.#now() - this.#startMs) / this.intervalMs
    return fn(components)
  }

  /** Milliseconds until the current interval ends. */
  msToNextInterval(): number {
    this.#rotate()
    return this.#startMs + this.intervalMs - this.#now()
  }

  /** Moves to the interval that contains now: one step keeps the old current as previous. */
  #rotate(): void {
    const elapsed = this.#now() - this.#startMs
    if (elapsed < this.intervalMs) return
    const steps = Math.floor(elapsed / this.intervalMs)
    const old = this.#previous
    old.reset()
    if (steps === 1) {
      this.#previous = this.#current
    } else {
      // Two or more intervals passed: the last full interval saw nothing.
      this.#current.reset()
      this.#previous = this.#current
    }
    this.#current = old
    this.#startMs += steps * this.intervalMs
  }
}
