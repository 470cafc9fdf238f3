import { HttpPeer } from '@pingora-ts/core'
import { ErrorType, PingoraError } from '@pingora-ts/error'
import type { ResponseHeader } from '@pingora-ts/http'
import type { Backend, LoadBalancer, RoundRobin } from '@pingora-ts/load-balancing'
import type { ProxyHttp, Session } from '@pingora-ts/proxy'

const NO_KEY = new Uint8Array(0)

/** Per-request state: the backend in use and the ones that already failed to connect. */
export interface FailoverCtx {
  /** The backend of the current attempt. */
  backend: Backend | undefined
  /** Backends whose connect failed during this request; not chosen again. */
  failed: Backend[]
}

/**
 * Round robin over health-checked upstreams, with failover: a backend that the health check
 * marked down is skipped by `select`, and a backend that refuses the connection before the
 * health check noticed is retried on another one (at most `maxTries` attempts in total).
 *
 * Each response says where it went: `x-upstream` (the backend) and `x-upstream-attempts`.
 */
export class HealthCheckedLb implements ProxyHttp<FailoverCtx> {
  /** The upstreams, health-checked by their `LoadBalancer` running as a background service. */
  readonly upstreams: LoadBalancer<RoundRobin>
  /** Attempts per request, the first included. */
  readonly maxTries: number

  constructor(upstreams: LoadBalancer<RoundRobin>, maxTries = 3) {
    this.upstreams = upstreams
    this.maxTries = maxTries
  }

  newCtx(): FailoverCtx {
    return { backend: undefined, failed: [] }
  }

  upstreamPeer(_session: Session, ctx: FailoverCtx): HttpPeer {
    const failed = ctx.failed
    const backend = this.upstreams.selectWith(NO_KEY, 256, (candidate, healthy) => {
      if (!healthy) return false
      for (const f of failed) if (f.equals(candidate)) return false
      return true
    })
    if (backend === undefined) {
      throw PingoraError.explain(ErrorType.HTTPStatus(502), 'no healthy upstream')
    }
    ctx.backend = backend
    return new HttpPeer(backend, false, '')
  }

  failToConnect(
    _session: Session,
    _peer: HttpPeer,
    ctx: FailoverCtx,
    error: PingoraError,
  ): PingoraError {
    // Nothing reached the backend, so trying another one is always safe.
    if (ctx.backend !== undefined) ctx.failed.push(ctx.backend)
    if (ctx.failed.length < this.maxTries) error.setRetry(true)
    return error
  }

  upstreamResponseFilter(_session: Session, response: ResponseHeader, ctx: FailoverCtx): void {
    response.insertHeader('x-upstream', String(ctx.backend))
    response.insertHeader('x-upstream-attempts', String(ctx.failed.length + 1))
  }
}
