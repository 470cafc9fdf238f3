import diagnosticsChannel from 'node:diagnostics_channel'

/**
 * The `node:diagnostics_channel` channels `@pingora-ts/core` publishes on; the package never
 * logs. Subscribe with `diagnosticsChannel.subscribe(name, listener)` or through
 * {@link channels}.
 *
 * Publishing costs nothing when a channel has no subscriber, so the hot paths check
 * `channel.hasSubscribers` before building a message.
 */
export const CHANNEL_NAMES = {
  /** A server-level failure: a service that failed to start, an accept error, a failed cleanup. */
  serverError: 'pingora:server:error',
  /** The server moved to a new {@link ExecutionPhase}. */
  serverPhase: 'pingora:server:phase',
  /** A failure contained to one connection: handshake error, an exception in the app. */
  connectionError: 'pingora:connection:error',
  /**
   * A connection closed right after accept: refused by the service's `ConnectionFilter`, or a
   * PROXY protocol header that was missing, malformed, too slow or from an untrusted source.
   */
  connectionRejected: 'pingora:connection:rejected',
} as const

/** Message of {@link CHANNEL_NAMES.serverError}. */
export interface ServerErrorMessage {
  /** The error, always a `PingoraError`. */
  readonly error: Error
  /** The service it happened in, when known. */
  readonly service: string | undefined
}

/** Message of {@link CHANNEL_NAMES.serverPhase}. */
export interface ServerPhaseMessage {
  /** The phase the server entered. */
  readonly phase: string
}

/** Message of {@link CHANNEL_NAMES.connectionError}. */
export interface ConnectionErrorMessage {
  /** The error, always a `PingoraError`. */
  readonly error: Error
  /** The service that accepted the connection, when known. */
  readonly service: string | undefined
  /** The peer's address (`ip:port`, or the Unix socket path), when known. */
  readonly peer: string | undefined
}

/** Why a connection was closed right after accept (see {@link ConnectionRejectedMessage}). */
export type ConnectionRejectReason =
  /** The service's `ConnectionFilter` refused it (or threw). */
  | 'filter'
  /** A PROXY protocol listener got a connection from a source outside its trusted networks. */
  | 'proxy-protocol-untrusted'
  /** The PROXY protocol header was malformed, or the connection ended before it was complete. */
  | 'proxy-protocol-malformed'
  /** The PROXY protocol header did not arrive within the listener's header timeout. */
  | 'proxy-protocol-timeout'

/** Message of {@link CHANNEL_NAMES.connectionRejected}. */
export interface ConnectionRejectedMessage {
  /** Why it was refused. */
  readonly reason: ConnectionRejectReason
  /** The service that accepted the connection. */
  readonly service: string
  /** The peer's socket address (`ip:port`), when known. */
  readonly peer: string | undefined
  /** The error behind a PROXY protocol refusal (a `PingoraError`), else `undefined`. */
  readonly error: Error | undefined
}

/** The channel objects, ready to publish on or subscribe to. */
export const channels = {
  /** See {@link CHANNEL_NAMES.serverError}. */
  serverError: diagnosticsChannel.channel(CHANNEL_NAMES.serverError),
  /** See {@link CHANNEL_NAMES.serverPhase}. */
  serverPhase: diagnosticsChannel.channel(CHANNEL_NAMES.serverPhase),
  /** See {@link CHANNEL_NAMES.connectionError}. */
  connectionError: diagnosticsChannel.channel(CHANNEL_NAMES.connectionError),
  /** See {@link CHANNEL_NAMES.connectionRejected}. */
  connectionRejected: diagnosticsChannel.channel(CHANNEL_NAMES.connectionRejected),
} as const
