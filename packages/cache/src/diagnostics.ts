import diagnosticsChannel from 'node:diagnostics_channel'

/**
 * The `node:diagnostics_channel` channels `@pingora-ts/cache` publishes on; the package never
 * logs. Publishing costs nothing when a channel has no subscriber.
 */
export const CHANNEL_NAMES = {
  /** A storage operation failed and was turned into a miss or a dropped write. */
  storageError: 'pingora:cache:storage-error',
  /** A storage dropped an entry it found corrupt or truncated. */
  storageCorrupt: 'pingora:cache:storage-corrupt',
  /**
   * A background refresh (stale-while-revalidate) ended, stored or not
   * ({@link RefreshFinishedMessage}).
   */
  refreshFinished: 'pingora:cache:refresh-finished',
} as const

/** Message of {@link CHANNEL_NAMES.refreshFinished}. */
export interface RefreshFinishedMessage {
  /** The primary key of the refreshed entry. */
  readonly primary: string
  /** The phase the refresh ended in (`Miss` stored a new response, `Revalidated` a 304...). */
  readonly phase: string
  /** Why nothing was stored, when nothing was. */
  readonly reason: string | undefined
}

/** Message of {@link CHANNEL_NAMES.storageError} and {@link CHANNEL_NAMES.storageCorrupt}. */
export interface StorageErrorMessage {
  /** The storage kind: `'memory'`, `'disk'` or `'redis'`. */
  readonly storage: string
  /** What it was doing (`'lookup'`, `'write'`, `'purge'`, `'load'`...). */
  readonly operation: string
  /** The error. */
  readonly error: Error
}

/** The channel objects, by the keys of {@link CHANNEL_NAMES}. */
export const channels = {
  storageError: diagnosticsChannel.channel(CHANNEL_NAMES.storageError),
  storageCorrupt: diagnosticsChannel.channel(CHANNEL_NAMES.storageCorrupt),
  refreshFinished: diagnosticsChannel.channel(CHANNEL_NAMES.refreshFinished),
} as const

/**
 * Publishes a storage failure when someone listens.
 * @internal
 */
export function publishStorageError(
  channel: diagnosticsChannel.Channel,
  storage: string,
  operation: string,
  error: unknown,
): void {
  if (!channel.hasSubscribers) return
  const message: StorageErrorMessage = {
    storage,
    operation,
    error: error instanceof Error ? error : new Error(String(error)),
  }
  channel.publish(message)
}
