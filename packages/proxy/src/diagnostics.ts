import diagnosticsChannel from 'node:diagnostics_channel'
import type { Digest, HttpPeer } from '@pingora-ts/core'
import { ErrorType, PingoraError } from '@pingora-ts/error'
import type { ResponseHeader } from '@pingora-ts/http'
import type { Session } from './session.ts'

/**
 * The `node:diagnostics_channel` channels `@pingora-ts/proxy` publishes on; the package never
 * logs. Subscribe with `diagnosticsChannel.subscribe(name, listener)` or through
 * {@link channels}. Every message carries the request's {@link Session}: its request header,
 * addresses, `retries` and byte counters are what access logs, metrics and traces need.
 *
 * A message is built only when its channel has a subscriber (`channel.hasSubscribers`): with
 * nobody listening, the request path allocates nothing for them.
 *
 * For one request the order is `requestStarted`, then per attempt `upstreamConnected` and
 * `upstreamResponded` (or `upstreamFailed` when the attempt failed: before `upstreamConnected`
 * when the connect failed), then `proxyError` when the request failed, then `requestFinished`
 * (after `logging`). A request answered by a filter has no upstream messages.
 */
export const CHANNEL_NAMES = {
  /** A request header was read and its {@link Session} built, before `newCtx` ({@link RequestStartedMessage}). */
  requestStarted: 'pingora:request:started',
  /** A connection to the upstream is ready, new or reused, before `connectedToUpstream` ({@link UpstreamConnectedMessage}). */
  upstreamConnected: 'pingora:upstream:connected',
  /** The upstream's final (non-1xx) response header arrived, before the response filters ({@link UpstreamRespondedMessage}). */
  upstreamResponded: 'pingora:upstream:responded',
  /**
   * An upstream attempt failed: the connect (after `failToConnect`) or the exchange (after
   * `errorWhileProxy`); `error.retry` says whether the engine may try again
   * ({@link UpstreamFailedMessage}).
   */
  upstreamFailed: 'pingora:upstream:failed',
  /** The request is over, after `logging` ({@link RequestFinishedMessage}). */
  requestFinished: 'pingora:request:finished',
  /**
   * A request failed (after `failToProxy`, unless `suppressErrorLog` said otherwise), or a user
   * phase threw where the engine cannot fail the request any more (`logging`,
   * `persistConnectionContext`, `failToProxy`, `requestSummary`, `suppressErrorLog`, `newCtx`)
   * ({@link ProxyErrorMessage}).
   */
  proxyError: 'pingora:proxy:error',
  /**
   * An upstream attempt driven by a retry policy starts, after its backoff, before
   * `upstreamPeer` (a hedged one too) ({@link AttemptStartedMessage}).
   */
  attemptStarted: 'pingora:attempt:started',
  /**
   * The engine stopped an attempt driven by a retry policy: its per-attempt timeout, the
   * request's deadline, or it lost a hedging race ({@link AttemptStoppedMessage}).
   */
  attemptStopped: 'pingora:attempt:stopped',
} as const

/** Message of {@link CHANNEL_NAMES.attemptStarted}. */
export interface AttemptStartedMessage {
  /** The request's session. */
  readonly session: Session
  /** The attempt's number (1 = first). */
  readonly attempt: number
  /** The backoff waited before it, in ms. */
  readonly backoffMs: number
  /** Whether it is a hedge (racing the attempt before it). */
  readonly hedge: boolean
}

/** Why the engine stopped an attempt. */
export type AttemptStopReason = 'timeout' | 'deadline' | 'cancelled'

/** Message of {@link CHANNEL_NAMES.attemptStopped}. */
export interface AttemptStoppedMessage {
  /** The request's session. */
  readonly session: Session
  /** The attempt's number (1 = first). */
  readonly attempt: number
  /**
   * `timeout` (its per-attempt timeout), `deadline` (the request's deadline: the request fails
   * with 504) or `cancelled` (another attempt's response header came first).
   */
  readonly reason: AttemptStopReason
  /** The error the attempt ends with. */
  readonly error: PingoraError
}

/** Message of {@link CHANNEL_NAMES.requestStarted}. */
export interface RequestStartedMessage {
  /** The request's session (request header, client address, downstream digest). */
  readonly session: Session
}

/** Message of {@link CHANNEL_NAMES.upstreamConnected}. */
export interface UpstreamConnectedMessage {
  /** The request's session; `session.retries` is this attempt's number (1 = first). */
  readonly session: Session
  /** The peer connected to. */
  readonly peer: HttpPeer
  /** Whether the connection came from the pool. */
  readonly reused: boolean
  /** The upstream connection's facts (addresses, connect timing, TLS), when known. */
  readonly digest: Digest | undefined
}

/** Message of {@link CHANNEL_NAMES.upstreamResponded}. */
export interface UpstreamRespondedMessage {
  /** The request's session. */
  readonly session: Session
  /** The peer that answered. */
  readonly peer: HttpPeer
  /** The upstream's response header, as received (before `upstreamResponseFilter`). */
  readonly response: ResponseHeader
}

