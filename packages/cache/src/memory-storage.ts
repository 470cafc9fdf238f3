import { ErrorType, PingoraError } from '@pingora-ts/error'
import type { CacheKey } from './key.ts'
import type { CacheMeta } from './meta.ts'
import type { ByteRange } from './range.ts'
import type { CacheStorage, HitHandler, LookupResult, MissHandler, PurgeType } from './storage.ts'
import { TinyUfo } from './tiny-ufo.ts'

/** Options for {@link MemoryStorage}. */
export interface MemoryStorageOptions {
  /** The most bytes (bodies plus an estimate of each meta) kept. */
  maxBytes: number
  /** How many entries are expected, to size the admission sketch. @defaultValue `16384` */
  expectedItems?: number
}

// A fixed per-entry overhead added to the weight, standing in for the meta and bookkeeping.
const ENTRY_OVERHEAD = 256

/**
 * Keeps cached responses in process memory, weighted in bytes, with TinyUFO admission and
 * eviction ({@link TinyUfo}). Supports streaming partial writes: a lookup during a fill
 * returns the entry being written, and its reader streams chunks as they arrive.
 */
export class MemoryStorage implements CacheStorage {
  /** Always `true`: readers stream fills in progress. */
  readonly supportsStreamingPartialWrite = true
  readonly #entries: Map<string, MemoryEntry>
  readonly #filling: Map<string, MemoryEntry>
  readonly #policy: TinyUfo<string>

  /**
   * Creates a storage.
   * @param options - the byte bound
   */
  constructor(options: MemoryStorageOptions) {
    if (!(options.maxBytes > 0)) throw new RangeError('maxBytes must be a positive number')
    this.#entries = new Map()
    this.#filling = new Map()
    this.#policy = new TinyUfo(options.maxBytes, options.expectedItems ?? 16_384)
  }

  /** Bytes currently accounted to complete entries. */
  get bytes(): number {
    return this.#policy.weight
  }

  /** How many complete entries are kept. */
  get size(): number {
    return this.#entries.size
  }

  /** {@inheritDoc CacheStorage.lookup} */
  lookup(key: CacheKey): Promise<LookupResult | undefined> {
    const hash = key.combinedHash()
    const entry = this.#entries.get(hash) ?? this.#filling.get(hash)
    this.#policy.access(hash)
    if (entry === undefined) return Promise.resolve(undefined)
    return Promise.resolve({ meta: entry.meta, hit: new MemoryHitHandler(entry) })
  }

  /** {@inheritDoc CacheStorage.getMissHandler} */
  getMissHandler(key: CacheKey, meta: CacheMeta): Promise<MissHandler> {
    const hash = key.combinedHash()
    const entry = new MemoryEntry(meta)
    // A newer fill replaces an older one; the older one's readers keep their entry object.
    this.#filling.get(hash)?.fail(abortedError())
    this.#filling.set(hash, entry)
    return Promise.resolve(new MemoryMissHandler(this, hash, entry))
  }

  /** {@inheritDoc CacheStorage.purge} */
  purge(key: CacheKey, _type: PurgeType): Promise<boolean> {
    const hash = key.combinedHash()
    const existed = this.#entries.delete(hash)
    this.#policy.remove(hash)
    return Promise.resolve(existed)
  }

  /** {@inheritDoc CacheStorage.updateMeta} */
  updateMeta(key: CacheKey, meta: CacheMeta): Promise<boolean> {
    const entry = this.#entries.get(key.combinedHash())
    if (entry === undefined) return Promise.resolve(false)
    entry.meta = meta
    return Promise.resolve(true)
  }

