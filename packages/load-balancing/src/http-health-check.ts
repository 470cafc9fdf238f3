import { HttpConnector, HttpPeer, PeerOptions, type PeerOptionsInit } from '@pingora-ts/core'
import { ErrorType, PingoraError } from '@pingora-ts/error'
import { RequestHeader, type ResponseHeader } from '@pingora-ts/http'
import type { Backend } from './backend.ts'
import { checkCount, type HealthCheck, type HealthObserveCallback } from './health-check.ts'

/** Options of {@link HttpHealthCheck}. */
export interface HttpHealthCheckOptions {
  /** The `Host` header of the default request, and the SNI with TLS. */
  host: string
  /** Whether to speak HTTPS. @defaultValue `false` */
  tls?: boolean
  /** The request to send. @defaultValue `GET /` with `Host: host` */
  request?: RequestHeader
  /**
   * Decides whether a response means healthy: throw (or reject) to fail the check.
   * @defaultValue only `200` passes
   */
  validator?: (response: ResponseHeader) => void | Promise<void>
  /** Consecutive successes that flip an unhealthy backend to healthy. @defaultValue `1` */
  consecutiveSuccess?: number
  /** Consecutive failures that flip a healthy backend to unhealthy. @defaultValue `1` */
  consecutiveFailure?: number
  /** Time allowed to connect (TCP, and TLS). @defaultValue `1000` */
  connectTimeoutMs?: number
  /** Time allowed for each read of the response. @defaultValue `1000` */
  readTimeoutMs?: number
  /** Probe this port on the backend's IP instead of the backend's port. */
  portOverride?: number
  /**
   * Keep the connection for the next check (cheaper) instead of a fresh connection per check
   * (which also exercises the handshake through firewalls and L4 load balancers).
   * @defaultValue `false`
   */
  reuseConnection?: boolean
  /** More connection settings (CA, certificate verification, source address). */
  peerOptions?: PeerOptionsInit
  /** The connector to use. @defaultValue a new `HttpConnector` */
  connector?: HttpConnector
  /** Called when a backend's health flips. */
  healthChangedCallback?: HealthObserveCallback
}

/**
 * A health check that sends an HTTP/1.1 request and validates the response header, then drains
 * the body. Port of Pingora's `HttpHealthCheck`; defaults: `GET /` with `Host`, connect and read
 * timeouts 1 s, only `200` passes, a fresh connection per check, one success or one failure
 * flips the health.
 *
 * Runs on core's `HttpConnector` and `Http1ClientSession`.
 *
 * @example
 * ```ts
 * const check = new HttpHealthCheck({
 *   host: 'api.internal',
 *   request: RequestHeader.build('GET', '/healthz'),
 *   validator: (response) => {
 *     if (response.status >= 300) throw new Error(`status ${response.status}`)
 *   },
 *   consecutiveFailure: 3,
 * })
 * ```
 */
export class HttpHealthCheck implements HealthCheck {
  /** Consecutive successes that flip an unhealthy backend to healthy. */
  consecutiveSuccess: number
  /** Consecutive failures that flip a healthy backend to unhealthy. */
  consecutiveFailure: number
  /** The request sent (a copy per check). */
  request: RequestHeader
  /** The response validator; `undefined` requires `200`. */
  validator: ((response: ResponseHeader) => void | Promise<void>) | undefined
  /** Probe this port instead of the backend's. */
  portOverride: number | undefined
  /** Whether connections are kept for the next check. */
  reuseConnection: boolean
  /** Called when a backend's health flips. */
  healthChangedCallback: HealthObserveCallback | undefined
  /** Whether HTTPS is spoken. */
  readonly tls: boolean
  /** The SNI sent with TLS. */
  readonly sni: string
  /** Connection settings applied to every probe. */
  readonly peerOptions: PeerOptions
  readonly #connector: HttpConnector

  /**
   * Creates an HTTP health check.
   * @param options - host, request, validator, timeouts and thresholds
   * @throws RangeError when a threshold is not a positive integer
   */
  constructor(options: HttpHealthCheckOptions) {
    this.consecutiveSuccess = checkCount('consecutiveSuccess', options.consecutiveSuccess ?? 1)
    this.consecutiveFailure = checkCount('consecutiveFailure', options.consecutiveFailure ?? 1)
    if (options.request !== undefined) {
      this.request = options.request
    } else {
      this.request = RequestHeader.build('GET', '/')
      this.request.insertHeader('Host', options.host)
    }
    this.validator = options.validator
    this.portOverride = options.portOverride
    this.reuseConnection = options.reuseConnection ?? false
    this.healthChangedCallback = options.healthChangedCallback
    this.tls = options.tls ?? false
    this.sni = this.tls ? options.host : ''
    this.peerOptions = new PeerOptions({
      ...options.peerOptions,
      connectionTimeoutMs:
        options.connectTimeoutMs ?? options.peerOptions?.connectionTimeoutMs ?? 1000,
      readTimeoutMs: options.readTimeoutMs ?? options.peerOptions?.readTimeoutMs ?? 1000,
    })
    this.#connector = options.connector ?? new HttpConnector()
  }

  /**
   * Sends the request to the backend and validates the response.
   * @param backend - the backend to probe
   * @throws PingoraError connect, read and protocol errors, or `CustomCode('non 200 code', status)`
   *   when there is no validator and the status is not 200; whatever the validator throws
   */
  async check(backend: Backend): Promise<void> {
    const peer = new HttpPeer({
      address: this.#address(backend),
      tls: this.tls,
      sni: this.sni,
      options: this.peerOptions,
    })
    const [session] = await this.#connector.getHttpSession(peer)
    try {
      await session.writeRequestHeader(this.request.clone())
      await session.finishBody()
      let response = await session.readResponseHeader()
      // Skip informational responses (100 Continue, 103 Early Hints).
      while (response.status >= 100 && response.status < 200 && response.status !== 101) {
        response = await session.readResponseHeader()
      }
      if (this.validator !== undefined) {
        await this.validator(response)
      } else if (response.status !== 200) {
        throw PingoraError.explain(
          ErrorType.CustomCode('non 200 code', response.status),
          'during http healthcheck',
        ).setSource('upstream')
      }
      while ((await session.readResponseBody()) !== undefined) {
        // Drain the body so the connection can be reused.
      }
    } catch (error) {
      session.shutdown()
      throw error
    }
    if (this.reuseConnection) this.#connector.releaseHttpSession(session, peer)
    else session.shutdown()
  }

  /**
   * The configured threshold.
   * @param success - which direction
   */
  healthThreshold(success: boolean): number {
    return success ? this.consecutiveSuccess : this.consecutiveFailure
  }

  /**
   * Forwards to `healthChangedCallback`.
   * @param backend - the backend
   * @param healthy - its new health
   */
  async healthStatusChange(backend: Backend, healthy: boolean): Promise<void> {
    await this.healthChangedCallback?.(backend, healthy)
  }

  #address(backend: Backend): string {
    const port = this.portOverride
    if (port === undefined || backend.family === 'unix') return backend.addr
    return backend.family === 'ipv6' ? `[${backend.host}]:${port}` : `${backend.host}:${port}`
  }
}
