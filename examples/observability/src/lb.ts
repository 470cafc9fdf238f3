import { HttpPeer } from '@pingora-ts/core'
import { ErrorType, PingoraError } from '@pingora-ts/error'
import type { LoadBalancer, RoundRobin } from '@pingora-ts/load-balancing'
import type { ProxyHttp, Session } from '@pingora-ts/proxy'

/**
 * Round robin over the upstreams, as `examples/load-balancer`, with nothing about metrics,
 * traces or logs in it: `@pingora-ts/observability` gets all of that from the diagnostics
 * channels the proxy publishes.
 */
export class ObservedLb implements ProxyHttp<void> {
  readonly upstreams: LoadBalancer<RoundRobin>
  constructor(upstreams: LoadBalancer<RoundRobin>) {
    this.upstreams = upstreams
  }
  newCtx() {}
  upstreamPeer(_session: Session) {
    const upstream = this.upstreams.select(Buffer.alloc(0), 256)
    if (!upstream) throw PingoraError.explain(ErrorType.HTTPStatus(502), 'no healthy upstream')
    return new HttpPeer(upstream, false, '')
  }
}