/** Message of {@link CHANNEL_NAMES.upstreamFailed}. */
export interface UpstreamFailedMessage {
  /** The request's session; `session.retries` is the failed attempt's number (1 = first). */
  readonly session: Session
  /** The peer of the failed attempt. */
  readonly peer: HttpPeer
  /** The attempt's error, as `failToConnect` or `errorWhileProxy` returned it. */
  readonly error: PingoraError
  /** Whether the failed attempt used a pooled connection (`false` when the connect failed). */
  readonly reused: boolean
}

/**
 * Publishes {@link CHANNEL_NAMES.upstreamFailed} when it has subscribers.
 * @internal
 */
export function publishUpstreamFailed(
  session: Session,
  peer: HttpPeer,
  error: PingoraError,
  reused: boolean,
): void {
  if (!channels.upstreamFailed.hasSubscribers) return
  const message: UpstreamFailedMessage = { session, peer, error, reused }
  channels.upstreamFailed.publish(message)
}

/** Message of {@link CHANNEL_NAMES.requestFinished}. */
export interface RequestFinishedMessage {
  /** The request's session: `bodyBytesSent`, `bodyBytesRead`, `upstreamBodyBytesReceived`. */
  readonly session: Session
  /** The status sent to the client, or `undefined` when no response header was sent. */
  readonly status: number | undefined
  /** The error that ended the request, or `undefined` on success. */
  readonly error: PingoraError | undefined
  /** Upstream attempts made (0 when the request never went upstream). */
  readonly retries: number
  /** Whether the client connection stays open for another request. */
  readonly reuseDownstream: boolean
}

/**
 * The phases that can be named in a {@link ProxyErrorMessage}: the user phase that threw where
 * the engine could not fail the request with it.
 */
export type ProxyErrorPhase =
  | 'newCtx'
  | 'logging'
  | 'failToProxy'
  | 'persistConnectionContext'
  | 'requestSummary'
  | 'suppressErrorLog'
  | 'shouldServeStale'

/** Message of {@link CHANNEL_NAMES.proxyError}. */
export interface ProxyErrorMessage {
  /** The request's session. */
  readonly session: Session
  /** One line about the request: `requestSummary(session, ctx)`, or `METHOD PATH, Host: HOST`. */
  readonly summary: string
  /** The error: the request's failure, or what the phase threw (wrapped in a `PingoraError`). */
  readonly error: PingoraError
  /** The status sent to the client so far, or `undefined` when none was sent. */
  readonly status: number | undefined
  /** Upstream attempts made so far. */
  readonly retries: number
  /**
   * The user phase that threw, or `undefined` for a failed request. A request failure is
   * reported once, and a throwing phase once more with its name.
   */
  readonly phase: ProxyErrorPhase | undefined
}

/** The channel objects, ready to publish on or subscribe to. */
export const channels = {
  /** See {@link CHANNEL_NAMES.requestStarted}. */
  requestStarted: diagnosticsChannel.channel(CHANNEL_NAMES.requestStarted),
  /** See {@link CHANNEL_NAMES.upstreamConnected}. */
  upstreamConnected: diagnosticsChannel.channel(CHANNEL_NAMES.upstreamConnected),
  /** See {@link CHANNEL_NAMES.upstreamResponded}. */
  upstreamResponded: diagnosticsChannel.channel(CHANNEL_NAMES.upstreamResponded),
  /** See {@link CHANNEL_NAMES.upstreamFailed}. */
  upstreamFailed: diagnosticsChannel.channel(CHANNEL_NAMES.upstreamFailed),
  /** See {@link CHANNEL_NAMES.requestFinished}. */
  requestFinished: diagnosticsChannel.channel(CHANNEL_NAMES.requestFinished),
  /** See {@link CHANNEL_NAMES.proxyError}. */
  proxyError: diagnosticsChannel.channel(CHANNEL_NAMES.proxyError),
  /** See {@link CHANNEL_NAMES.attemptStarted}. */
  attemptStarted: diagnosticsChannel.channel(CHANNEL_NAMES.attemptStarted),
  /** See {@link CHANNEL_NAMES.attemptStopped}. */
  attemptStopped: diagnosticsChannel.channel(CHANNEL_NAMES.attemptStopped),
} as const

/**
 * Reports a user phase that threw after the request could no longer fail with it: publishes
 * on {@link channels}.proxyError with the phase's name. Never throws.
 * @internal
 */
export function publishPhaseError(session: Session, phase: ProxyErrorPhase, thrown: unknown): void {
  if (!channels.proxyError.hasSubscribers) return
  let summary: string
  try {
    summary = session.requestSummary()
  } catch {
    summary = ''
  }
  const message: ProxyErrorMessage = {
    session,
    summary,
    error: PingoraError.from(thrown, ErrorType.InternalError, `${phase} threw`, 'internal'),
    status: session.responseWritten?.status,
    retries: session.retries,
    phase,
  }
  channels.proxyError.publish(message)
}

/**
 * Publishes {@link CHANNEL_NAMES.requestFinished}; call only when it has subscribers.
 * @internal
 */
export function publishRequestFinished(
  session: Session,
  error: PingoraError | undefined,
  reuseDownstream: boolean,
): void {
  const message: RequestFinishedMessage = {
    session,
    status: session.responseWritten?.status,
    error,
    retries: session.retries,
    reuseDownstream,
  }
  channels.requestFinished.publish(message)
}
