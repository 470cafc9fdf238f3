import type { Digest, HttpPeer } from '@pingora-ts/core'
import type { PingoraError } from '@pingora-ts/error'
import type { ResponseHeader } from '@pingora-ts/http'
import type { Session } from '@pingora-ts/proxy'

/**
 * The names and message shapes of the proxy's request lifecycle channels, as the proxy is
 * about to publish them (`pingora:request:*`, `pingora:upstream:*`, `pingora:proxy:error`).
 * TODO(#11): replaced by the proxy's own `CHANNEL_NAMES` and message types when they land.
 * @internal
 */
export const PROXY_CHANNELS = {
  requestStarted: 'pingora:request:started',
  upstreamConnected: 'pingora:upstream:connected',
  upstreamResponded: 'pingora:upstream:responded',
  requestFinished: 'pingora:request:finished',
  proxyError: 'pingora:proxy:error',
} as const

/** @internal */
export interface RequestStartedMessage {
  readonly session: Session
}
/** @internal */
export interface UpstreamConnectedMessage {
  readonly session: Session
  readonly peer: HttpPeer
  readonly reused: boolean
  readonly digest: Digest | undefined
}
/** @internal */
export interface UpstreamRespondedMessage {
  readonly session: Session
  readonly peer: HttpPeer
  readonly response: ResponseHeader
}
/** @internal */
export interface RequestFinishedMessage {
  readonly session: Session
  readonly status: number | undefined
  readonly error: PingoraError | undefined
  readonly retries: number
  readonly reuseDownstream: boolean
}
/** @internal */
export interface ProxyErrorMessage {
  readonly session: Session
  readonly summary: string
  readonly error: PingoraError
  readonly status: number | undefined
  readonly retries: number
  readonly phase: string | undefined
}