  /** @internal Called by the miss handler. */
  commit(hash: string, entry: MemoryEntry): number {
    if (this.#filling.get(hash) === entry) this.#filling.delete(hash)
    const weight = entry.size + ENTRY_OVERHEAD
    this.#entries.set(hash, entry)
    for (const evicted of this.#policy.admit(hash, weight)) this.#entries.delete(evicted)
    return weight
  }

  /** @internal Called by the miss handler. */
  drop(hash: string, entry: MemoryEntry): void {
    if (this.#filling.get(hash) === entry) this.#filling.delete(hash)
  }
}

function abortedError(): PingoraError {
  return PingoraError.internal(ErrorType.InternalError, 'cache fill aborted')
}

/** @internal One stored (or filling) response. */
class MemoryEntry {
  meta: CacheMeta
  readonly chunks: Uint8Array[]
  size: number
  complete: boolean
  error: PingoraError | undefined
  #waiters: (() => void)[]

  constructor(meta: CacheMeta) {
    this.meta = meta
    this.chunks = []
    this.size = 0
    this.complete = false
    this.error = undefined
    this.#waiters = []
  }

  append(chunk: Uint8Array): void {
    this.chunks.push(chunk)
    this.size += chunk.byteLength
    this.#wake()
  }

  close(): void {
    this.complete = true
    this.#wake()
  }

  fail(error: PingoraError): void {
    if (this.complete) return
    this.error = error
    this.#wake()
  }

  // Resolves when the entry changes (a chunk, the end or an error).
  changed(): Promise<void> {
    return new Promise((resolve) => this.#waiters.push(resolve))
  }

  #wake(): void {
    const waiters = this.#waiters
    if (waiters.length === 0) return
    this.#waiters = []
    for (const wake of waiters) wake()
  }
}

class MemoryHitHandler implements HitHandler {
  readonly canSeek = true
  readonly #entry: MemoryEntry
  #index: number
  #offset: number
  #start: number
  #end: number

  constructor(entry: MemoryEntry) {
    this.#entry = entry
    this.#index = 0
    this.#offset = 0
    this.#start = 0
    this.#end = Number.POSITIVE_INFINITY
  }

  seek(range: ByteRange): void {
    this.#start = range.start
    this.#end = range.end + 1
  }

  bodyPending(): boolean {
    const entry = this.#entry
    return (
      this.#index >= entry.chunks.length &&
      !entry.complete &&
      entry.error === undefined &&
      this.#offset < this.#end
    )
  }

  async readBody(): Promise<Uint8Array | undefined> {
    const entry = this.#entry
    for (;;) {
      if (this.#offset >= this.#end) return undefined
      if (this.#index < entry.chunks.length) {
        const chunk = entry.chunks[this.#index++] as Uint8Array
        const chunkStart = this.#offset
        this.#offset += chunk.byteLength
        const from = Math.max(this.#start, chunkStart) - chunkStart
        const to = Math.min(this.#end, this.#offset) - chunkStart
        if (to <= from) continue
        return from === 0 && to === chunk.byteLength ? chunk : chunk.subarray(from, to)
      }
      if (entry.error !== undefined) throw entry.error
      if (entry.complete) return undefined
      await entry.changed()
    }
  }

  finish(): Promise<void> {
    return Promise.resolve()
  }
}

class MemoryMissHandler implements MissHandler {
  readonly #storage: MemoryStorage
  readonly #hash: string
  readonly #entry: MemoryEntry
  #done: boolean

  constructor(storage: MemoryStorage, hash: string, entry: MemoryEntry) {
    this.#storage = storage
    this.#hash = hash
    this.#entry = entry
    this.#done = false
  }

  writeBody(chunk: Uint8Array): Promise<void> {
    if (this.#done) return Promise.reject(abortedError())
    if (this.#entry.error !== undefined) return Promise.reject(this.#entry.error)
    // Copy: the caller may reuse its buffer (socket read buffers are recycled).
    this.#entry.append(Buffer.from(chunk))
    return Promise.resolve()
  }

  finish(): Promise<number> {
    if (this.#done) return Promise.reject(abortedError())
    if (this.#entry.error !== undefined) return Promise.reject(this.#entry.error)
    this.#done = true
    this.#entry.close()
    return Promise.resolve(this.#storage.commit(this.#hash, this.#entry))
  }

  abort(): Promise<void> {
    if (this.#done) return Promise.resolve()
    this.#done = true
    this.#entry.fail(abortedError())
    this.#storage.drop(this.#hash, this.#entry)
    return Promise.resolve()
  }
}
