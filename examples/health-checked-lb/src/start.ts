import { backgroundService, Server } from '@pingora-ts/core'
import { RequestHeader } from '@pingora-ts/http'
import {
  type Backend,
  Consistent,
  HttpHealthCheck,
  LoadBalancer,
  TcpHealthCheck,
} from '@pingora-ts/load-balancing'
import { httpProxyService } from '@pingora-ts/proxy'
import { HealthCheckedLb } from './health-checked-lb.ts'

/** How to run the load balancer. */
export interface HealthCheckedLbOptions {
  /** `host:port` upstreams. */
  upstreams: string[]
  /** Where to listen (`127.0.0.1:0` picks a free port). */
  listen: string
  /** `'tcp'`: connect; `'http'`: `GET healthPath` must answer 200. */
  healthCheck: 'tcp' | 'http'
  /** The path the HTTP health check requests. */
  healthPath: string
  /** How often every upstream is probed. */
  healthCheckFrequencyMs: number
  /** Consecutive failed checks that take an upstream out. @defaultValue `1` */
  consecutiveFailure?: number
  /**
   * The request header whose value is the hashing key; requests without it are keyed by the
   * client's IP address. @defaultValue `'x-user'`
   */
  hashHeader?: string
  /** Called when an upstream's health flips. */
  onHealthChange?: (backend: Backend, healthy: boolean) => void
}

/** A running load balancer. */
export interface RunningLb {
  /** The bound `127.0.0.1:port`. */
  readonly address: string
  /** The health-checked upstreams. */
  readonly upstreams: LoadBalancer<Consistent>
  /** The health check; its thresholds are plain fields and may be tuned at run time. */
  readonly healthCheck: TcpHealthCheck | HttpHealthCheck
  /**
   * Stops the server (and the health checks): at once, or with `graceful` after the requests
   * in flight finish.
   */
  close(graceful?: boolean): Promise<void>
}

function healthCheck(options: HealthCheckedLbOptions): TcpHealthCheck | HttpHealthCheck {
  const common = {
    healthChangedCallback: options.onHealthChange,
    consecutiveFailure: options.consecutiveFailure ?? 1,
  }
  if (options.healthCheck === 'tcp') return new TcpHealthCheck(common)
  const request = RequestHeader.build('GET', options.healthPath)
  request.insertHeader('Host', 'health-check')
  return new HttpHealthCheck({ ...common, host: 'health-check', request })
}

/**
 * Starts the proxy and, as a background service of the same server, the upstreams' health
 * checks.
 * @param options - upstreams, listen address and health check
 */
export async function startHealthCheckedLb(options: HealthCheckedLbOptions): Promise<RunningLb> {
  const check = healthCheck(options)
  const upstreams = LoadBalancer.tryFromIter(Consistent, options.upstreams, {
    healthCheck: check,
    healthCheckFrequencyMs: options.healthCheckFrequencyMs,
  })
  const server = new Server({ configuration: { gracePeriodSeconds: 1 } })
  server.bootstrap()
  server.addService(backgroundService('health check', upstreams))
  const proxy = httpProxyService(
    server.configuration,
    new HealthCheckedLb(upstreams, { hashHeader: options.hashHeader }),
  )
  proxy.addTcp(options.listen)
  server.addService(proxy)
  await server.start()
  let closing: Promise<void> | undefined
  return {
    address: proxy.boundAddress().address,
    upstreams,
    healthCheck: check,
    close: (graceful = false) => {
      closing ??= server.shutdown({ graceful })
      return closing
    },
  }
}
