import { HttpServer, ListeningService, type ServeHttp } from '@pingora-ts/core'
import { register as defaultRegistry, type Registry } from 'prom-client'

/** Options of {@link prometheusHttpService}. */
export interface PrometheusServiceOptions {
  /** The registry to expose. @defaultValue prom-client's global `register` */
  readonly registry?: Registry
  /** The service's name. @defaultValue `'Prometheus metrics'` */
  readonly name?: string
}

/**
 * The app behind {@link prometheusHttpService}: answers every request, whatever its path, with
 * the registry in the Prometheus text format (Pingora's `PrometheusHttpApp`). A registry that
 * fails to collect answers 500.
 */
export class PrometheusHttpApp implements ServeHttp {
  /** The registry it serves. */
  readonly registry: Registry

  /**
   * Serves `registry`.
   * @param registry - the registry
   */
  constructor(registry: Registry) {
    this.registry = registry
  }

  /**
   * Renders the registry.
   * @returns 200 with the metrics, `Content-Type` of the registry's format
   */
  async response(): Promise<{ status: number; headers: Record<string, string>; body: string }> {
    const body = await this.registry.metrics()
    return { status: 200, headers: { 'Content-Type': this.registry.contentType }, body }
  }
}

/**
 * Builds a listening service that serves a prom-client registry to Prometheus scrapes
 * (Pingora's `prometheus_http_service`). Give it its own endpoint, apart from the proxy's:
 *
 * @example
 * ```ts
 * const metrics = prometheusHttpService()
 * metrics.addTcp('0.0.0.0:6192')
 * server.addService(metrics)
 * ```
 * @param options - the registry and the service name
 */
export function prometheusHttpService(
  options: PrometheusServiceOptions = {},
): ListeningService<HttpServer<PrometheusHttpApp>> {
  const app = new PrometheusHttpApp(options.registry ?? defaultRegistry)
  return new ListeningService(options.name ?? 'Prometheus metrics', new HttpServer(app))
}
