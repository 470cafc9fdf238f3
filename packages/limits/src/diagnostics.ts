import diagnosticsChannel from 'node:diagnostics_channel'
import type { RedisRateLimiter } from './redis-rate-limiter.ts'

/**
 * The `node:diagnostics_channel` channels `@pingora-ts/limits` publishes on; the package never
 * logs. Subscribe with `diagnosticsChannel.subscribe(name, listener)` or through
 * {@link channels}.
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

/** The channel objects, ready to publish on or subscribe to (the same form as core's). */
export const channels = {
  /** See {@link CHANNEL_NAMES.redisFailed}. */
  redisFailed: diagnosticsChannel.channel(CHANNEL_NAMES.redisFailed),
  /** See {@link CHANNEL_NAMES.redisRecovered}. */
  redisRecovered: diagnosticsChannel.channel(CHANNEL_NAMES.redisRecovered),
} as const
