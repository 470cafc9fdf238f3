import diagnosticsChannel from 'node:diagnostics_channel'
import type { RedisRateLimiter } from './redis-rate-limiter.ts'

/**
 * The `node:diagnostics_channel` channels `@pingora-ts/limits` publishes on; the package never
 * logs. Subscribe with `diagnosticsChannel.subscribe(name, listener)`.
 */
export const CHANNEL_NAMES = {
  /** A {@link RedisRateLimiter} stopped using Redis after an error or timeout ({@link RedisFailedMessage}). */
  redisFailed: 'pingora:redis-limiter:failed',
  /** A {@link RedisRateLimiter} got an answer from Redis again ({@link RedisRecoveredMessage}). */
  redisRecovered: 'pingora:redis-limiter:recovered',
} as const

/** Message of {@link CHANNEL_NAMES.redisFailed}. */
export interface RedisFailedMessage {
  /** The limiter that now decides by its failure policy. */
  readonly limiter: RedisRateLimiter
  /** The Redis error, or an `Error` saying the decision timed out. */
  readonly error: unknown
}

/** Message of {@link CHANNEL_NAMES.redisRecovered}. */
export interface RedisRecoveredMessage {
  /** The limiter that decides through Redis again. */
  readonly limiter: RedisRateLimiter
}

/** @internal */
export const redisFailedChannel = diagnosticsChannel.channel(CHANNEL_NAMES.redisFailed)
/** @internal */
export const redisRecoveredChannel = diagnosticsChannel.channel(CHANNEL_NAMES.redisRecovered)
