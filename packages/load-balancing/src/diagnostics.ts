import diagnosticsChannel from 'node:diagnostics_channel'
import type { Backend } from './backend.ts'

/**
 * The `node:diagnostics_channel` channels `@pingora-ts/load-balancing` publishes on; the package
 * never logs. Subscribe with `diagnosticsChannel.subscribe(name, listener)` or through
 * {@link channels}.
 */
export const CHANNEL_NAMES = {
  /** A backend's health flipped ({@link HealthChangedMessage}). */
  healthChanged: 'pingora:health:changed',
  /** A background discovery run or a health-change callback failed ({@link LoadBalancerErrorMessage}). */
  loadBalancerError: 'pingora:load-balancer:error',
} as const

/** Message of {@link CHANNEL_NAMES.healthChanged}. */
export interface HealthChangedMessage {
  /** The backend whose health flipped. */
  readonly backend: Backend
  /** Its new health. */
  readonly healthy: boolean
  /** The failure of the check that flipped it to unhealthy, else `undefined`. */
  readonly error: unknown
}

/** Message of {@link CHANNEL_NAMES.loadBalancerError}. */
export interface LoadBalancerErrorMessage {
  /** What failed: `'discovery'` or `'health-callback'`. */
  readonly phase: 'discovery' | 'health-callback'
  /** The error. */
  readonly error: unknown
}

/** The channel objects, ready to publish on or subscribe to (the same form as core's). */
export const channels = {
  /** See {@link CHANNEL_NAMES.healthChanged}. */
  healthChanged: diagnosticsChannel.channel(CHANNEL_NAMES.healthChanged),
  /** See {@link CHANNEL_NAMES.loadBalancerError}. */
  loadBalancerError: diagnosticsChannel.channel(CHANNEL_NAMES.loadBalancerError),
} as const
