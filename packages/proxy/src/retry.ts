import type { HttpPeer } from '@pingora-ts/core'
import type { PingoraError } from '@pingora-ts/error'

/**
 * A retry policy the proxy engine drives (`HttpProxyOptions.retryPolicy` or
 * {@link ProxyHttp.retryPolicy}): which failures retry, how many attempts, the backoff, the
 * retry budget, the per-attempt timeout, the overall deadline and hedging.
 * `RetryPolicy` of `@pingora-ts/load-balancing` implements it; the proxy depends only on this
 * shape (the engine does not own policy, house style 2.1).
 */
export interface UpstreamRetryPolicy {
  /**
   * Starts one request's retry state; the engine calls {@link UpstreamRetryState.finish} when
   * the request is over.
   * @param method - the request method
   */
  start(method: string): UpstreamRetryState
  /**
   * Runs `callback` after `ms` and returns a function that cancels it. The engine's only timer
   * for backoffs, per-attempt timeouts, the deadline and the hedge delay (tests inject one).
   */
  setTimer(callback: () => void, ms: number): () => void
  /**
   * After this many ms without a response header, an idempotent request without a body (or
   * with a fully buffered one) is sent to another backend too; the first response header wins.
   * `undefined`: no hedging.
   */
  readonly hedgeDelayMs: number | undefined
}

/** One request's retry state under an {@link UpstreamRetryPolicy} (`session.retryState`). */
export interface UpstreamRetryState {
  /** Attempts started so far. */
  readonly attempts: number
  /**
   * Starts the next attempt: returns the backoff to wait first (0 for the first attempt).
   * @throws PingoraError a 504 when the deadline has passed or would pass during the backoff
   */
  nextAttempt(): number
  /** How long this attempt may take: the per-attempt timeout or what is left of the deadline. */
  attemptTimeoutMs(): number | undefined
  /** The 504 error once the deadline has passed, else `undefined`. */
  deadlineError(): PingoraError | undefined
  /** Records the peer an attempt goes to, so that retries may prefer another. */
  peerChosen(peer: HttpPeer): void
  /** Decides about a connect failure (after `failToConnect`): sets and returns `error.retry`. */
  onConnectFailure(error: PingoraError): PingoraError
  /** Decides about an exchange failure (after `errorWhileProxy`): sets and returns `error.retry`. */
  onProxyError(error: PingoraError, responseStarted: boolean): PingoraError
  /** Throws a retryable error when the upstream's status is one to retry; else returns. */
  checkResponse(status: number): void
  /** Whether a hedged attempt may start now; counts it when it may. */
  startHedge(): boolean
  /** The request is over. */
  finish(): void
}
