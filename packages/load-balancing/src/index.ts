/**
 * Load balancing for pingora-ts: backend selection algorithms, service discovery and health
 * checks, put together by {@link LoadBalancer}. Port of `pingora-load-balancing` and
 * `pingora-ketama`, plus what Pingora lacks: smooth weighted round robin, least connections,
 * power of two choices and DNS (A/AAAA/SRV) discovery.
 *
 * {@link OutlierDetector} adds passive health checks (ejection of backends failing real traffic),
 * {@link CircuitBreaker} per-upstream limits that fail fast, {@link RetryPolicy} retries with
 * backoff, a budget, per-attempt timeouts and a deadline.
 *
 * Use it from a proxy's `upstreamPeer` phase: `lb.select(key, 256)` returns the backend to
 * connect to. Run the load balancer as a background service (`lb.start(signal)`) to refresh
 * discovery and health checks. See `examples/health-checked-lb`.
 *
 * @module @pingora-ts/load-balancing
 * @packageDocumentation
 */
export { Backend, type BackendFamily } from './backend.ts'
export {
  CircuitBreaker,
  type CircuitBreakerOptions,
  type CircuitBreakerStats,
  CircuitTicket,
} from './circuit-breaker.ts'
export {
  CHANNEL_NAMES,
  type CircuitLimit,
  type CircuitOverflowedMessage,
  channels,
  type HealthChangedMessage,
  type LoadBalancerErrorMessage,
  type OutlierEjectedMessage,
  type OutlierReason,
  type OutlierReturnedMessage,
  type RetryDeniedMessage,
} from './diagnostics.ts'
export {
  DISCOVERY_ERROR,
  type DiscoveryResult,
  type ServiceDiscovery,
  Static,
} from './discovery.ts'
export {
  DnsDiscovery,
  type DnsDiscoveryOptions,
  type DnsRecordType,
} from './dns-discovery.ts'
export type { HealthCheck, HealthObserveCallback } from './health-check.ts'
export { HttpHealthCheck, type HttpHealthCheckOptions } from './http-health-check.ts'
export {
  type AcceptBackend,
  BackendLease,
  LoadBalancer,
  type LoadBalancerOptions,
  type UpdateTimings,
} from './load-balancer.ts'
export {
  type OutlierDetectionOptions,
  OutlierDetector,
  type OutlierResult,
} from './outlier-detection.ts'
export {
  type RetryFailure,
  RetryPolicy,
  type RetryPolicyOptions,
  RetryState,
} from './retry-policy.ts'
export type {
  BackendIter,
  BackendSelection,
  BackendSelectionBuilder,
  BackendStatus,
  SelectionContext,
} from './selection/backend-selection.ts'
export { Consistent } from './selection/consistent.ts'
export { LeastConnections } from './selection/least-connections.ts'
export { PowerOfTwoChoices } from './selection/power-of-two-choices.ts'
export { SmoothWeightedRoundRobin } from './selection/smooth-weighted-round-robin.ts'
export { FNVHash, Random, RoundRobin } from './selection/weighted.ts'
export { TcpHealthCheck, type TcpHealthCheckOptions } from './tcp-health-check.ts'
