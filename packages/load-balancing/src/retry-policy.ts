import { formatPeerAddress, type HttpPeer } from '@pingora-ts/core'
import { ErrorType, PingoraError } from '@pingora-ts/error'
import type { Backend } from './backend.ts'
import { channels, type RetryDeniedMessage } from './diagnostics.ts'

/** What failed, as a {@link RetryPolicy} sees it. */
export type RetryFailure = RetryDeniedMessage['failure']

/** Options of {@link RetryPolicy}. */
export interface RetryPolicyOptions {
  /** Attempts per request, the first included. @defaultValue 2 (one retry, as Envoy's `num_retries: 1`) */
  maxAttempts?: number
  /** Retry failures to connect (nothing reached the upstream). @defaultValue `true` */
  retryOnConnect?: boolean
  /**
   * Retry a connection reset or closed before any response header, for idempotent methods.
   * @defaultValue `true`
   */
  retryOnReset?: boolean
  /**
   * Retry an attempt that timed out (its `perAttemptTimeoutMs`, or the peer's read or write
   * timeout) after the request went out, for idempotent methods. A connect timeout is a connect
   * failure (`retryOnConnect`). @defaultValue `true`
   */
  retryOnTimeout?: boolean
  /**
   * Retry these response statuses (from `upstreamResponseFilter`), for idempotent methods.
   * @defaultValue `[]` (Envoy retries no status unless told: `retry_on: 5xx`)
   */
  retryOnStatus?: readonly number[]
  /**
   * Decides for failures the rules above do not retry: return `true` to retry. Called with the
   * error and the request method.
   */
  predicate?: (error: PingoraError, method: string) => boolean
  /** The first backoff, in ms; each retry doubles it, capped. @defaultValue 25 */
  baseBackoffMs?: number
  /** The longest backoff, in ms. @defaultValue 250 (10 × base, as Envoy) */
  maxBackoffMs?: number
  /**
   * Retries in flight at most this percentage of the requests in flight...
   * @defaultValue 20
   */
  budgetPercent?: number
  /** ...but at least this many. @defaultValue 3 */
  minRetryConcurrency?: number
  /**
   * The time one attempt may take (the peer's connect and read timeouts are set to it, or to
   * what is left of the deadline when less). @defaultValue none
   */
  perAttemptTimeoutMs?: number
  /**
   * The time the whole request may take across attempts; past it the request fails with 504.
   * @defaultValue none
   */
  deadlineMs?: number
  /** The random source of the jitter, uniform in `[0, 1)`. @defaultValue `Math.random` */
  random?: () => number
  /** The monotonic clock, in ms. @defaultValue `performance.now` */
  now?: () => number
  /** Waits `ms` (inject one in tests). @defaultValue a promise resolved by `setTimer` */
  sleep?: (ms: number) => Promise<void>
  /**
   * Runs `callback` after `ms` and returns a function that cancels it: the proxy engine's one
   * timer for backoffs, per-attempt timeouts, the deadline and hedging (inject one in tests,
   * with `now`). @defaultValue `setTimeout`/`clearTimeout`
   */
  setTimer?: (callback: () => void, ms: number) => () => void
  /**
   * Hedging, for idempotent requests without a body (or with a fully buffered one) driven by the
   * proxy engine: when the first attempt has no response header after this many ms, a second
   * attempt goes to another backend; the first response header wins and the other attempt is
   * cancelled. Counts as a retry (attempts and budget). @defaultValue none (no hedging)
   */
  hedgeDelayMs?: number
}

/** RFC 9110 §9.2.2: methods whose repetition has the effect of one request. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE'])

const RESET_TYPES = new Set<string>([
  ErrorType.ConnectionClosed,
  ErrorType.ReadError,
  ErrorType.WriteError,
  ErrorType.H1Error,
  ErrorType.H2Error,
])
const TIMEOUT_TYPES = new Set<string>([
  ErrorType.ConnectTimedout,
  ErrorType.ReadTimedout,
  ErrorType.WriteTimedout,
  ErrorType.TLSHandshakeTimedout,
])

function defaultSetTimer(callback: () => void, ms: number): () => void {
  const timer = setTimeout(callback, ms)
  return () => clearTimeout(timer)
}

function defaultNow(): number {
  return performance.now()
}

function checkNonNegative(name: string, value: number): number {
  if (!(Number.isFinite(value) && value >= 0)) {
    throw new RangeError(`${name} must be a non-negative number, got ${value}`)
  }
  return value
}

/**
 * One request's retry state, from {@link RetryPolicy.start}: keep it in the ctx and call it
 * from the phases (see {@link RetryPolicy}).
 */
