import { randomBytes } from 'node:crypto'
import { ErrorType, PingoraError } from '@pingora-ts/error'
import { channels, publishStorageError } from './diagnostics.ts'
import type { CacheKey } from './key.ts'
import { CacheMeta } from './meta.ts'
import type { ByteRange } from './range.ts'
import type { CacheStorage, HitHandler, LookupResult, MissHandler, PurgeType } from './storage.ts'

/**
 * The few Redis commands {@link RedisStorage} uses, in the shape of an `ioredis` client (which
 * satisfies it as is). Create the client with `enableOfflineQueue: false` and a small
 * `maxRetriesPerRequest` so that a Redis outage fails commands fast; the storage also bounds
 * each command with {@link RedisStorageOptions.commandTimeoutMs}.
 */
export interface RedisClientLike {
  /** `GET key`, returning the raw bytes. */
  getBuffer(key: string): Promise<Buffer | null>
  /** `SET key value PX ms`. */
  set(key: string, value: Buffer | string, mode: 'PX', milliseconds: number): Promise<unknown>
  /** `DEL key...`. */
  del(...keys: string[]): Promise<number>
}

/** Options for {@link RedisStorage}. */
export interface RedisStorageOptions {
  /** The client (an `ioredis` instance, or anything with {@link RedisClientLike}'s methods). */
  client: RedisClientLike
  /** Prefix of every key written. @defaultValue `'pingora-cache:'` */
  prefix?: string
  /** Body chunk size: a large object is stored as several keys of at most this many bytes. @defaultValue `262144` */
  chunkBytes?: number
  /**
   * How long entries are kept in Redis past their serve-stale windows, so an expired entry can
   * still be revalidated. @defaultValue `3_600_000` (one hour)
   */
  retainStaleMs?: number
  /** The most time one Redis command may take before it counts as failed. @defaultValue `500` */
  commandTimeoutMs?: number
  /** The largest body stored; larger fills are dropped. @defaultValue `64 MiB` */
  maxObjectBytes?: number
}

// The meta key holds: u32 meta length | meta | JSON {id, chunks, bytes}. Body chunk i of a
// version lives at `<prefix><hash>:<id>:<i>`; writing chunks first and the meta key last makes
// the meta the commit point, and a fresh id per write keeps versions from mixing.

/**
 * Keeps cached responses in Redis, the shared tier for several proxies. Bodies are split into
 * chunks of {@link RedisStorageOptions.chunkBytes}, each its own key, written before the meta
 * (the commit point) and read one at a time, so a large object never blocks Redis. Every
 * failure (Redis down, a timeout, a missing chunk) makes a lookup miss and a write a no-op;
 * a request never fails because of the cache.
 */
export class RedisStorage implements CacheStorage {
  /** Always `false`: entries appear once their meta is written. */
  readonly supportsStreamingPartialWrite = false
  readonly #client: RedisClientLike
  readonly #prefix: string
  readonly #chunkBytes: number
  readonly #retainStaleMs: number
  readonly #timeoutMs: number
  readonly #maxObjectBytes: number

