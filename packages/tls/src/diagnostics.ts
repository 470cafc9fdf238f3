import diagnostics from 'node:diagnostics_channel'

/**
 * Names of the `node:diagnostics_channel` channels this package publishes to. Subscribe with
 * `diagnostics_channel.subscribe(TLS_CHANNELS.reloaded, fn)`.
 */
export const TLS_CHANNELS = {
  /** A reload built and swapped in new certificates. Message: {@link TlsReloadMessage}. */
  reloaded: 'pingora:tls:reloaded',
  /** A reload failed; the previous certificates stay in use. Message: {@link TlsReloadMessage}. */
  reloadFailed: 'pingora:tls:reload-failed',
  /** Session ticket keys were rotated. Message: `{ settings }`. */
  ticketKeysRotated: 'pingora:tls:ticket-keys-rotated',
  /** A certificate callback threw or rejected. Message: `{ settings, servername, error }`. */
  certificateCallbackFailed: 'pingora:tls:certificate-callback-failed',
} as const

/** Message published on {@link TLS_CHANNELS}' reload channels. */
export interface TlsReloadMessage {
  /** The `TlsSettings` that reloaded. */
  readonly settings: object
  /** The failure, for `reloadFailed`. */
  readonly error: Error | undefined
}

/** @internal */
export const reloadedChannel = diagnostics.channel(TLS_CHANNELS.reloaded)
/** @internal */
export const reloadFailedChannel = diagnostics.channel(TLS_CHANNELS.reloadFailed)
/** @internal */
export const ticketKeysRotatedChannel = diagnostics.channel(TLS_CHANNELS.ticketKeysRotated)
/** @internal */
export const certificateCallbackFailedChannel = diagnostics.channel(
  TLS_CHANNELS.certificateCallbackFailed,
)
