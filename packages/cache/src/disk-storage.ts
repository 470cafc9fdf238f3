import { randomBytes } from 'node:crypto'
import { type FileHandle, mkdir, open, readdir, rename, rm, stat, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { crc32 } from 'node:zlib'
import { ErrorType, PingoraError } from '@pingora-ts/error'
import { channels, publishStorageError } from './diagnostics.ts'
import type { CacheKey } from './key.ts'
import { CacheMeta, META_MAX_BYTES } from './meta.ts'
import type { ByteRange } from './range.ts'
import type { CacheStorage, HitHandler, LookupResult, MissHandler, PurgeType } from './storage.ts'
import { TinyUfo } from './tiny-ufo.ts'

/** Options for {@link DiskStorage.open}. */
export interface DiskStorageOptions {
  /** The directory; created if missing. Nothing else should write into it. */
  directory: string
  /** The most bytes of entry files kept. */
  maxBytes: number
  /** Whether to `fsync` each entry before it is renamed into place. @defaultValue `false` */
  fsync?: boolean
  /** Size of each body read. @defaultValue `65536` */
  readChunkBytes?: number
}

// Entry file layout (big-endian):
//   header  : magic "PTC1" | meta length u32 | body length u64
//   meta    : meta length bytes (CacheMeta.serialize)
//   body    : body length bytes
//   trailer : crc32 of meta and body u32 | magic "END1"
const MAGIC = Buffer.from('PTC1', 'latin1')
const END = Buffer.from('END1', 'latin1')
const HEADER_BYTES = 16
const TRAILER_BYTES = 8
const ENTRY_SUFFIX = '.entry'
const TEMP_DIR = '.tmp'

/**
 * Keeps cached responses as files in one directory, so the cache survives a restart. Each
 * entry is one file written to a temporary name and renamed into place (a reader never sees a
 * half-written entry), checked on the way back (a size check on lookup, a CRC-32 of meta and
 * body at the end of each read) and dropped when corrupt or truncated. The total size is
 * bounded by bytes with {@link TinyUfo} eviction; the index is rebuilt from the directory at
 * {@link DiskStorage.open}.
 */
export class DiskStorage implements CacheStorage {
  /** Always `false`: an entry is visible once complete. */
  readonly supportsStreamingPartialWrite = false
  readonly #directory: string
  readonly #fsync: boolean
  readonly #readChunkBytes: number
  readonly #index: Map<string, number>
  readonly #policy: TinyUfo<string>

  private constructor(options: DiskStorageOptions) {
    this.#directory = options.directory
    this.#fsync = options.fsync ?? false
    this.#readChunkBytes = options.readChunkBytes ?? 65_536
    this.#index = new Map()
    this.#policy = new TinyUfo(options.maxBytes)
  }

  /**
   * Opens (or creates) a disk cache: removes leftover temporary files and rebuilds the index
   * from the entry files, dropping those whose header or meta is invalid or whose size does
   * not match.
   * @param options - directory and byte bound
   */
  static async open(options: DiskStorageOptions): Promise<DiskStorage> {
    if (!(options.maxBytes > 0)) throw new RangeError('maxBytes must be a positive number')
    const storage = new DiskStorage(options)
    await storage.#load()
    return storage
  }

  /** Bytes of entry files indexed. */
  get bytes(): number {
    return this.#policy.weight
  }

  /** How many entries are indexed. */
  get size(): number {
    return this.#index.size
  }

  /** {@inheritDoc CacheStorage.lookup} */
  async lookup(key: CacheKey): Promise<LookupResult | undefined> {
    const hash = key.combinedHash()
    this.#policy.access(hash)
    if (!this.#index.has(hash)) return undefined
    let file: FileHandle | undefined
    try {
      file = await open(this.#path(hash), 'r')
      const entry = await readEntryHead(file)
      return {
        meta: entry.meta,
        hit: new DiskHitHandler(this, hash, file, entry, this.#readChunkBytes),
      }
    } catch (error) {
      await file?.close().catch(() => undefined)
      await this.dropCorrupt(hash, 'lookup', error)
      return undefined
    }
  }

  /** {@inheritDoc CacheStorage.getMissHandler} */
  async getMissHandler(key: CacheKey, meta: CacheMeta): Promise<MissHandler> {
    const hash = key.combinedHash()
    const tempPath = join(this.#directory, TEMP_DIR, `${hash}.${randomBytes(6).toString('hex')}`)
    const file = await open(tempPath, 'w')
    return new DiskMissHandler(this, hash, file, tempPath, meta.serialize())
  }

  /** {@inheritDoc CacheStorage.purge} */
  async purge(key: CacheKey, _type: PurgeType): Promise<boolean> {
    const hash = key.combinedHash()
    const existed = this.#index.delete(hash)
    this.#policy.remove(hash)
    if (existed) await unlink(this.#path(hash)).catch(() => undefined)
    return existed
  }

  /** {@inheritDoc CacheStorage.updateMeta} */
  async updateMeta(key: CacheKey, meta: CacheMeta): Promise<boolean> {
    const found = await this.lookup(key)
    if (found === undefined) return false
    // The meta lives in the entry file: rewrite the file with the new meta and the same body.
    const writer = await this.getMissHandler(key, meta)
    try {
      for (;;) {
        const chunk = await found.hit.readBody()
        if (chunk === undefined) break
        await writer.writeBody(chunk)
      }
      await writer.finish()
      return true
    } catch (error) {
      await writer.abort()
      publishStorageError(channels.storageError, 'disk', 'update-meta', error)
      return false
    } finally {
      await found.hit.finish()
    }
  }

  /** @internal Moves a finished temporary file into place and accounts for it. */
  async commit(hash: string, tempPath: string, size: number): Promise<void> {
    await mkdir(join(this.#directory, hash.slice(0, 2)), { recursive: true })
    await rename(tempPath, this.#path(hash))
    this.#index.set(hash, size)
    for (const evicted of this.#policy.admit(hash, size)) {
      this.#index.delete(evicted)
      await unlink(this.#path(evicted)).catch(() => undefined)
    }
  }

  /** @internal Drops an entry found corrupt, publishing why. */
  async dropCorrupt(hash: string, operation: string, error: unknown): Promise<void> {
    publishStorageError(channels.storageCorrupt, 'disk', operation, error)
    this.#index.delete(hash)
    this.#policy.remove(hash)
    await unlink(this.#path(hash)).catch(() => undefined)
  }

  /** @internal Whether entries are fsynced before rename. */
  get fsync(): boolean {
    return this.#fsync
  }

  #path(hash: string): string {
    return join(this.#directory, hash.slice(0, 2), `${hash}${ENTRY_SUFFIX}`)
  }

  async #load(): Promise<void> {
    await mkdir(this.#directory, { recursive: true })
    await rm(join(this.#directory, TEMP_DIR), { recursive: true, force: true })
    await mkdir(join(this.#directory, TEMP_DIR), { recursive: true })
    const found: { hash: string; size: number; mtimeMs: number }[] = []
    for (const fan of await readdir(this.#directory)) {
      if (!/^[0-9a-f]{2}$/.test(fan)) continue
      for (const name of await readdir(join(this.#directory, fan))) {
        if (!name.endsWith(ENTRY_SUFFIX)) continue
        const hash = name.slice(0, -ENTRY_SUFFIX.length)
        const path = join(this.#directory, fan, name)
        let file: FileHandle | undefined
        try {
          file = await open(path, 'r')
          const entry = await readEntryHead(file)
          const info = await stat(path)
          found.push({ hash, size: entry.totalBytes, mtimeMs: info.mtimeMs })
        } catch (error) {
          publishStorageError(channels.storageCorrupt, 'disk', 'load', error)
          await unlink(path).catch(() => undefined)
        } finally {
          await file?.close().catch(() => undefined)
        }
      }
    }
    // Oldest first, so the most recently written entries are the last admitted.
    found.sort((a, b) => a.mtimeMs - b.mtimeMs)
    for (const entry of found) {
      this.#index.set(entry.hash, entry.size)
      for (const evicted of this.#policy.admit(entry.hash, entry.size)) {
        this.#index.delete(evicted)
        await unlink(this.#path(evicted)).catch(() => undefined)
      }
    }
  }
}

interface EntryHead {
  meta: CacheMeta
  metaBytes: Buffer
  bodyBytes: number
  totalBytes: number
}

function corrupt(context: string): PingoraError {
  return PingoraError.internal(ErrorType.FileReadError, `corrupt disk cache entry: ${context}`)
}

// Reads and checks the header and meta; checks the file size against the lengths.
async function readEntryHead(file: FileHandle): Promise<EntryHead> {
  const header = Buffer.alloc(HEADER_BYTES)
  const { bytesRead } = await file.read(header, 0, HEADER_BYTES, 0)
  if (bytesRead < HEADER_BYTES || !header.subarray(0, 4).equals(MAGIC)) throw corrupt('bad header')
  const metaLength = header.readUInt32BE(4)
  const bodyLength = Number(header.readBigUInt64BE(8))
  if (metaLength > META_MAX_BYTES) throw corrupt('meta too large')
  const totalBytes = HEADER_BYTES + metaLength + bodyLength + TRAILER_BYTES
  const { size } = await file.stat()
  if (size !== totalBytes) throw corrupt(`size ${size}, expected ${totalBytes} (truncated)`)
  const metaBytes = Buffer.alloc(metaLength)
  const metaRead = await file.read(metaBytes, 0, metaLength, HEADER_BYTES)
  if (metaRead.bytesRead !== metaLength) throw corrupt('short meta')
  return { meta: CacheMeta.deserialize(metaBytes), metaBytes, bodyBytes: bodyLength, totalBytes }
}

class DiskHitHandler implements HitHandler {
  readonly canSeek = true
  readonly #storage: DiskStorage
  readonly #hash: string
  readonly #file: FileHandle
  readonly #head: EntryHead
  readonly #chunkBytes: number
  // Body offset of the next read, and the end (exclusive) of what is returned.
  #offset: number
  #end: number
  #crc: number
  #checkCrc: boolean
  #closed: boolean

  constructor(
    storage: DiskStorage,
    hash: string,
    file: FileHandle,
    head: EntryHead,
    chunkBytes: number,
  ) {
    this.#storage = storage
    this.#hash = hash
    this.#file = file
    this.#head = head
    this.#chunkBytes = chunkBytes
    this.#offset = 0
    this.#end = head.bodyBytes
    this.#crc = crc32(head.metaBytes)
    this.#checkCrc = true
    this.#closed = false
  }

  seek(range: ByteRange): void {
    this.#offset = Math.min(range.start, this.#head.bodyBytes)
    this.#end = Math.min(range.end + 1, this.#head.bodyBytes)
    // A partial read cannot check the whole-body CRC; the size check on lookup still applies.
    this.#checkCrc = false
  }

  async readBody(): Promise<Uint8Array | undefined> {
    if (this.#closed) return undefined
    const head = this.#head
    if (this.#offset >= this.#end) {
      if (this.#checkCrc && this.#end === head.bodyBytes) {
        this.#checkCrc = false
        const trailer = Buffer.alloc(TRAILER_BYTES)
        await this.#file.read(
          trailer,
          0,
          TRAILER_BYTES,
          HEADER_BYTES + head.metaBytes.length + head.bodyBytes,
        )
        if (trailer.readUInt32BE(0) !== this.#crc || !trailer.subarray(4).equals(END)) {
          const error = corrupt('checksum mismatch')
          await this.finish()
          await this.#storage.dropCorrupt(this.#hash, 'read', error)
          throw error
        }
      }
      return undefined
    }
    const length = Math.min(this.#chunkBytes, this.#end - this.#offset)
    const chunk = Buffer.allocUnsafe(length)
    const position = HEADER_BYTES + head.metaBytes.length + this.#offset
    const { bytesRead } = await this.#file.read(chunk, 0, length, position)
    if (bytesRead !== length) {
      const error = corrupt('short body read')
      await this.finish()
      await this.#storage.dropCorrupt(this.#hash, 'read', error)
      throw error
    }
    this.#offset += length
    if (this.#checkCrc) this.#crc = crc32(chunk, this.#crc)
    return chunk
  }

  async finish(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.#file.close().catch(() => undefined)
  }
}

class DiskMissHandler implements MissHandler {
  readonly #storage: DiskStorage
  readonly #hash: string
  readonly #file: FileHandle
  readonly #tempPath: string
  readonly #metaBytes: Buffer
  #bodyBytes: number
  #crc: number
  #position: number
  #done: boolean

  constructor(
    storage: DiskStorage,
    hash: string,
    file: FileHandle,
    tempPath: string,
    metaBytes: Uint8Array,
  ) {
    this.#storage = storage
    this.#hash = hash
    this.#file = file
    this.#tempPath = tempPath
    this.#metaBytes = Buffer.from(metaBytes.buffer, metaBytes.byteOffset, metaBytes.byteLength)
    this.#bodyBytes = 0
    this.#crc = crc32(this.#metaBytes)
    // The header is written at finish, when the body length is known.
    this.#position = HEADER_BYTES + this.#metaBytes.length
    this.#done = false
  }

  async writeBody(chunk: Uint8Array): Promise<void> {
    if (this.#done)
      throw PingoraError.internal(ErrorType.FileWriteError, 'cache entry already finished')
    await this.#writeAll(chunk, this.#position)
    this.#position += chunk.byteLength
    this.#bodyBytes += chunk.byteLength
    this.#crc = crc32(chunk, this.#crc)
  }

  async finish(): Promise<number> {
    if (this.#done)
      throw PingoraError.internal(ErrorType.FileWriteError, 'cache entry already finished')
    this.#done = true
    try {
      const header = Buffer.alloc(HEADER_BYTES)
      MAGIC.copy(header, 0)
      header.writeUInt32BE(this.#metaBytes.length, 4)
      header.writeBigUInt64BE(BigInt(this.#bodyBytes), 8)
      await this.#writeAll(header, 0)
      await this.#writeAll(this.#metaBytes, HEADER_BYTES)
      const trailer = Buffer.alloc(TRAILER_BYTES)
      trailer.writeUInt32BE(this.#crc, 0)
      END.copy(trailer, 4)
      await this.#writeAll(trailer, this.#position)
      if (this.#storage.fsync) await this.#file.sync()
      await this.#file.close()
      const total = this.#position + TRAILER_BYTES
      await this.#storage.commit(this.#hash, this.#tempPath, total)
      return total
    } catch (error) {
      await this.#file.close().catch(() => undefined)
      await unlink(this.#tempPath).catch(() => undefined)
      throw PingoraError.because(
        ErrorType.FileWriteError,
        'writing a disk cache entry failed',
        error,
      )
    }
  }

  async abort(): Promise<void> {
    if (this.#done) return
    this.#done = true
    await this.#file.close().catch(() => undefined)
    await unlink(this.#tempPath).catch(() => undefined)
  }

  async #writeAll(bytes: Uint8Array, position: number): Promise<void> {
    let written = 0
    while (written < bytes.byteLength) {
      const result = await this.#file.write(
        bytes,
        written,
        bytes.byteLength - written,
        position + written,
      )
      written += result.bytesWritten
    }
  }
}