  /**
   * Creates a storage over a client.
   * @param options - the client and limits
   */
  constructor(options: RedisStorageOptions) {
    this.#client = options.client
    this.#prefix = options.prefix ?? 'pingora-cache:'
    this.#chunkBytes = options.chunkBytes ?? 262_144
    this.#retainStaleMs = options.retainStaleMs ?? 3_600_000
    this.#timeoutMs = options.commandTimeoutMs ?? 500
    this.#maxObjectBytes = options.maxObjectBytes ?? 64 * 1024 * 1024
    if (!(this.#chunkBytes > 0)) throw new RangeError('chunkBytes must be a positive number')
  }

  /** {@inheritDoc CacheStorage.lookup} */
  async lookup(key: CacheKey): Promise<LookupResult | undefined> {
    const hash = key.combinedHash()
    try {
      const record = await this.#readRecord(hash)
      if (record === undefined) return undefined
      return { meta: record.meta, hit: new RedisHitHandler(this, hash, record) }
    } catch (error) {
      publishStorageError(channels.storageError, 'redis', 'lookup', error)
      return undefined
    }
  }

  /** {@inheritDoc CacheStorage.getMissHandler} */
  getMissHandler(key: CacheKey, meta: CacheMeta): Promise<MissHandler> {
    return Promise.resolve(new RedisMissHandler(this, key.combinedHash(), meta))
  }

  /** {@inheritDoc CacheStorage.purge} */
  async purge(key: CacheKey, _type: PurgeType): Promise<boolean> {
    const hash = key.combinedHash()
    try {
      const record = await this.#readRecord(hash)
      const removed = await this.command(this.#client.del(this.metaKey(hash)))
      if (record !== undefined) await this.deleteChunks(hash, record.id, record.chunks)
      return removed > 0
    } catch (error) {
      publishStorageError(channels.storageError, 'redis', 'purge', error)
      return false
    }
  }

  /** {@inheritDoc CacheStorage.updateMeta} */
  async updateMeta(key: CacheKey, meta: CacheMeta): Promise<boolean> {
    const hash = key.combinedHash()
    try {
      const record = await this.#readRecord(hash)
      if (record === undefined) return false
      const ttl = this.ttlMs(meta)
      // Chunks keep their old expiry; refresh them first so they outlive the new meta.
      const chunks = await Promise.all(
        Array.from({ length: record.chunks }, (_, i) =>
          this.command(this.#client.getBuffer(this.chunkKey(hash, record.id, i))),
        ),
      )
      for (let i = 0; i < chunks.length; i++) {
        const chunk = chunks[i]
        if (chunk === null || chunk === undefined) return false
        await this.command(this.#client.set(this.chunkKey(hash, record.id, i), chunk, 'PX', ttl))
      }
      await this.writeMeta(hash, meta, record.id, record.chunks, record.bytes)
      return true
    } catch (error) {
      publishStorageError(channels.storageError, 'redis', 'update-meta', error)
      return false
    }
  }

  /** @internal */
  get chunkBytes(): number {
    return this.#chunkBytes
  }

  /** @internal */
  get maxObjectBytes(): number {
    return this.#maxObjectBytes
  }

  /** @internal */
  get client(): RedisClientLike {
    return this.#client
  }

  /** @internal */
  metaKey(hash: string): string {
    return `${this.#prefix}${hash}`
  }

  /** @internal */
  chunkKey(hash: string, id: string, index: number): string {
    return `${this.#prefix}${hash}:${id}:${index}`
  }

  /** @internal How long Redis keeps an entry: to the end of its stale windows plus the retention. */
  ttlMs(meta: CacheMeta): number {
    const windowEnd =
      meta.freshUntilMs + Math.max(meta.staleWhileRevalidateSec, meta.staleIfErrorSec) * 1000
    return Math.max(1000, Math.ceil(windowEnd - Date.now() + this.#retainStaleMs))
  }

  /** @internal Bounds a command by the timeout. */
  command<T>(promise: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(PingoraError.internal(ErrorType.ReadTimedout, 'redis command timed out')),
        this.#timeoutMs,
      )
    })
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
  }

  /** @internal */
  async writeMeta(
    hash: string,
    meta: CacheMeta,
    id: string,
    chunks: number,
    bytes: number,
  ): Promise<void> {
    const metaBytes = meta.serialize()
    const length = Buffer.alloc(4)
    length.writeUInt32BE(metaBytes.byteLength, 0)
    const value = Buffer.concat([
      length,
      metaBytes,
      Buffer.from(JSON.stringify({ id, chunks, bytes })),
    ])
    await this.command(this.#client.set(this.metaKey(hash), value, 'PX', this.ttlMs(meta)))
  }

  /** @internal */
  async deleteChunks(hash: string, id: string, chunks: number): Promise<void> {
    if (chunks === 0) return
    const keys = Array.from({ length: chunks }, (_, i) => this.chunkKey(hash, id, i))
    await this.command(this.#client.del(...keys))
  }

  async #readRecord(hash: string): Promise<RedisRecord | undefined> {
    const value = await this.command(this.#client.getBuffer(this.metaKey(hash)))
    if (value === null || value === undefined) return undefined
    try {
      const metaLength = value.readUInt32BE(0)
      const meta = CacheMeta.deserialize(value.subarray(4, 4 + metaLength))
      const info = JSON.parse(
        value.subarray(4 + metaLength).toString('utf8'),
      ) as Partial<RedisRecord>
      if (
        typeof info.id !== 'string' ||
        !Number.isInteger(info.chunks) ||
        !Number.isInteger(info.bytes)
      ) {
        throw new Error('bad chunk record')
      }
      return { meta, id: info.id, chunks: info.chunks as number, bytes: info.bytes as number }
    } catch (error) {
      publishStorageError(channels.storageCorrupt, 'redis', 'lookup', error)
      await this.command(this.#client.del(this.metaKey(hash))).catch(() => 0)
      return undefined
    }
  }
}

interface RedisRecord {
  meta: CacheMeta
  id: string
  chunks: number
  bytes: number
}

class RedisHitHandler implements HitHandler {
  readonly canSeek = true
  readonly #storage: RedisStorage
  readonly #hash: string
  readonly #record: RedisRecord
  #index: number
  #offset: number
  #start: number
  #end: number

  constructor(storage: RedisStorage, hash: string, record: RedisRecord) {
    this.#storage = storage
    this.#hash = hash
    this.#record = record
    this.#index = 0
    this.#offset = 0
    this.#start = 0
    this.#end = record.bytes
  }

  seek(range: ByteRange): void {
    const chunkBytes = this.#storage.chunkBytes
    this.#start = range.start
    this.#end = Math.min(range.end + 1, this.#record.bytes)
    this.#index = Math.floor(range.start / chunkBytes)
    this.#offset = this.#index * chunkBytes
  }

  async readBody(): Promise<Uint8Array | undefined> {
    const storage = this.#storage
    while (this.#offset < this.#end && this.#index < this.#record.chunks) {
      const key = storage.chunkKey(this.#hash, this.#record.id, this.#index)
      let chunk: Buffer | null
      try {
        chunk = await storage.command(storage.client.getBuffer(key))
      } catch (error) {
        publishStorageError(channels.storageError, 'redis', 'read', error)
        throw PingoraError.because(
          ErrorType.ReadError,
          'reading a cached body from redis failed',
          error,
        )
      }
      const expected = Math.min(storage.chunkBytes, this.#record.bytes - this.#offset)
      if (chunk === null || chunk.byteLength !== expected) {
        const error = PingoraError.internal(
          ErrorType.ReadError,
          'redis cache entry lost a body chunk',
        )
        publishStorageError(channels.storageCorrupt, 'redis', 'read', error)
        await storage.command(storage.client.del(storage.metaKey(this.#hash))).catch(() => 0)
        throw error
      }
      const chunkStart = this.#offset
      this.#offset += chunk.byteLength
      this.#index++
      const from = Math.max(this.#start, chunkStart) - chunkStart
      const to = Math.min(this.#end, this.#offset) - chunkStart
      if (to > from) return from === 0 && to === chunk.byteLength ? chunk : chunk.subarray(from, to)
    }
    return undefined
  }

  finish(): Promise<void> {
    return Promise.resolve()
  }
}

class RedisMissHandler implements MissHandler {
  readonly #storage: RedisStorage
  readonly #hash: string
  readonly #meta: CacheMeta
  readonly #id: string
  #pending: Buffer[]
  #pendingBytes: number
  #chunks: number
  #bytes: number
  // Set when Redis failed or the body grew too large: the rest is discarded.
  #failed: boolean
  #done: boolean

  constructor(storage: RedisStorage, hash: string, meta: CacheMeta) {
    this.#storage = storage
    this.#hash = hash
    this.#meta = meta
    this.#id = randomBytes(6).toString('hex')
    this.#pending = []
    this.#pendingBytes = 0
    this.#chunks = 0
    this.#bytes = 0
    this.#failed = false
    this.#done = false
  }

  async writeBody(chunk: Uint8Array): Promise<void> {
    if (this.#failed || this.#done) return
    this.#bytes += chunk.byteLength
    if (this.#bytes > this.#storage.maxObjectBytes) {
      await this.#fail(
        PingoraError.internal(ErrorType.InternalError, 'object larger than maxObjectBytes'),
      )
      return
    }
    this.#pending.push(Buffer.from(chunk))
    this.#pendingBytes += chunk.byteLength
    const size = this.#storage.chunkBytes
    while (this.#pendingBytes >= size && !this.#failed) await this.#flush(size)
  }

  async finish(): Promise<number> {
    if (this.#done)
      throw PingoraError.internal(ErrorType.InternalError, 'cache entry already finished')
    if (!this.#failed && this.#pendingBytes > 0) await this.#flush(this.#pendingBytes)
    this.#done = true
    if (this.#failed) return 0
    try {
      await this.#storage.writeMeta(this.#hash, this.#meta, this.#id, this.#chunks, this.#bytes)
      return this.#bytes
    } catch (error) {
      await this.#fail(error)
      return 0
    }
  }

  async abort(): Promise<void> {
    if (this.#done) return
    this.#done = true
    this.#pending = []
    await this.#storage.deleteChunks(this.#hash, this.#id, this.#chunks).catch(() => undefined)
  }

  async #flush(size: number): Promise<void> {
    const all =
      this.#pending.length === 1 ? (this.#pending[0] as Buffer) : Buffer.concat(this.#pending)
    const chunk = all.subarray(0, size)
    const rest = all.subarray(size)
    this.#pending = rest.byteLength > 0 ? [rest] : []
    this.#pendingBytes = rest.byteLength
    const storage = this.#storage
    try {
      const key = storage.chunkKey(this.#hash, this.#id, this.#chunks)
      this.#chunks++
      await storage.command(storage.client.set(key, chunk, 'PX', storage.ttlMs(this.#meta)))
    } catch (error) {
      await this.#fail(error)
    }
  }

  async #fail(error: unknown): Promise<void> {
    this.#failed = true
    this.#pending = []
    this.#pendingBytes = 0
    publishStorageError(channels.storageError, 'redis', 'write', error)
    await this.#storage.deleteChunks(this.#hash, this.#id, this.#chunks).catch(() => undefined)
  }
}
