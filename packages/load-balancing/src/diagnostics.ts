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
  /** An {@link OutlierDetector} ejected a backend ({@link OutlierEjectedMessage}). */
  outlierEjected: 'pingora:outlier:ejected',
  /** An ejected backend's time was up and it came back ({@link OutlierReturnedMessage}). */
  outlierReturned: 'pingora:outlier:returned',
  /** A {@link CircuitBreaker} refused a request at a limit ({@link CircuitOverflowedMessage}). */
  circuitOverflowed: 'pingora:circuit:overflowed',
  /** A {@link RetryPolicy} refused a retry the failure allowed ({@link RetryDeniedMessage}). */
  retryDenied: 'pingora:retry:denied',
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

/** Which rule of an {@link OutlierDetector} ejected a backend. */
export type OutlierReason = 'consecutive-5xx' | 'consecutive-connect-failure' | 'success-rate'

/** Message of {@link CHANNEL_NAMES.outlierEjected}. */
export interface OutlierEjectedMessage {
  /** The ejected backend. */
  readonly backend: Backend
  /** The rule that ejected it. */
  readonly reason: OutlierReason
  /** How many times it has been ejected (after decay), this one included. */
  readonly ejections: number
  /** How long this ejection lasts, in ms. */
  readonly durationMs: number
}

/** Message of {@link CHANNEL_NAMES.outlierReturned}. */
export interface OutlierReturnedMessage {
  /** The backend that came back. */
  readonly backend: Backend
}

/** The limit of a {@link CircuitBreaker} a request overflowed. */
export type CircuitLimit = 'connections' | 'pending' | 'requests' | 'retries'

/** Message of {@link CHANNEL_NAMES.circuitOverflowed}. */
export interface CircuitOverflowedMessage {
  /** The breaker's upstream name. */
  readonly name: string
  /** The limit reached. */
  readonly limit: CircuitLimit
}

/** Message of {@link CHANNEL_NAMES.retryDenied}. */
export interface RetryDeniedMessage {
  /** Why: no attempt left, the deadline passed, or the retry budget is spent. */
  readonly reason: 'attempts' | 'deadline' | 'budget'
  /** What failed. */
  readonly failure: 'connect' | 'reset' | 'status' | 'timeout' | 'other'
}

/** The channel objects, ready to publish on or subscribe to (the same form as core's). */
export const channels = {
  /** See {@link CHANNEL_NAMES.healthChanged}. */
  healthChanged: diagnosticsChannel.channel(CHANNEL_NAMES.healthChanged),
  /** See {@link CHANNEL_NAMES.loadBalancerError}. */
  loadBalancerError: diagnosticsChannel.channel(CHANNEL_NAMES.loadBalancerError),
  /** See {@link CHANNEL_NAMES.outlierEjected}. */
  outlierEjected: diagnosticsChannel.channel(CHANNEL_NAMES.outlierEjected),
  /** See {@link CHANNEL_NAMES.outlierReturned}. */
  outlierReturned: diagnosticsChannel.channel(CHANNEL_NAMES.outlierReturned),
  /** See {@link CHANNEL_NAMES.circuitOverflowed}. */
  circuitOverflowed: diagnosticsChannel.channel(CHANNEL_NAMES.circuitOverflowed),
  /** See {@link CHANNEL_NAMES.retryDenied}. */
  retryDenied: diagnosticsChannel.channel(CHANNEL_NAMES.retryDenied),
} as const

/**
 * The proxy's per-attempt channels {@link OutlierDetector.observeProxy} subscribes to, by name
 * (`@pingora-ts/proxy` sits above this package): the upstream's final response header arrived.
 * @internal
 */
export const PROXY_RESPONDED = 'pingora:upstream:responded'
/** The proxy's channel of failed upstream attempts. @internal */
export const PROXY_FAILED = 'pingora:upstream:failed'
