import { BasicPeer, PeerOptions, type PeerOptionsInit, TransportConnector } from '@pingora-ts/core'
import type { Backend } from './backend.ts'
import { checkCount, type HealthCheck, type HealthObserveCallback } from './health-check.ts'

/** Options of {@link TcpHealthCheck}. */
export interface TcpHealthCheckOptions {
  /** Consecutive successes that flip an unhealthy backend to healthy. @defaultValue `1` */
  consecutiveSuccess?: number
  /** Consecutive failures that flip a healthy backend to unhealthy. @defaultValue `1` */
  consecutiveFailure?: number
  /** Time allowed for the TCP connect (and for the TLS handshake). @defaultValue `1000` */
  connectTimeoutMs?: number
  /** The SNI to send; when set the check also completes a TLS handshake. @defaultValue `''` */
  sni?: string
  /**
   * More connection settings (CA, certificate verification, source address); the backend's
   * address replaces the peer address.
   */
  peerOptions?: PeerOptionsInit
  /** The connector to use. @defaultValue a new `TransportConnector` */
  connector?: TransportConnector
  /** Called when a backend's health flips. */
  healthChangedCallback?: HealthObserveCallback
}

/**
 * A health check that opens a TCP connection (plus a TLS handshake when `sni` is set) and
 * closes it. Port of Pingora's `TcpHealthCheck`; defaults: connect timeout 1 s, one success or
 * one failure flips the health.
 *
 * Connections go through core's `TransportConnector`, so connect errors are `PingoraError`s
 * (`ConnectRefused`, `ConnectTimedout`, `TLSHandshakeFailure`, `InvalidCert`...).
 */
export class TcpHealthCheck implements HealthCheck {
  /** Consecutive successes that flip an unhealthy backend to healthy. */
  consecutiveSuccess: number
  /** Consecutive failures that flip a healthy backend to unhealthy. */
  consecutiveFailure: number
  /** The SNI to send; TLS is used when it is not empty. */
  sni: string
  /** Called when a backend's health flips. */
  healthChangedCallback: HealthObserveCallback | undefined
  /** Connection settings applied to every probe. */
  readonly peerOptions: PeerOptions
  readonly #connector: TransportConnector

  /**
   * Creates a TCP (or TLS, with `sni`) health check.
   * @param options - thresholds, timeout, TLS settings and callback
   * @throws RangeError when a threshold is not a positive integer
   */
  constructor(options: TcpHealthCheckOptions = {}) {
    this.consecutiveSuccess = checkCount('consecutiveSuccess', options.consecutiveSuccess ?? 1)
    this.consecutiveFailure = checkCount('consecutiveFailure', options.consecutiveFailure ?? 1)
    this.sni = options.sni ?? ''
    this.healthChangedCallback = options.healthChangedCallback
    this.peerOptions = new PeerOptions({
      ...options.peerOptions,
      connectionTimeoutMs:
        options.connectTimeoutMs ?? options.peerOptions?.connectionTimeoutMs ?? 1000,
    })
    this.#connector = options.connector ?? new TransportConnector()
  }

  /**
   * Creates a check that completes a TLS handshake with `sni` (Pingora's `new_tls`).
   * @param sni - the server name to send and verify
   * @param options - the other options
   */
  static newTls(sni: string, options: Omit<TcpHealthCheckOptions, 'sni'> = {}): TcpHealthCheck {
    return new TcpHealthCheck({ ...options, sni })
  }

  /**
   * Connects to the backend and closes the connection.
   * @param backend - the backend to probe
   * @throws PingoraError the connector's connect and TLS errors
   */
  async check(backend: Backend): Promise<void> {
    const peer = new BasicPeer(backend.addr, this.peerOptions)
    peer.sni = this.sni
    const stream = await this.#connector.newStream(peer)
    stream.close()
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
}
