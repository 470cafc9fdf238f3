import diagnostics from 'node:diagnostics_channel'

/**
 * The `node:diagnostics_channel` channels `@pingora-ts/tls` publishes on; the package never
 * logs. Subscribe with `diagnostics_channel.subscribe(CHANNEL_NAMES.reloaded, fn)` or through
 * {@link channels}.
 */
export const CHANNEL_NAMES = {
  /** A reload built and swapped in new certificates. Message: {@link TlsReloadMessage}. */
  reloaded: 'pingora:tls:reloaded',
  /** A reload failed; the previous certificates stay in use. Message: {@link TlsReloadMessage}. */
  reloadFailed: 'pingora:tls:reload-failed',
  /** Session ticket keys were rotated. Message: `{ settings }`. */
  ticketKeysRotated: 'pingora:tls:ticket-keys-rotated',
  /** A certificate callback threw or rejected. Message: `{ settings, servername, error }`. */
  certificateCallbackFailed: 'pingora:tls:certificate-callback-failed',
  /** A checked OCSP response was loaded or fetched for stapling. Message: {@link TlsOcspMessage}. */
  ocspUpdated: 'pingora:tls:ocsp-updated',
  /** An OCSP response could not be fetched or failed its checks; it is not stapled. Message: {@link TlsOcspMessage}. */
  ocspFailed: 'pingora:tls:ocsp-failed',
} as const

/**
 * The same names under this package's earlier export name.
 * @deprecated use {@link CHANNEL_NAMES} (the name every package uses).
 * @alias
 */
export const TLS_CHANNELS = CHANNEL_NAMES

/** Message published on {@link CHANNEL_NAMES}' reload channels. */
export interface TlsReloadMessage {
  /** The `TlsSettings` that reloaded. */
  readonly settings: object
  /** The failure, for `reloadFailed`. */
  readonly error: Error | undefined
}

/** Message published on {@link CHANNEL_NAMES}' OCSP channels. */
export interface TlsOcspMessage {
  /** The `TlsSettings` whose staple changed. */
  readonly settings: object
  /** Where the response came from: the response file or the responder. */
  readonly source: 'file' | 'fetch'
  /** When the stapled response expires (ms since the epoch), for `ocspUpdated`. */
  readonly nextUpdateMs: number | undefined
  /** The failure, for `ocspFailed`. */
  readonly error: Error | undefined
}

/** The channel objects, ready to publish on or subscribe to (the same form as core's). */
export const channels = {
  /** See {@link CHANNEL_NAMES.reloaded}. */
  reloaded: diagnostics.channel(CHANNEL_NAMES.reloaded),
  /** See {@link CHANNEL_NAMES.reloadFailed}. */
  reloadFailed: diagnostics.channel(CHANNEL_NAMES.reloadFailed),
  /** See {@link CHANNEL_NAMES.ticketKeysRotated}. */
  ticketKeysRotated: diagnostics.channel(CHANNEL_NAMES.ticketKeysRotated),
  /** See {@link CHANNEL_NAMES.certificateCallbackFailed}. */
  certificateCallbackFailed: diagnostics.channel(CHANNEL_NAMES.certificateCallbackFailed),
  /** See {@link CHANNEL_NAMES.ocspUpdated}. */
  ocspUpdated: diagnostics.channel(CHANNEL_NAMES.ocspUpdated),
  /** See {@link CHANNEL_NAMES.ocspFailed}. */
  ocspFailed: diagnostics.channel(CHANNEL_NAMES.ocspFailed),
} as const

/** @internal */
export const reloadedChannel = channels.reloaded
/** @internal */
export const reloadFailedChannel = channels.reloadFailed
/** @internal */
export const ticketKeysRotatedChannel = channels.ticketKeysRotated
/** @internal */
export const certificateCallbackFailedChannel = channels.certificateCallbackFailed
/** @internal */
export const ocspUpdatedChannel = channels.ocspUpdated
/** @internal */
export const ocspFailedChannel = channels.ocspFailed
