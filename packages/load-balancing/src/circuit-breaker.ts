import { ErrorType, PingoraError } from '@pingora-ts/error'
import { ResponseHeader } from '@pingora-ts/http'
import { type CircuitLimit, type CircuitOverflowedMessage, channels } from './diagnostics.ts'

/** Options of {@link CircuitBreaker}; every limit is a count, `Infinity` for none. */
export interface CircuitBreakerOptions {
  /** A name for the upstream, in errors and diagnostics. @defaultValue `'upstream'` */
  name?: string
  /**
   * The most connections held by requests to this upstream: being opened or carrying a
   * request (Envoy's `max_connections`). Idle pooled connections are bounded by the pool's
   * size instead. @defaultValue 1024
   */
  maxConnections?: number
  /**
   * The most requests waiting for a connection: entered, not yet connected (Envoy's
   * `max_pending_requests`). @defaultValue 1024
   */
  maxPendingRequests?: number
  /** The most requests in flight (Envoy's `max_requests`). @defaultValue 1024 */
  maxRequests?: number
  /** The most requests retrying at once (Envoy's `max_retries`). @defaultValue 3 */
  maxRetries?: number
  /** The status of the overflow error. @defaultValue 503 */
  overflowStatus?: number
}

/** The counts of a {@link CircuitBreaker} now, and the overflows since it was made. */
export interface CircuitBreakerStats {
  /** Requests in flight. */
  readonly requests: number
  /** Requests waiting for a connection. */
  readonly pending: number
  /** Requests holding a connection (pending ones included). */
  readonly connections: number
  /** Requests retrying. */
  readonly retries: number
  /** How many requests failed fast, per limit. */
  readonly overflows: Readonly<Record<CircuitLimit, number>>
}

/** The custom error type of an overflow (`ErrorType.CustomCode('UpstreamOverflow', status)`). */
const OVERFLOW_TYPE = 'UpstreamOverflow'
const overflowLimit = new WeakMap<PingoraError, CircuitLimit>()

function checkLimit(name: string, value: number): number {
  if (!(value === Number.POSITIVE_INFINITY || (Number.isInteger(value) && value >= 0))) {
    throw new RangeError(`${name} must be a non-negative integer or Infinity, got ${value}`)
  }
  return value
}

/**
 * One request's place in a {@link CircuitBreaker}, from {@link CircuitBreaker.enter} to
 * {@link CircuitTicket.release}. Tell it when the request connected and when it retries.
 */
export class CircuitTicket {
  readonly #breaker: CircuitBreaker
  #connected = false
  #retrying = false
  #released = false

  /** @internal */
  constructor(breaker: CircuitBreaker) {
    this.#breaker = breaker
  }

