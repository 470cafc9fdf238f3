import type { CacheKey } from './key.ts'
import type { CacheMeta } from './meta.ts'
import type { ByteRange } from './range.ts'

/**
 * Reads the body of a stored (or, with streaming partial writes, still filling) response.
 * Port of `pingora-cache`'s `HandleHit`.
 */
export interface HitHandler {
  /**
   * Resolves with the next body chunk, or `undefined` at the end. On an entry still being
   * written it waits for the writer; it rejects with a `PingoraError` when that fill is
   * aborted.
   */
  readBody(): Promise<Uint8Array | undefined>
  /**
   * Whether the next {@link HitHandler.readBody} would wait for a fill still in progress (its
   * bytes so far all read). Optional: storages without streaming partial writes never wait.
   */
  bodyPending?(): boolean
  /** Whether {@link HitHandler.seek} is supported. */
  readonly canSeek: boolean
  /**
   * Restricts what {@link HitHandler.readBody} returns to one byte range (inclusive); call
   * before the first read.
   * @param range - the range
   */
  seek(range: ByteRange): void
  /** Releases what the reader holds; call once after the last read (or when giving up). */
  finish(): Promise<void>
}

/**
 * Writes the body of a response being admitted. Port of `pingora-cache`'s `HandleMiss`.
 * The entry becomes visible to lookups (complete) only after {@link MissHandler.finish}; a
 * storage with streaming partial writes shows it to readers as it is written.
 */
export interface MissHandler {
  /**
   * Appends a chunk. The storage may copy it; the caller may reuse the buffer afterwards.
   * @param chunk - body bytes
   */
  writeBody(chunk: Uint8Array): Promise<void>
  /** Commits the entry; resolves with the bytes stored (body and meta). */
  finish(): Promise<number>
  /** Drops the partial entry; readers streaming it get an error. Safe to call after finish (no-op). */
  abort(): Promise<void>
}

/** Why an entry is purged: capacity eviction, or invalidation (a purge request, an unsafe method). */
export type PurgeType = 'eviction' | 'invalidation'

/** A lookup hit: the stored meta (treat as read-only) and a reader for the body. */
export interface LookupResult {
  /** The stored meta; do not modify it, use {@link CacheStorage.updateMeta}. */
  readonly meta: CacheMeta
  /** The body reader. */
  readonly hit: HitHandler
}

/**
 * Where cached responses live. Implementations: {@link MemoryStorage}, {@link DiskStorage},
 * {@link RedisStorage}; all pass one conformance suite. Entries are addressed by
 * {@link CacheKey.combinedHash}. Port of `pingora-cache`'s `Storage` trait.
 *
 * A storage never fails a request because of itself: implementations backed by I/O turn
 * their failures into a miss on lookup and a dropped write on admission (and publish them on
 * `pingora:cache:storage-error`).
 */
export interface CacheStorage {
  /**
   * Finds the entry for a key.
   * @param key - the key (its variance, if set, is part of the address)
   */
  lookup(key: CacheKey): Promise<LookupResult | undefined>
  /**
   * Starts writing an entry; it replaces the current one when finished.
   * @param key - the key
   * @param meta - the meta to store with it
   */
  getMissHandler(key: CacheKey, meta: CacheMeta): Promise<MissHandler>
  /**
   * Removes an entry; resolves with whether there was one.
   * @param key - the key
   * @param type - why
   */
  purge(key: CacheKey, type: PurgeType): Promise<boolean>
  /**
   * Replaces the meta of a stored entry (after a 304 revalidation); resolves with whether the
   * entry existed.
   * @param key - the key
   * @param meta - the new meta
   */
  updateMeta(key: CacheKey, meta: CacheMeta): Promise<boolean>
  /** Whether lookups return entries still being written, so readers stream them as they fill. */
  readonly supportsStreamingPartialWrite: boolean
}
