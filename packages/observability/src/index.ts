/**
 * Observability for pingora-ts: Prometheus metrics served on their own listener
 * ({@link prometheusHttpService}, {@link ProxyMetrics}), access and error logs with pino on
 * bounded asynchronous destinations, syslog included ({@link ProxyLogs}). Everything here subscribes to the
 * `node:diagnostics_channel` channels the other packages publish, so nothing is added to the
 * request path of a proxy that does not turn it on. See `docs/observability.md` and
 * `examples/observability`.
 *
 * @module @pingora-ts/observability
 * @packageDocumentation
 */

export { CHANNEL_NAMES, channels, type LogDroppedMessage } from './diagnostics.ts'
export {
  createLogDestination,
  DEFAULT_LOG_BUFFER_BYTES,
  type LogDestination,
  type LogDestinationOptions,
} from './log-destination.ts'
export {
  PrometheusHttpApp,
  type PrometheusServiceOptions,
  prometheusHttpService,
} from './prometheus-service.ts'
export { describeError, type LogLevel, ProxyLogs, type ProxyLogsOptions } from './proxy-logs.ts'
export {
  type CacheLookupResult,
  type ConnectorStatsSource,
  DEFAULT_DURATION_BUCKETS,
  type HealthSource,
  ProxyMetrics,
  type ProxyMetricsOptions,
} from './proxy-metrics.ts'
export { type SentryClient, SentryReporter } from './sentry-reporter.ts'