  /**
   * The request has its connection (call from `connectedToUpstream`): no longer pending.
   * Idempotent.
   */
  connected(): void {
    if (this.#connected || this.#released) return
    this.#connected = true
    this.#breaker.pending--
  }

  /**
   * The request is about to try again (call from `upstreamPeer` when `session.retries > 0`):
   * it waits for a connection again, and counts as a retry until released. Throws the
   * overflow error when `maxRetries` requests are already retrying.
   * @throws PingoraError (`UpstreamOverflow`, 503 by default) past `maxRetries`
   */
  retry(): void {
    if (this.#released) return
    if (!this.#retrying) {
      this.#breaker.admitRetry()
      this.#retrying = true
    }
    if (this.#connected) {
      this.#connected = false
      this.#breaker.pending++
    }
  }

  /** The request finished (call from `logging`): frees its place. Idempotent. */
  release(): void {
    if (this.#released) return
    this.#released = true
    const breaker = this.#breaker
    breaker.requests--
    if (!this.#connected) breaker.pending--
    if (this.#retrying) breaker.retries--
  }
}

/**
 * Circuit breaking for one upstream (a peer or a group of backends), as Envoy's per-cluster
 * thresholds: past a limit a request fails at once with a `PingoraError` of type
 * `UpstreamOverflow` (status 503 by default) instead of piling up on an upstream that cannot
 * keep up. Pingora has none.
 *
 * Wire it in three phases, one line each: {@link CircuitBreaker.enter} in `upstreamPeer` (or
 * {@link CircuitTicket.retry} on a retry), {@link CircuitTicket.connected} in
 * `connectedToUpstream`, {@link CircuitTicket.release} in `logging`. Each overflow is counted
 * ({@link CircuitBreaker.stats}) and published on `pingora:circuit:overflowed`.
 * {@link CircuitBreaker.overflowResponse} builds the 503 with an `x-pingora-overflow` header
 * for `failToProxy`.
 *
 * @example
 * ```ts
 * const breaker = new CircuitBreaker({ name: 'api', maxRequests: 100, maxPendingRequests: 10 })
 * // upstreamPeer:        ctx.ticket === undefined ? (ctx.ticket = breaker.enter()) : ctx.ticket.retry()
 * // connectedToUpstream: ctx.ticket?.connected()
 * // logging:             ctx.ticket?.release()
 * ```
 */
export class CircuitBreaker {
  /** The upstream's name. */
  readonly name: string
  /** See {@link CircuitBreakerOptions.maxConnections}. */
  readonly maxConnections: number
  /** See {@link CircuitBreakerOptions.maxPendingRequests}. */
  readonly maxPendingRequests: number
  /** See {@link CircuitBreakerOptions.maxRequests}. */
  readonly maxRequests: number
  /** See {@link CircuitBreakerOptions.maxRetries}. */
  readonly maxRetries: number
  readonly #status: number
  /** @internal */
  requests = 0
  /** @internal */
  pending = 0
  /** @internal */
  retries = 0
  readonly #overflows: Record<CircuitLimit, number> = {
    connections: 0,
    pending: 0,
    requests: 0,
    retries: 0,
  }

  /**
   * Creates a breaker.
   * @param options - the limits
   * @throws RangeError when a limit is not a non-negative integer or `Infinity`
   */
  constructor(options: CircuitBreakerOptions = {}) {
    this.name = options.name ?? 'upstream'
    this.maxConnections = checkLimit('maxConnections', options.maxConnections ?? 1024)
    this.maxPendingRequests = checkLimit('maxPendingRequests', options.maxPendingRequests ?? 1024)
    this.maxRequests = checkLimit('maxRequests', options.maxRequests ?? 1024)
    this.maxRetries = checkLimit('maxRetries', options.maxRetries ?? 3)
    this.#status = options.overflowStatus ?? 503
    // Checks the status once, here (CustomCode validates it).
    ErrorType.CustomCode(OVERFLOW_TYPE, this.#status)
  }

  /**
   * Admits a request (it waits for a connection until {@link CircuitTicket.connected}), or
   * fails fast when the upstream is at a limit.
   * @throws PingoraError (`UpstreamOverflow`, 503 by default) past `maxRequests`,
   * `maxPendingRequests` or `maxConnections`
   */
  enter(): CircuitTicket {
    if (this.requests >= this.maxRequests) throw this.#overflow('requests')
    if (this.pending >= this.maxPendingRequests) throw this.#overflow('pending')
    // Connections held: every request in flight holds (or is opening) one.
    if (this.requests >= this.maxConnections) throw this.#overflow('connections')
    this.requests++
    this.pending++
    return new CircuitTicket(this)
  }

  /** @internal Admits one more retrying request, or throws the overflow. */
  admitRetry(): void {
    if (this.retries >= this.maxRetries) throw this.#overflow('retries')
    this.retries++
  }

  /** The counts now and the overflows so far. */
  get stats(): CircuitBreakerStats {
    return {
      requests: this.requests,
      pending: this.pending,
      connections: this.requests,
      retries: this.retries,
      overflows: { ...this.#overflows },
    }
  }

  /**
   * Which limit an error overflowed, when it is an overflow error of a breaker.
   * @param error - any error
   */
  static overflowOf(error: unknown): CircuitLimit | undefined {
    return PingoraError.is(error) ? overflowLimit.get(error) : undefined
  }

  /**
   * The response for an overflow error: its status (503 by default), an empty body and
   * `x-pingora-overflow: <limit>`, for `failToProxy` to send; `undefined` for other errors.
   * @param error - the error `failToProxy` received
   */
  static overflowResponse(error: unknown): ResponseHeader | undefined {
    const limit = CircuitBreaker.overflowOf(error)
    if (limit === undefined || !PingoraError.is(error)) return undefined
    const response = ResponseHeader.build(error.status ?? 503)
    response.insertHeader('x-pingora-overflow', limit)
    response.insertHeader('content-length', '0')
    response.insertHeader('cache-control', 'private, no-store')
    return response
  }

  #overflow(limit: CircuitLimit): PingoraError {
    this.#overflows[limit]++
    if (channels.circuitOverflowed.hasSubscribers) {
      channels.circuitOverflowed.publish({
        name: this.name,
        limit,
      } satisfies CircuitOverflowedMessage)
    }
    const error = PingoraError.explain(
      ErrorType.CustomCode(OVERFLOW_TYPE, this.#status),
      `circuit breaker ${this.name}: ${limit} limit reached`,
    ).setSource('internal')
    overflowLimit.set(error, limit)
    return error
  }
}
