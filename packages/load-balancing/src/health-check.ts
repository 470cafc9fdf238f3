import type { Backend } from './backend.ts'
import type { BackendStatus } from './selection/backend-selection.ts'

/**
 * Probes a backend. Port of Pingora's `HealthCheck` trait
 * (`pingora-load-balancing/src/health_check.rs`).
 *
 * {@link LoadBalancer} runs `check` on every backend at `healthCheckFrequencyMs` and flips a
 * backend's health after `healthThreshold(success)` consecutive results that disagree with it.
 * Backends start healthy.
 */
export interface HealthCheck {
  /**
   * Checks one backend: resolves when it is healthy, rejects (with the reason) when it is not.
   * @param backend - the backend to probe
   */
  check(backend: Backend): Promise<void>
  /**
   * How many consecutive results of one kind flip the health.
   * @param success - `true`: checks needed to become healthy; `false`: to become unhealthy
   */
  healthThreshold(success: boolean): number
  /**
   * Called after a backend's health flips. Optional.
   * @param backend - the backend
   * @param healthy - its new health
   */
  healthStatusChange?(backend: Backend, healthy: boolean): void | Promise<void>
}

/** Called when a backend's health flips (`healthChangedCallback` of the built-in checks). */
export type HealthObserveCallback = (backend: Backend, healthy: boolean) => void | Promise<void>

/**
 * Per-backend state held by the load balancer: health, enablement and in-flight count. The same
 * object survives updates that keep the backend, so counts and health carry over.
 * @internal
 */
export class BackendState implements BackendStatus {
  healthy = true
  enabled = true
  consecutive = 0
  inFlight = 0

  /** Whether the backend may receive traffic: healthy and enabled. */
  get ready(): boolean {
    return this.healthy && this.enabled
  }

  /** Whether the backend may receive traffic: healthy and enabled. */
  isReady(): boolean {
    return this.healthy && this.enabled
  }

  /**
   * Records one check result; returns `true` when the health flipped (Pingora's
   * `observe_health`).
   */
  observe(success: boolean, threshold: number): boolean {
    if (this.healthy !== success) {
      this.consecutive++
      if (this.consecutive >= threshold) {
        this.healthy = success
        this.consecutive = 0
        return true
      }
    } else {
      // Same as the current health: the opposite streak is broken.
      this.consecutive = 0
    }
    return false
  }
}

/**
 * Validates a consecutive-result threshold.
 * @internal
 */
export function checkCount(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`${name} must be a positive integer, got ${value}`)
  }
  return value
}
