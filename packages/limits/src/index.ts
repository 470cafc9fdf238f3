/**
 * Counters for rate limiting, after pingora-limits: {@link Estimator} (a count-min sketch in fixed
 * memory), {@link Rate} (events per interval with a sliding-window estimate), {@link Inflight}
 * (work in progress with release-once guards), a per-process {@link LocalRateLimiter}, and
 * {@link RedisRateLimiter}, a limit shared by every proxy that uses the same Redis.
 *
 * ```ts
 * const limiter = new LocalRateLimiter({ limit: 100, windowMs: 1000 })
 * const decision = limiter.check(clientIp)
 * if (!decision.allowed) respond429(decision)
 * ```
 *
 * A leaf package: no runtime dependency. The Redis limiter takes any client with `evalsha` and
 * `eval` (an ioredis `Redis` or `Cluster` as is).
 *
 * @module @pingora-ts/limits
 * @packageDocumentation
 */
export {
  CHANNEL_NAMES,
  channels,
  type RedisFailedMessage,
  type RedisRecoveredMessage,
} from './diagnostics.ts'
export { Estimator, type EstimatorKey, type EstimatorOptions } from './estimator.ts'
export { Inflight, InflightGuard, type InflightOptions } from './inflight.ts'
export { LocalRateLimiter, type LocalRateLimiterOptions } from './local-rate-limiter.ts'
export {
  proportionalRateEstimate,
  Rate,
  type RateComponents,
  type RateOptions,
  slidingWindowCount,
} from './rate.ts'
export type { RateLimitDecision, RateLimitSource } from './rate-limit-decision.ts'
export {
  type RedisBatchOptions,
  type RedisFailurePolicy,
  RedisRateLimiter,
  type RedisRateLimiterOptions,
  type RedisScriptClient,
} from './redis-rate-limiter.ts'
