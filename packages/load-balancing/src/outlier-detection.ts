import diagnosticsChannel from 'node:diagnostics_channel'
import { formatPeerAddress, type PeerAddress } from '@pingora-ts/core'
import { ErrorType, PingoraError } from '@pingora-ts/error'
import type { Backend } from './backend.ts'
import {
  channels,
  type OutlierEjectedMessage,
  type OutlierReason,
  PROXY_FAILED,
  PROXY_RESPONDED,
} from './diagnostics.ts'

/**
 * What one request to a backend ended with, as {@link OutlierDetector.observe} reads it:
 * - an HTTP status the backend answered (`>= 500` is a failure, anything else a success);
 * - `'success'`;
 * - `'connect-failure'`: the connection was refused or failed (nothing reached the backend);
 * - `'timeout'`: connecting or reading timed out;
 * - `'reset'`: the connection was closed or reset before a complete response.
 */
export type OutlierResult = number | 'success' | 'connect-failure' | 'timeout' | 'reset'

/** Options of {@link OutlierDetector}; every rule is on unless its threshold is `0`. */
export interface OutlierDetectionOptions {
  /**
   * Ejects a backend after this many 5xx answers in a row (Envoy's `consecutive_5xx`); `0`
   * turns the rule off. @defaultValue 5
   */
  consecutive5xx?: number
  /**
   * Ejects a backend after this many connect failures, timeouts or resets in a row (Envoy's
   * `consecutive_gateway_failure` / `consecutive_local_origin_failure`); `0` turns the rule
   * off. @defaultValue 5
   */
  consecutiveConnectFailure?: number
  /**
   * Ejects a backend whose success rate over one window falls below this fraction (`0` to
   * `1`, Envoy's `failure_percentage_threshold` read the other way round); `0` turns the
   * rule off. @defaultValue 0 (off)
   */
  successRateThreshold?: number
  /** The success-rate window, in ms (a tumbling window). @defaultValue 10000 */
  successRateWindowMs?: number
  /**
   * The number of requests a window needs before its success rate is judged.
   * @defaultValue 50
   */
  successRateMinimumRequests?: number
  /**
   * How long the first ejection lasts, in ms; the n-th lasts `n` times as long (capped by
   * {@link OutlierDetectionOptions.maxEjectionTimeMs}). @defaultValue 30000
   */
  baseEjectionTimeMs?: number
  /** The longest an ejection lasts, in ms. @defaultValue 300000 */
  maxEjectionTimeMs?: number
  /**
   * The most backends ejected at once, in percent of the known backends; one backend may
   * always be ejected (as in Envoy). @defaultValue 10
   */
  maxEjectionPercent?: number
  /**
   * The most backends tracked; past it the oldest backend that is not ejected is forgotten.
   * @defaultValue 10000
   */
  maxBackends?: number
  /**
   * The monotonic clock, in ms (inject one in tests). @defaultValue `performance.now`
   */
  now?: () => number
}

/** The per-backend record: counters and the current ejection. */
class OutlierState {
  readonly backend: Backend
  consecutive5xx = 0
  consecutiveConnect = 0
  windowStart = 0
  windowTotal = 0
  windowFailures = 0
  /** How many times it was ejected (decays while it stays in). */
  ejections = 0
  /** When the current ejection ends; `0` when not ejected. */
  ejectedUntil = 0
  /** When it last came back (or was first seen). */
  returnedAt = 0

  constructor(backend: Backend, now: number) {
    this.backend = backend
    this.windowStart = now
    this.returnedAt = now
  }

  reset(now: number): void {
    this.consecutive5xx = 0
    this.consecutiveConnect = 0
    this.windowStart = now
    this.windowTotal = 0
    this.windowFailures = 0
  }
}

function checkNonNegativeInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 0) {
    throw new RangeError(`${name} must be a non-negative integer, got ${value}`)
  }
  return value
}

function checkPositive(name: string, value: number): number {
  if (!(Number.isFinite(value) && value > 0)) {
    throw new RangeError(`${name} must be a positive number, got ${value}`)
  }
  return value
}

function defaultNow(): number {
  return performance.now()
}

