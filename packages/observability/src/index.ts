/**
 * Observability for pingora-ts: Prometheus metrics served on their own listener
 * ({@link prometheusHttpService}, {@link ProxyMetrics}). Everything here subscribes to the
 * `node:diagnostics_channel` channels the other packages publish, so nothing is added to the
 * request path of a proxy that does not turn it on. See `docs/observability.md` and
 * `examples/observability`.
 *
 * @packageDocumentation
 */

export {
  PrometheusHttpApp,
  type PrometheusServiceOptions,
  prometheusHttpService,
} from './prometheus-service.ts'
export {
  type CacheLookupResult,
  type ConnectorStatsSource,
  DEFAULT_DURATION_BUCKETS,
  type HealthSource,
  ProxyMetrics,
  type ProxyMetricsOptions,
} from './proxy-metrics.ts'
