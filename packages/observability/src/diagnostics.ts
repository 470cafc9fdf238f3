import diagnosticsChannel from 'node:diagnostics_channel'

/**
 * The `node:diagnostics_channel` channels `@pingora-ts/observability` publishes on; the package
 * never writes to the console. Subscribe with `diagnosticsChannel.subscribe(name, listener)` or
 * through {@link channels}.
 */
export const CHANNEL_NAMES = {
  /** A log destination dropped a line: its buffer was full or it was unreachable ({@link LogDroppedMessage}). */
  logDropped: 'pingora:log:dropped',
} as const

/** Message of {@link CHANNEL_NAMES.logDropped}. */
export interface LogDroppedMessage {
  /** The destination, as configured (`stderr`, a path, `syslog+udp://...`). */
  readonly destination: string
  /** Lines this destination dropped so far. */
  readonly dropped: number
}

/** The channel objects, ready to publish on or subscribe to. */
export const channels = {
  /** See {@link CHANNEL_NAMES.logDropped}. */
  logDropped: diagnosticsChannel.channel(CHANNEL_NAMES.logDropped),
} as const