/**
 * Passive health checking: ejects backends that fail real traffic, for a time that grows with
 * each ejection. Envoy's outlier detection, which Pingora lacks, for programmable proxies.
 *
 * Feed it the result of every request ({@link OutlierDetector.observe}, or
 * {@link OutlierDetector.observeRequest} from the proxy's `logging` phase) and skip backends
 * for which {@link OutlierDetector.isEjected} is `true`; a {@link LoadBalancer} given the
 * detector (`outlierDetection` option) skips them itself, next to its active health checks
 * (either may keep a backend out).
 *
 * A backend is ejected after `consecutive5xx` 5xx answers in a row, `consecutiveConnectFailure`
 * connect failures, timeouts or resets in a row, or a success rate under
 * `successRateThreshold` over a window. The n-th ejection lasts `n × baseEjectionTimeMs`
 * (at most `maxEjectionTimeMs`); the count drops by one for every `baseEjectionTimeMs` spent
 * in. At most `maxEjectionPercent` of the backends (at least one) are out at once. A backend
 * comes back when its time is up, with fresh counters: its first requests count.
 *
 * Ejections and returns are published on `pingora:outlier:ejected` and
 * `pingora:outlier:returned`. Memory: one small record per backend, at most `maxBackends`.
 *
 * @example
 * ```ts
 * const outliers = new OutlierDetector({ consecutive5xx: 3 })
 * const lb = LoadBalancer.tryFromIter(RoundRobin, addrs, { outlierDetection: outliers })
 * const app = {
 *   newCtx: () => ({ backend: undefined as Backend | undefined }),
 *   upstreamPeer(session, ctx) { ctx.backend = lb.select(key, 256); ... },
 *   logging(session, error, ctx) { outliers.observeRequest(ctx.backend, error, session.responseWritten?.status) },
 * } satisfies ProxyHttp<{ backend: Backend | undefined }>
 * ```
 */
export class OutlierDetector {
  readonly #consecutive5xx: number
  readonly #consecutiveConnect: number
  readonly #successRateThreshold: number
  readonly #windowMs: number
  readonly #minimumRequests: number
  readonly #baseMs: number
  readonly #maxMs: number
  readonly #maxPercent: number
  readonly #maxBackends: number
  readonly #now: () => number
  readonly #states = new Map<string, OutlierState>()
  /** The ejected backends (at most `maxEjectionPercent` of the known ones). */
  readonly #ejected = new Set<OutlierState>()
  /** The size of the backend set set by {@link OutlierDetector.setBackendCount}, if any. */
  #backendCount: number | undefined

