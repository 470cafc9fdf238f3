import { HttpPeer } from '@pingora-ts/core'
import { ErrorType, PingoraError } from '@pingora-ts/error'
import type { RequestHeader } from '@pingora-ts/http'
import type { LoadBalancer, RoundRobin } from '@pingora-ts/load-balancing'
import type { ProxyHttp, Session } from '@pingora-ts/proxy'

/** Where the load balancer sends requests and how. */
export interface LbUpstreamOptions {
  /** Connect to the upstreams over TLS. */
  tls: boolean
  /** The SNI (and certificate name) for TLS upstreams. */
  sni: string
  /** Rewrite the `Host` header to this value, if set. */
  host: string | undefined
  /**
   * The CA certificates (PEM) that verify TLS upstreams, instead of Node's roots (and
   * `NODE_EXTRA_CA_CERTS`). @defaultValue Node's roots
   */
  ca?: string | undefined
  /**
   * Speak HTTP/2 to the upstreams: ALPN `h2` over TLS, h2c with prior knowledge without it;
   * up to 100 concurrent requests share one upstream connection.
   */
  upstreamH2?: boolean | undefined
}

/**
 * The load balancer of Pingora's `load_balancer.rs`: round robin over the upstreams, with the
 * TLS, SNI and Host settings of the command line (the seed example hard-codes
 * `one.one.one.one`).
 */
export class LB implements ProxyHttp<void> {
  readonly upstreams: LoadBalancer<RoundRobin>
  readonly options: LbUpstreamOptions
  constructor(upstreams: LoadBalancer<RoundRobin>, options: LbUpstreamOptions) {
    this.upstreams = upstreams
    this.options = options
  }
  newCtx() {}
  upstreamPeer(_session: Session) {
    const upstream = this.upstreams.select(Buffer.alloc(0), 256) // hash doesn't matter for round robin
    if (!upstream) throw PingoraError.explain(ErrorType.HTTPStatus(502), 'no healthy upstream')
    const { tls, sni, ca } = this.options
    const peer =
      ca === undefined
        ? new HttpPeer(upstream, tls, sni)
        : new HttpPeer({ address: upstream, tls, sni, options: { ca } })
    if (this.options.upstreamH2 === true) {
      peer.options.setHttpVersion(2, 2)
      peer.options.maxH2Streams = 100
    }
    return peer
  }
  upstreamRequestFilter(_session: Session, upstreamRequest: RequestHeader) {
    if (this.options.host !== undefined) upstreamRequest.insertHeader('Host', this.options.host)
  }
}
