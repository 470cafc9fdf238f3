import { type Digest, HttpPeer } from '@pingora-ts/core'
import { ErrorType, PingoraError } from '@pingora-ts/error'
import type { ResponseHeader } from '@pingora-ts/http'
import type { Backend, Consistent, LoadBalancer } from '@pingora-ts/load-balancing'
import { defaultErrorWhileProxy, type ProxyHttp, type Session } from '@pingora-ts/proxy'

/** The request header hashed by default. */
export const DEFAULT_HASH_HEADER = 'x-user'

/**
 * Methods that may be sent twice (RFC 9110 §9.2.2), so a request whose backend broke the
 * connection before answering can go to another backend, as nginx's `proxy_next_upstream`
 * does by default (`non_idempotent` off).
 */
const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set([
  'GET',
  'HEAD',
  'OPTIONS',
  'TRACE',
  'PUT',
  'DELETE',
])

/** Errors that mean the backend dropped the connection: nothing was answered. */
const BROKEN_CONNECTION: ReadonlySet<string> = new Set([
  ErrorType.ConnectionClosed,
  ErrorType.ReadError,
  ErrorType.WriteError,
])

/** An attempt of a request that failed and was retried on another backend. */
export interface FailedAttempt {
  /** The backend that failed; not chosen again for this request. */
  readonly backend: Backend
  /** The error's type: `ConnectRefused`, `ConnectionClosed`, ... */
  readonly errorType: string
}

/** Per-request state: the backend in use and the ones that already failed for this request. */
export interface FailoverCtx {
  /** The backend of the current attempt. */
  backend: Backend | undefined
  /** Whether the current attempt runs on a pooled (reused) upstream connection. */
  reused: boolean
  /** The failed attempts of this request (connect errors or broken connections), in order. */
  failed: FailedAttempt[]
}

/** Options of {@link HealthCheckedLb}. */
export interface HealthCheckedLbProxyOptions {
  /** The request header whose value is the hashing key. @defaultValue {@link DEFAULT_HASH_HEADER} */
  hashHeader?: string
  /** Attempts per request, the first included. @defaultValue `3` */
  maxTries?: number
}

/**
 * Consistent hashing over health-checked upstreams, with failover.
 *
 * The key is the value of the `hashHeader` request header (`X-User` by default), as nginx's
 * `hash $http_x_user consistent`; a request without that header is keyed by the client's IP
 * address, so one client without the header sticks to one upstream. The same key goes to the
 * same upstream while it is ready; when it is not, the key moves to the next upstream on the
 * ketama ring and only the keys of that upstream move.
 *
 * Failover: a backend that the health check marked down is skipped by `select`. Before the
 * health check notices, a backend that refuses the connection is retried on the next one, and
 * so is an idempotent request whose backend dropped the connection before anything was sent to
 * the client (at most `maxTries` attempts in total, each on a different backend). A response
 * already being relayed when its backend drops the connection cannot be retried: the client's
 * connection is closed, and the client sees a cut response.
 *
 * Each response says where it went: `x-upstream` (the backend), `x-upstream-attempts` and,
 * after a failover, `x-upstream-failed` (each failed backend and its error type, e.g.
 * `127.0.0.1:4001 ConnectRefused`).
 */
export class HealthCheckedLb implements ProxyHttp<FailoverCtx> {
  /** The upstreams, health-checked by their `LoadBalancer` running as a background service. */
  readonly upstreams: LoadBalancer<Consistent>
  /** The request header whose value is the hashing key (lower case). */
  readonly hashHeader: string
  /** Attempts per request, the first included. */
  readonly maxTries: number

  /**
   * Creates the proxy logic.
   * @param upstreams - the health-checked upstreams
   * @param options - the hash header and the attempts per request
   * @throws RangeError when `maxTries` is not a positive integer
   */
  constructor(upstreams: LoadBalancer<Consistent>, options: HealthCheckedLbProxyOptions = {}) {
    const maxTries = options.maxTries ?? 3
    if (!Number.isInteger(maxTries) || maxTries < 1) {
      throw new RangeError(`maxTries must be a positive integer, got ${maxTries}`)
    }
    this.upstreams = upstreams
    this.hashHeader = (options.hashHeader ?? DEFAULT_HASH_HEADER).toLowerCase()
    this.maxTries = maxTries
  }

  newCtx(): FailoverCtx {
    return { backend: undefined, reused: false, failed: [] }
  }

  /**
   * The hashing key of a request: the hash header's raw bytes, else the client's IP address.
   * @param session - the proxy session
   */
  hashKey(session: Session): Uint8Array {
    // Header values are latin1 byte strings: latin1 gives back the bytes nginx would hash.
    const value = session.getHeader(this.hashHeader)
    if (value !== undefined) return Buffer.from(value, 'latin1')
    return Buffer.from(session.clientAddr?.address ?? '', 'latin1')
  }

  upstreamPeer(session: Session, ctx: FailoverCtx): HttpPeer {
    const failed = ctx.failed
    const backend = this.upstreams.selectWith(this.hashKey(session), 256, (candidate, healthy) => {
      if (!healthy) return false
      for (let i = 0; i < failed.length; i++) {
        if (failed[i]?.backend.equals(candidate) === true) return false
      }
      return true
    })
    if (backend === undefined) {
      throw PingoraError.explain(ErrorType.HTTPStatus(502), 'no healthy upstream')
    }
    ctx.backend = backend
    ctx.reused = false
    return new HttpPeer(backend, false, '')
  }

  connectedToUpstream(
    _session: Session,
    reused: boolean,
    _peer: HttpPeer,
    _digest: Digest | undefined,
    ctx: FailoverCtx,
  ): void {
    ctx.reused = reused
  }

  failToConnect(
    _session: Session,
    _peer: HttpPeer,
    ctx: FailoverCtx,
    error: PingoraError,
  ): PingoraError {
    // Nothing reached the backend, so trying another one is always safe.
    if (ctx.backend !== undefined) ctx.failed.push({ backend: ctx.backend, errorType: error.type })
    if (ctx.failed.length < this.maxTries) error.setRetry(true)
    return error
  }

  errorWhileProxy(
    peer: HttpPeer,
    session: Session,
    error: PingoraError,
    ctx: FailoverCtx,
    _clientReused: boolean,
  ): PingoraError {
    if (
      error.source === 'upstream' &&
      BROKEN_CONNECTION.has(error.type) &&
      IDEMPOTENT_METHODS.has(session.requestHeader.method) &&
      session.responseWritten === undefined
    ) {
      // The backend dropped the connection before anything reached the client: send the
      // request to another backend. The proxy itself refuses to retry once the request body
      // no longer fits its retry buffer.
      error.withContext(`Peer: ${peer}`)
      if (ctx.backend !== undefined) {
        ctx.failed.push({ backend: ctx.backend, errorType: error.type })
      }
      error.setRetry(ctx.failed.length < this.maxTries)
      return error
    }
    return defaultErrorWhileProxy(peer, session, error, ctx.reused)
  }

  upstreamResponseFilter(_session: Session, response: ResponseHeader, ctx: FailoverCtx): void {
    response.insertHeader('x-upstream', String(ctx.backend))
    response.insertHeader('x-upstream-attempts', String(ctx.failed.length + 1))
    if (ctx.failed.length > 0) {
      let failed = ''
      for (const attempt of ctx.failed) {
        failed += `${failed === '' ? '' : ', '}${attempt.backend} ${attempt.errorType}`
      }
      response.insertHeader('x-upstream-failed', failed)
    }
  }
}