  /**
   * Creates a detector.
   * @param options - thresholds, ejection times and the clock
   * @throws RangeError when an option is out of range
   */
  constructor(options: OutlierDetectionOptions = {}) {
    this.#consecutive5xx = checkNonNegativeInteger('consecutive5xx', options.consecutive5xx ?? 5)
    this.#consecutiveConnect = checkNonNegativeInteger(
      'consecutiveConnectFailure',
      options.consecutiveConnectFailure ?? 5,
    )
    const threshold = options.successRateThreshold ?? 0
    if (!(threshold >= 0 && threshold <= 1)) {
      throw new RangeError(`successRateThreshold must be from 0 to 1, got ${threshold}`)
    }
    this.#successRateThreshold = threshold
    this.#windowMs = checkPositive('successRateWindowMs', options.successRateWindowMs ?? 10_000)
    this.#minimumRequests = Math.max(
      1,
      checkNonNegativeInteger(
        'successRateMinimumRequests',
        options.successRateMinimumRequests ?? 50,
      ),
    )
    this.#baseMs = checkPositive('baseEjectionTimeMs', options.baseEjectionTimeMs ?? 30_000)
    this.#maxMs = checkPositive('maxEjectionTimeMs', options.maxEjectionTimeMs ?? 300_000)
    const percent = options.maxEjectionPercent ?? 10
    if (!(percent >= 0 && percent <= 100)) {
      throw new RangeError(`maxEjectionPercent must be from 0 to 100, got ${percent}`)
    }
    this.#maxPercent = percent
    this.#maxBackends = checkPositive('maxBackends', options.maxBackends ?? 10_000)
    this.#now = options.now ?? defaultNow
    this.#backendCount = undefined
  }

  /**
   * Records the result of one request to `backend`; may eject it.
   * @param backend - the backend the request went to
   * @param result - what it ended with
   * @returns `true` when this result ejected the backend
   */
  observe(backend: Backend, result: OutlierResult): boolean {
    const now = this.#now()
    this.#sweep(now)
    const state = this.#state(backend, now)
    // Results of requests sent before an ejection may still arrive: they do not count.
    if (state.ejectedUntil !== 0) return false
    if (now - state.windowStart >= this.#windowMs) {
      state.windowStart = now
      state.windowTotal = 0
      state.windowFailures = 0
    }
    state.windowTotal++
    let reason: OutlierReason | undefined
    if (typeof result === 'number' ? result >= 500 : false) {
      state.windowFailures++
      state.consecutive5xx++
      state.consecutiveConnect = 0
      if (this.#consecutive5xx > 0 && state.consecutive5xx >= this.#consecutive5xx) {
        reason = 'consecutive-5xx'
      }
    } else if (typeof result === 'number' || result === 'success') {
      state.consecutive5xx = 0
      state.consecutiveConnect = 0
    } else {
      state.windowFailures++
      state.consecutiveConnect++
      state.consecutive5xx = 0
      if (this.#consecutiveConnect > 0 && state.consecutiveConnect >= this.#consecutiveConnect) {
        reason = 'consecutive-connect-failure'
      }
    }
    if (
      reason === undefined &&
      this.#successRateThreshold > 0 &&
      state.windowTotal >= this.#minimumRequests &&
      (state.windowTotal - state.windowFailures) / state.windowTotal < this.#successRateThreshold
    ) {
      reason = 'success-rate'
    }
    if (reason === undefined) return false
    return this.#eject(state, reason, now)
  }

  /**
   * Records a request from what the proxy's `logging` phase sees, in one line: the error the
   * request failed with (classified by {@link OutlierDetector.classify}), else the status sent
   * to the client. Does nothing when `backend` is `undefined` (no backend was picked) or when
   * the error did not come from the upstream (a client that went away says nothing about the
   * backend).
   * @param backend - the backend the request went to, if any
   * @param error - the error `logging` received
   * @param status - the response status, e.g. `session.responseWritten?.status`
   * @returns `true` when this result ejected the backend
   */
  observeRequest(
    backend: Backend | undefined,
    error: unknown,
    status: number | undefined,
  ): boolean {
    if (backend === undefined) return false
    if (error !== undefined && error !== null) {
      const result = OutlierDetector.classify(error)
      return result === undefined ? false : this.observe(backend, result)
    }
    return this.observe(backend, status ?? 'success')
  }

  /**
   * Feeds the detector from the proxy's per-attempt events, the one line that wires it to
   * `@pingora-ts/proxy`: every attempt to a peer whose address is one of `lb`'s backends counts,
   * retries and hedges included (`pingora:upstream:responded` gives the status,
   * `pingora:upstream:failed` the error, classified by {@link OutlierDetector.classify}; an attempt
   * cancelled because another answered first does not count). Use it instead of calling
   * `observeRequest` from `logging`, not with it. Returns a function that stops the feed.
   * @param lb - the load balancer whose backends the proxy's peers are
   * @example
   * ```ts
   * const outliers = new OutlierDetector({ consecutive5xx: 5 })
   * const lb = LoadBalancer.tryFromIter(RoundRobin, ['10.0.0.1:80'], { outlierDetection: outliers })
   * const stop = outliers.observeProxy(lb)
   * ```
   */
  observeProxy(lb: { backends(): readonly Backend[] }): () => void {
    let known: readonly Backend[] | undefined
    let byAddress = new Map<string, Backend>()
    const lookup = (peer: unknown): Backend | undefined => {
      const address = (peer as { address?: PeerAddress } | undefined)?.address
      if (address === undefined) return undefined
      const backends = lb.backends()
      if (backends !== known) {
        known = backends
        byAddress = new Map(backends.map((b) => [b.addr, b]))
      }
      return byAddress.get(formatPeerAddress(address))
    }
    const responded = (message: unknown): void => {
      const m = message as { peer?: unknown; response?: { status?: number } }
      const backend = lookup(m.peer)
      const status = m.response?.status
      if (backend !== undefined && typeof status === 'number') this.observe(backend, status)
    }
    const failed = (message: unknown): void => {
      const m = message as { peer?: unknown; error?: unknown }
      const backend = lookup(m.peer)
      if (backend === undefined) return
      const result = OutlierDetector.classify(m.error)
      if (result !== undefined) this.observe(backend, result)
    }
    diagnosticsChannel.subscribe(PROXY_RESPONDED, responded)
    diagnosticsChannel.subscribe(PROXY_FAILED, failed)
    return () => {
      diagnosticsChannel.unsubscribe(PROXY_RESPONDED, responded)
      diagnosticsChannel.unsubscribe(PROXY_FAILED, failed)
    }
  }

  /**
   * Maps an upstream error to an {@link OutlierResult}: connect failures, timeouts and resets;
   * `HTTPStatus` errors to their status. Returns `undefined` for errors that say nothing about
   * the backend (downstream or internal ones).
   * @param error - a `PingoraError` (anything else is `undefined`)
   */
  static classify(error: unknown): OutlierResult | undefined {
    if (!PingoraError.is(error)) return undefined
    if (error.source === 'downstream' || error.source === 'internal') return undefined
    switch (error.type) {
      case ErrorType.ConnectTimedout:
      case ErrorType.TLSHandshakeTimedout:
      case ErrorType.ReadTimedout:
      case ErrorType.WriteTimedout:
        return 'timeout'
      case ErrorType.ConnectRefused:
      case ErrorType.ConnectNoRoute:
      case ErrorType.ConnectError:
      case ErrorType.TLSHandshakeFailure:
      case ErrorType.InvalidCert:
      case ErrorType.HandshakeError:
      case ErrorType.SocketError:
      case ErrorType.ConnectProxyFailure:
        return 'connect-failure'
      case ErrorType.ConnectionClosed:
      case ErrorType.ReadError:
      case ErrorType.WriteError:
      case ErrorType.H1Error:
      case ErrorType.H2Error:
      case ErrorType.InvalidH2:
      case ErrorType.InvalidHTTPHeader:
        return 'reset'
      case 'HTTPStatus':
        return error.status ?? 502
      default:
        return error.source === 'upstream' ? 'reset' : undefined
    }
  }

  /**
   * Whether `backend` is ejected now. A backend whose ejection time is up comes back here
   * (published on `pingora:outlier:returned`).
   * @param backend - the backend
   */
  isEjected(backend: Backend): boolean {
    if (this.#ejected.size === 0) return false
    const state = this.#states.get(backend.hashKey())
    if (state === undefined || state.ejectedUntil === 0) return false
    const now = this.#now()
    if (now < state.ejectedUntil) return true
    this.#return(state, now)
    return false
  }

  /** How many backends are ejected now. */
  get ejectedCount(): number {
    this.#sweep(this.#now())
    return this.#ejected.size
  }

  /**
   * When `backend`'s ejection ends on this detector's clock, or `undefined` when it is in.
   * @param backend - the backend
   */
  ejectedUntil(backend: Backend): number | undefined {
    return this.isEjected(backend) ? this.#states.get(backend.hashKey())?.ejectedUntil : undefined
  }

  /**
   * Sets the size of the backend set the `maxEjectionPercent` applies to; a
   * {@link LoadBalancer} calls it on every update. Without it, the number of backends
   * observed is used.
   * @param count - the number of backends
   */
  setBackendCount(count: number): void {
    this.#backendCount = count
  }

  /**
   * Forgets a backend (removed from the set): its counters and any ejection.
   * @param backend - the backend
   */
  forget(backend: Backend): void {
    const state = this.#states.get(backend.hashKey())
    if (state === undefined) return
    this.#ejected.delete(state)
    this.#states.delete(backend.hashKey())
  }

  #state(backend: Backend, now: number): OutlierState {
    const key = backend.hashKey()
    let state = this.#states.get(key)
    if (state !== undefined) return state
    if (this.#states.size >= this.#maxBackends) {
      for (const [oldKey, old] of this.#states) {
        if (old.ejectedUntil === 0) {
          this.#states.delete(oldKey)
          break
        }
      }
    }
    state = new OutlierState(backend, now)
    this.#states.set(key, state)
    return state
  }

  #eject(state: OutlierState, reason: OutlierReason, now: number): boolean {
    const known = Math.max(this.#backendCount ?? this.#states.size, 1)
    const allowed = Math.max(1, Math.floor((known * this.#maxPercent) / 100))
    if (this.#ejected.size >= allowed) {
      // Over the cap: keep it in, with fresh counters so the next streak is judged anew.
      state.reset(now)
      return false
    }
    // The multiplier decays by one per base ejection time spent in since the last return.
    const decay = Math.floor((now - state.returnedAt) / this.#baseMs)
    state.ejections = Math.max(0, state.ejections - decay) + 1
    const durationMs = Math.min(this.#baseMs * state.ejections, this.#maxMs)
    state.ejectedUntil = now + durationMs
    state.reset(now)
    this.#ejected.add(state)
    if (channels.outlierEjected.hasSubscribers) {
      channels.outlierEjected.publish({
        backend: state.backend,
        reason,
        ejections: state.ejections,
        durationMs,
      } satisfies OutlierEjectedMessage)
    }
    return true
  }

  #return(state: OutlierState, now: number): void {
    state.ejectedUntil = 0
    state.returnedAt = now
    state.reset(now)
    this.#ejected.delete(state)
    if (channels.outlierReturned.hasSubscribers) {
      channels.outlierReturned.publish({ backend: state.backend })
    }
  }

  #sweep(now: number): void {
    if (this.#ejected.size === 0) return
    for (const state of this.#ejected) {
      if (now >= state.ejectedUntil) this.#return(state, now)
    }
  }
}
