/** Where a {@link RateLimitDecision} came from. */
export type RateLimitSource =
  /** A {@link LocalRateLimiter} on this process. */
  | 'local'
  /** The shared counter in Redis, one round trip for this decision. */
  | 'redis'
  /** The batching mode's local view of the shared counter (synced every few milliseconds). */
  | 'batch'
  /** Redis was slow or down and the policy is fail-open: the local fallback limiter decided. */
  | 'fallback'
  /** Redis was slow or down and the policy is fail-closed: denied without asking. */
  | 'fail-closed'

/** The answer of a rate limiter for one request: whether to let it through, and header values. */
export interface RateLimitDecision {
  /** Whether the request may proceed (its cost was counted). */
  readonly allowed: boolean
  /** The configured limit per window (`X-Rate-Limit-Limit`). */
  readonly limit: number
  /** Requests still allowed in the sliding window after this one (`X-Rate-Limit-Remaining`). */
  readonly remaining: number
  /** Milliseconds until the current fixed window ends (`X-Rate-Limit-Reset`, in seconds). */
  readonly resetMs: number
  /** When denied, milliseconds until the cost is expected to fit again (`Retry-After`); else 0. */
  readonly retryAfterMs: number
  /** Who decided. */
  readonly source: RateLimitSource
}

/**
 * The sliding-window estimate of one key, from the previous window's count `previous`, the
 * current window's count `current` and the elapsed part of the current window.
 * @internal
 */
export function slidingEstimate(
  previous: number,
  current: number,
  elapsedMs: number,
  windowMs: number,
): number {
  return previous * (1 - elapsedMs / windowMs) + current
}

/**
 * Milliseconds until `cost` more fits under `limit`, given the window state: first while the
 * previous window's weight decays in this window, else in the next window (where `current`
 * becomes the decaying part). `Infinity` when `cost` exceeds `limit`.
 * @internal
 */
export function retryAfterMs(
  previous: number,
  current: number,
  elapsedMs: number,
  windowMs: number,
  limit: number,
  cost: number,
): number {
  const budget = limit - cost
  if (budget < 0) return Number.POSITIVE_INFINITY
  if (slidingEstimate(previous, current, elapsedMs, windowMs) <= budget) return 0
  if (current <= budget && previous > 0) {
    // previous * (1 - f) + current <= budget  <=>  f >= 1 - (budget - current) / previous
    const fraction = 1 - (budget - current) / previous
    if (fraction < 1) return Math.max(1, Math.ceil(fraction * windowMs - elapsedMs))
  }
  const rest = windowMs - elapsedMs
  // Next window: current * (1 - g) <= budget.
  const fraction = current > 0 ? Math.max(0, 1 - budget / current) : 0
  return Math.max(1, Math.ceil(rest + fraction * windowMs))
}

/** Builds a decision from a window state after the cost was (or was not) added. @internal */
export function decide(
  allowed: boolean,
  previous: number,
  current: number,
  elapsedMs: number,
  windowMs: number,
  limit: number,
  cost: number,
  source: RateLimitSource,
): RateLimitDecision {
  const estimate = slidingEstimate(previous, current, elapsedMs, windowMs)
  return {
    allowed,
    limit,
    remaining: Math.max(0, Math.floor(limit - estimate)),
    resetMs: Math.max(0, Math.ceil(windowMs - elapsedMs)),
    retryAfterMs: allowed ? 0 : retryAfterMs(previous, current, elapsedMs, windowMs, limit, cost),
    source,
  }
}