export class RetryState {
  readonly #policy: RetryPolicy
  readonly #method: string
  readonly #deadline: number
  /** Addresses already tried (bounded by `maxAttempts`). */
  readonly #tried: string[] = []
  #attempts = 0
  #retrying = false
  #finished = false

  /** @internal */
  constructor(policy: RetryPolicy, method: string, deadline: number) {
    this.#policy = policy
    this.#method = method
    this.#deadline = deadline
  }

  /**
   * The state of a request the proxy engine retries (`session.retryState`), or `undefined`
   * when `value` is not one (no policy, or another implementation).
   * @param value - typically `session.retryState`
   */
  static of(value: unknown): RetryState | undefined {
    return value instanceof RetryState ? value : undefined
  }

  /** Attempts started so far. */
  get attempts(): number {
    return this.#attempts
  }

  /**
   * Starts the next attempt (the proxy engine calls it): returns the backoff to wait first (0
   * for the first attempt).
   * @throws PingoraError a 504 when the deadline has passed or would pass during the backoff
   */
  nextAttempt(): number {
    const policy = this.#policy
    let delay = 0
    if (this.#attempts > 0) {
      delay = policy.backoffMs(this.#attempts)
      if (policy.now() + delay >= this.#deadline) throw this.#deadlineError()
    }
    if (policy.now() >= this.#deadline) throw this.#deadlineError()
    this.#attempts++
    return delay
  }

  /** The 504 error once the deadline has passed, else `undefined`. */
  deadlineError(): PingoraError | undefined {
    return this.#policy.now() >= this.#deadline ? this.#deadlineError() : undefined
  }

  /**
   * Whether a hedged attempt may start now (the proxy engine asks when `hedgeDelayMs` passed
   * without a response): an idempotent method, an attempt left, the deadline not passed and the
   * retry budget allowing. Counts the attempt (and the request as retrying) when it may.
   */
  startHedge(): boolean {
    const policy = this.#policy
    if (!IDEMPOTENT.has(this.#method)) return false
    if (this.#attempts >= policy.maxAttempts || policy.now() >= this.#deadline) return false
    if (!this.#retrying) {
      if (!policy.budgetAllows()) {
        if (channels.retryDenied.hasSubscribers) {
          channels.retryDenied.publish({
            reason: 'budget',
            failure: 'timeout',
          } satisfies RetryDeniedMessage)
        }
        return false
      }
      this.#retrying = true
      policy.retrying++
    }
    this.#attempts++
    return true
  }

  /**
   * Call at the start of `upstreamPeer`: the first attempt goes at once; a retry waits its
   * backoff (exponential, full jitter). Throws a 504 `PingoraError` when the deadline has passed
   * (or would pass during the backoff).
   */
  async beforeAttempt(): Promise<void> {
    const policy = this.#policy
    if (this.#attempts > 0) {
      const delay = policy.backoffMs(this.#attempts)
      if (policy.now() + delay >= this.#deadline) throw this.#deadlineError()
      if (delay > 0) await policy.sleep(delay)
    }
    if (policy.now() >= this.#deadline) throw this.#deadlineError()
    this.#attempts++
  }

  /**
   * The timeout of this attempt, in ms: the per-attempt timeout, or what is left of the
   * deadline when less; `undefined` when neither is set. Put it in the peer's
   * `connectionTimeoutMs`/`readTimeoutMs`/`writeTimeoutMs`.
   */
  attemptTimeoutMs(): number | undefined {
    const per = this.#policy.perAttemptTimeoutMs
    const left =
      this.#deadline === Number.POSITIVE_INFINITY
        ? undefined
        : Math.max(1, Math.ceil(this.#deadline - this.#policy.now()))
    if (per === undefined) return left
    return left === undefined ? per : Math.min(per, left)
  }

  /**
   * Records the backend this attempt goes to (retries prefer the others).
   * @param backend - the backend chosen
   */
  chose(backend: Backend): void {
    if (this.#tried.length < this.#policy.maxAttempts) this.#tried.push(backend.addr)
  }

  /**
   * Records the peer an attempt goes to (the proxy engine calls it when it drives the policy):
   * {@link RetryState.acceptUntried} then skips backends with its address.
   * @param peer - the peer `upstreamPeer` returned
   */
  peerChosen(peer: HttpPeer): void {
    if (this.#tried.length < this.#policy.maxAttempts) {
      this.#tried.push(formatPeerAddress(peer.address))
    }
  }

  /**
   * Selects a backend not tried yet for this request from `lb` (healthy ones first), else any
   * backend `lb.select` gives: the one line `upstreamPeer` needs to prefer another backend.
   * @param lb - the load balancer
   * @param key - the hashing key
   * @param maxIterations - candidates examined @defaultValue 256
   */
  select(
    lb: {
      selectWith(
        key: Uint8Array,
        max: number,
        accept: (b: Backend, h: boolean) => boolean,
      ): Backend | undefined
      select(key: Uint8Array, max: number): Backend | undefined
    },
    key: Uint8Array,
    maxIterations = 256,
  ): Backend | undefined {
    if (this.#tried.length === 0) return lb.select(key, maxIterations)
    return lb.selectWith(key, maxIterations, this.acceptUntried) ?? lb.select(key, maxIterations)
  }

  /**
   * An `accept` for `LoadBalancer.selectWith`: healthy backends not tried yet.
   * When every healthy backend was tried, select again with `select` (a tried one is better than
   * none).
   */
  readonly acceptUntried = (backend: Backend, healthy: boolean): boolean => {
    if (!healthy) return false
    const addr = backend.addr
    for (const tried of this.#tried) if (tried === addr) return false
    return true
  }

  /**
   * Call from `failToConnect`: marks the error retryable when the policy, the attempts left and
   * the budget allow; returns it.
   * @param error - the connect error
   */
  onConnectFailure(error: PingoraError): PingoraError {
    const kind: RetryFailure = TIMEOUT_TYPES.has(error.type) ? 'timeout' : 'connect'
    return this.#decide(error, this.#policy.retryOnConnect, kind)
  }

  /**
   * Call from `errorWhileProxy`: marks the error retryable when it is a reset or a timeout
   * before any response header (idempotent methods), a retryable status thrown by
   * {@link RetryState.checkResponse}, the predicate says so, or the error is already marked
   * retryable (`retry === true`, e.g. by `errorWhileProxy`); returns it.
   * @param error - the error
   * @param responseStarted - whether a response header reached the client
   * (`session.responseWritten !== undefined`)
   */
  onProxyError(error: PingoraError, responseStarted: boolean): PingoraError {
    if (responseStarted) return error.setRetry(false)
    const idempotent = IDEMPOTENT.has(this.#method)
    if (error.type === 'HTTPStatus' && this.#policy.retriesStatus(error.status)) {
      return this.#decide(error, idempotent, 'status')
    }
    if (RESET_TYPES.has(error.type) && error.source === 'upstream') {
      return this.#decide(error, this.#policy.retryOnReset && idempotent, 'reset')
    }
    if (TIMEOUT_TYPES.has(error.type)) {
      return this.#decide(error, this.#policy.retryOnTimeout && idempotent, 'timeout')
    }
    return this.#decide(error, false, 'other')
  }

  /**
   * Call from `upstreamResponseFilter` with the upstream's status: throws a retryable
   * `HTTPStatus` error when the status is one to retry, the method idempotent, and an attempt
   * and budget remain (the proxy then closes that connection and tries again); else returns
   * and the response goes to the client.
   * @param status - the upstream response status
   */
  checkResponse(status: number): void {
    const policy = this.#policy
    if (!policy.retriesStatus(status) || !IDEMPOTENT.has(this.#method)) return
    if (this.#attempts >= policy.maxAttempts) return
    if (!this.#retrying && !policy.budgetAllows()) return
    throw PingoraError.explain(ErrorType.HTTPStatus(status), 'retryable upstream status')
      .setSource('upstream')
      .setRetry(true)
  }

  /** Call from `logging`: the request is over (frees its share of the retry budget). */
  finish(): void {
    if (this.#finished) return
    this.#finished = true
    this.#policy.active--
    if (this.#retrying) this.#policy.retrying--
  }

  #decide(error: PingoraError, allowed: boolean, kind: RetryFailure): PingoraError {
    const policy = this.#policy
    let retry = allowed || error.retry === true || policy.predicate?.(error, this.#method) === true
    let reason: RetryDeniedMessage['reason'] | undefined
    if (retry && this.#attempts >= policy.maxAttempts) reason = 'attempts'
    else if (retry && this.#policy.now() >= this.#deadline) reason = 'deadline'
    else if (retry && !this.#retrying && !policy.budgetAllows()) reason = 'budget'
    if (reason !== undefined) {
      retry = false
      if (channels.retryDenied.hasSubscribers) {
        channels.retryDenied.publish({ reason, failure: kind } satisfies RetryDeniedMessage)
      }
    }
    if (retry && !this.#retrying) {
      this.#retrying = true
      policy.retrying++
    }
    return error.setRetry(retry)
  }

  #deadlineError(): PingoraError {
    return PingoraError.explain(
      ErrorType.HTTPStatus(504),
      `request deadline of ${this.#policy.deadlineMs} ms exceeded after ${this.#attempts} attempts`,
    ).setSource('upstream')
  }
}

/**
 * Retries as a policy object, Envoy's `retry_policy` for programmable proxies: which failures
 * retry (connect failures; resets, timeouts and chosen statuses for idempotent methods; a
 * predicate), how many attempts, exponential backoff with full jitter, a retry budget (retries
 * in flight at most `budgetPercent` of requests in flight, at least `minRetryConcurrency`),
 * retries preferring another backend, a per-attempt timeout, an overall deadline (504) and
 * hedging. Pingora leaves all of this to the user's phases.
 *
 * Give it to the proxy engine (`httpProxyService(conf, app, { retryPolicy })`, or return it
 * from `ProxyHttp.retryPolicy` per request): the engine's retry loop then applies it, stops an
 * attempt on its timeout and the request on its deadline (504, even mid-attempt), and hedges.
 * `upstreamPeer` prefers an untried backend with one line:
 * `RetryState.of(session.retryState)?.select(lb, key) ?? lb.select(key, 256)`.
 *
 * It also works without the engine, from the phases (timeouts then go through the peer's
 * options, and there is no hedging):
 *
 * @example
 * ```ts
 * const retries = new RetryPolicy({ maxAttempts: 3, retryOnStatus: [502, 503], deadlineMs: 2000 })
 * // newCtx:                 { retry: retries.start(method) } (or start it in earlyRequestFilter)
 * // upstreamPeer:           await ctx.retry.beforeAttempt(); backend = lb.selectWith(key, 256, ctx.retry.acceptUntried) ?? lb.select(key, 256)
 * //                         ctx.retry.chose(backend); peer.options.readTimeoutMs = ctx.retry.attemptTimeoutMs()
 * // failToConnect:          return ctx.retry.onConnectFailure(error)
 * // upstreamResponseFilter: ctx.retry.checkResponse(response.status)
 * // errorWhileProxy:        return ctx.retry.onProxyError(error, session.responseWritten !== undefined)
 * // logging:                ctx.retry.finish()
 * ```
 */
export class RetryPolicy {
  /** See {@link RetryPolicyOptions.maxAttempts}. */
  readonly maxAttempts: number
  /** See {@link RetryPolicyOptions.retryOnConnect}. */
  readonly retryOnConnect: boolean
  /** See {@link RetryPolicyOptions.retryOnReset}. */
  readonly retryOnReset: boolean
  /** See {@link RetryPolicyOptions.retryOnTimeout}. */
  readonly retryOnTimeout: boolean
  /** See {@link RetryPolicyOptions.predicate}. */
  readonly predicate: ((error: PingoraError, method: string) => boolean) | undefined
  /** See {@link RetryPolicyOptions.perAttemptTimeoutMs}. */
  readonly perAttemptTimeoutMs: number | undefined
  /** See {@link RetryPolicyOptions.deadlineMs}. */
  readonly deadlineMs: number | undefined
  /** See {@link RetryPolicyOptions.sleep}. */
  readonly sleep: (ms: number) => Promise<void>
  /** See {@link RetryPolicyOptions.now}. */
  readonly now: () => number
  /** See {@link RetryPolicyOptions.setTimer}. */
  readonly setTimer: (callback: () => void, ms: number) => () => void
  /** See {@link RetryPolicyOptions.hedgeDelayMs}. */
  readonly hedgeDelayMs: number | undefined
  readonly #statuses: ReadonlySet<number>
  readonly #baseMs: number
  readonly #maxMs: number
  readonly #budgetPercent: number
  readonly #minRetries: number
  readonly #random: () => number
  /** @internal Requests started and not finished. */
  active = 0
  /** @internal Of those, the ones that retried. */
  retrying = 0

  /**
   * Creates a policy.
   * @param options - what retries, how often, how fast
   * @throws RangeError when an option is out of range
   */
  constructor(options: RetryPolicyOptions = {}) {
    const maxAttempts = options.maxAttempts ?? 2
    if (!Number.isInteger(maxAttempts) || maxAttempts < 1) {
      throw new RangeError(`maxAttempts must be a positive integer, got ${maxAttempts}`)
    }
    this.maxAttempts = maxAttempts
    this.retryOnConnect = options.retryOnConnect ?? true
    this.retryOnReset = options.retryOnReset ?? true
    this.retryOnTimeout = options.retryOnTimeout ?? true
    this.#statuses = new Set(options.retryOnStatus ?? [])
    this.predicate = options.predicate
    this.#baseMs = checkNonNegative('baseBackoffMs', options.baseBackoffMs ?? 25)
    this.#maxMs = checkNonNegative('maxBackoffMs', options.maxBackoffMs ?? this.#baseMs * 10)
    this.#budgetPercent = checkNonNegative('budgetPercent', options.budgetPercent ?? 20)
    this.#minRetries = checkNonNegative('minRetryConcurrency', options.minRetryConcurrency ?? 3)
    this.perAttemptTimeoutMs =
      options.perAttemptTimeoutMs === undefined
        ? undefined
        : checkNonNegative('perAttemptTimeoutMs', options.perAttemptTimeoutMs)
    this.deadlineMs =
      options.deadlineMs === undefined
        ? undefined
        : checkNonNegative('deadlineMs', options.deadlineMs)
    this.#random = options.random ?? Math.random
    this.now = options.now ?? defaultNow
    const setTimer = options.setTimer ?? defaultSetTimer
    this.setTimer = setTimer
    this.sleep =
      options.sleep ?? ((ms: number) => new Promise<void>((resolve) => void setTimer(resolve, ms)))
    this.hedgeDelayMs =
      options.hedgeDelayMs === undefined
        ? undefined
        : checkNonNegative('hedgeDelayMs', options.hedgeDelayMs)
  }

  /**
   * Starts one request's retry state (counts it in flight for the budget until
   * {@link RetryState.finish}).
   * @param method - the request method (only idempotent ones retry resets and statuses)
   */
  start(method: string): RetryState {
    this.active++
    const deadline =
      this.deadlineMs === undefined ? Number.POSITIVE_INFINITY : this.now() + this.deadlineMs
    return new RetryState(this, method.toUpperCase(), deadline)
  }

  /**
   * The backoff before attempt `attempts + 1`: uniform in `[0, min(max, base × 2^(attempts-1)))`
   * ("full jitter").
   * @param attempts - attempts made so far (1 or more)
   */
  backoffMs(attempts: number): number {
    const ceiling = Math.min(this.#maxMs, this.#baseMs * 2 ** Math.max(0, attempts - 1))
    return Math.floor(this.#random() * ceiling)
  }

  /** Whether one more request may start retrying now. */
  budgetAllows(): boolean {
    const allowed = Math.max(this.#minRetries, (this.active * this.#budgetPercent) / 100)
    return this.retrying < allowed
  }

  /** @internal Whether `status` is one to retry. */
  retriesStatus(status: number | undefined): boolean {
    return status !== undefined && this.#statuses.has(status)
  }

  /** Requests in flight and, of those, retrying. */
  get stats(): { readonly active: number; readonly retrying: number } {
    return { active: this.active, retrying: this.retrying }
  }
}
