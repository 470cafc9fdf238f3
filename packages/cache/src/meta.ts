import { ErrorType, PingoraError } from '@pingora-ts/error'
import { HeaderMap, isHttpVersion, ResponseHeader } from '@pingora-ts/http'
import type { HashHex } from './key.ts'

/** The fields of a {@link CacheMeta}. */
export interface CacheMetaInit {
  /** When the response was generated, epoch ms (now minus the age it arrived with). */
  createdMs: number
  /** When the stored response was last admitted or revalidated, epoch ms. */
  updatedMs: number
  /** Until when the response is fresh, epoch ms. */
  freshUntilMs: number
  /** Seconds past {@link CacheMetaInit.freshUntilMs} a stale copy may be served while revalidating. */
  staleWhileRevalidateSec: number
  /** Seconds past {@link CacheMetaInit.freshUntilMs} a stale copy may be served on an origin error. */
  staleIfErrorSec: number
  /** The stored response header. */
  header: ResponseHeader
  /** The variance hash, set when the response varies on request fields. */
  variance?: HashHex | undefined
}

const META_VERSION = 1
/** Largest serialised meta accepted back, so a corrupt length cannot allocate without bound. */
export const META_MAX_BYTES = 1024 * 1024

/**
 * What the cache knows about a stored response besides its body: timestamps, freshness, the
 * serve-stale windows, the response header and the variance. Serialisable with
 * {@link CacheMeta.serialize}. Port of `pingora-cache/src/meta.rs` `CacheMeta`.
 */
export class CacheMeta {
  /** When the response was generated, epoch ms. */
  createdMs: number
  /** When it was last admitted or revalidated, epoch ms. */
  updatedMs: number
  /** Until when it is fresh, epoch ms. */
  freshUntilMs: number
  /** The stale-while-revalidate window in seconds. */
  staleWhileRevalidateSec: number
  /** The stale-if-error window in seconds. */
  staleIfErrorSec: number
  /** The stored response header. */
  header: ResponseHeader
  /** The variance hash, or `undefined` when the response does not vary. */
  variance: HashHex | undefined

  /**
   * Creates a meta.
   * @param init - its fields
   */
  constructor(init: CacheMetaInit) {
    this.createdMs = init.createdMs
    this.updatedMs = init.updatedMs
    this.freshUntilMs = init.freshUntilMs
    this.staleWhileRevalidateSec = init.staleWhileRevalidateSec
    this.staleIfErrorSec = init.staleIfErrorSec
    this.header = init.header
    this.variance = init.variance
  }

  /**
   * Whether the response is fresh at `nowMs`.
   * @param nowMs - the current time, epoch ms
   */
  isFresh(nowMs: number): boolean {
    return nowMs < this.freshUntilMs
  }

  /** The freshness lifetime in whole seconds, from creation to the end of freshness. */
  freshSec(): number {
    return Math.max(0, Math.floor((this.freshUntilMs - this.createdMs) / 1000))
  }

  /**
   * The age of the response at `nowMs` in whole seconds (the `Age` header value).
   * @param nowMs - the current time, epoch ms
   */
  ageSec(nowMs: number): number {
    return Math.max(0, Math.floor((nowMs - this.createdMs) / 1000))
  }

  /**
   * Whether a stale copy may be served while it is revalidated in the background.
   * @param nowMs - the current time, epoch ms
   */
  serveStaleWhileRevalidate(nowMs: number): boolean {
    return nowMs < this.freshUntilMs + this.staleWhileRevalidateSec * 1000
  }

  /**
   * Whether a stale copy may be served because the origin failed.
   * @param nowMs - the current time, epoch ms
   */
  serveStaleIfError(nowMs: number): boolean {
    return nowMs < this.freshUntilMs + this.staleIfErrorSec * 1000
  }

  /** Turns off both serve-stale windows (for `must-revalidate` responses). */
  disableServeStale(): void {
    this.staleWhileRevalidateSec = 0
    this.staleIfErrorSec = 0
  }

  /** A deep copy (the header is cloned). */
  clone(): CacheMeta {
    return new CacheMeta({ ...this.#fields(), header: this.header.clone() })
  }

  /**
   * Serialises to bytes that {@link CacheMeta.deserialize} reads back: a versioned JSON
   * document with the header as name/value pairs in wire order (latin1 bytes kept).
   */
  serialize(): Uint8Array {
    const names: string[] = []
    const values: string[] = []
    const headers = this.header.headers
    for (let i = 0; i < headers.size; i++) {
      names.push(headers.nameAt(i))
      values.push(headers.valueAt(i))
    }
    const doc = {
      v: META_VERSION,
      ...this.#fields(),
      status: this.header.status,
      reason: this.header.reasonPhrase,
      version: this.header.version,
      names,
      values,
    }
    return Buffer.from(JSON.stringify(doc), 'utf8')
  }

  /**
   * Reads bytes written by {@link CacheMeta.serialize}.
   * @param bytes - the serialised meta
   * @throws PingoraError `InternalError` when the bytes are not a valid meta (corrupt storage)
   */
  static deserialize(bytes: Uint8Array): CacheMeta {
    if (bytes.byteLength > META_MAX_BYTES) throw corrupt('meta too large')
    let doc: unknown
    try {
      doc = JSON.parse(
        Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'),
      )
    } catch (error) {
      throw corrupt('meta is not JSON', error)
    }
    if (typeof doc !== 'object' || doc === null) throw corrupt('meta is not an object')
    const d = doc as Record<string, unknown>
    if (d.v !== META_VERSION) throw corrupt(`unknown meta version ${String(d.v)}`)
    const numbers = [
      'createdMs',
      'updatedMs',
      'freshUntilMs',
      'staleWhileRevalidateSec',
      'staleIfErrorSec',
      'status',
    ]
    for (const name of numbers) {
      if (typeof d[name] !== 'number' || !Number.isFinite(d[name])) throw corrupt(`bad ${name}`)
    }
    const names = d.names
    const values = d.values
    if (
      !Array.isArray(names) ||
      !Array.isArray(values) ||
      names.length !== values.length ||
      !names.every((x) => typeof x === 'string') ||
      !values.every((x) => typeof x === 'string')
    ) {
      throw corrupt('bad header fields')
    }
    const version = d.version
    if (typeof version !== 'string' || !isHttpVersion(version)) throw corrupt('bad version')
    const status = d.status as number
    if (!Number.isInteger(status) || status < 100 || status > 999) throw corrupt('bad status')
    const reason = typeof d.reason === 'string' ? d.reason : undefined
    const variance = d.variance
    if (variance !== undefined && typeof variance !== 'string') throw corrupt('bad variance')
    const header = ResponseHeader.fromRaw(
      status,
      reason,
      version,
      HeaderMap.fromRaw(names as string[], values as string[]),
    )
    return new CacheMeta({
      createdMs: d.createdMs as number,
      updatedMs: d.updatedMs as number,
      freshUntilMs: d.freshUntilMs as number,
      staleWhileRevalidateSec: d.staleWhileRevalidateSec as number,
      staleIfErrorSec: d.staleIfErrorSec as number,
      header,
      variance,
    })
  }

  #fields(): Omit<CacheMetaInit, 'header'> {
    return {
      createdMs: this.createdMs,
      updatedMs: this.updatedMs,
      freshUntilMs: this.freshUntilMs,
      staleWhileRevalidateSec: this.staleWhileRevalidateSec,
      staleIfErrorSec: this.staleIfErrorSec,
      variance: this.variance,
    }
  }
}

function corrupt(context: string, cause?: unknown): PingoraError {
  return PingoraError.internal(ErrorType.InternalError, `corrupt cache meta: ${context}`, cause)
}

/**
 * Freshness and serve-stale defaults for responses whose own headers do not set them. Port of
 * `pingora-cache/src/meta.rs` `CacheMetaDefaults`.
 */
export class CacheMetaDefaults {
  readonly #freshSecByStatus: (status: number) => number | undefined
  /** The default stale-while-revalidate window in seconds. */
  readonly staleWhileRevalidateSec: number
  /** The default stale-if-error window in seconds. */
  readonly staleIfErrorSec: number

  /**
   * Creates defaults.
   * @param freshSecByStatus - the freshness lifetime for a status, `undefined` when responses
   *   with that status are not cached by default
   * @param staleWhileRevalidateSec - default stale-while-revalidate window
   * @param staleIfErrorSec - default stale-if-error window
   */
  constructor(
    freshSecByStatus: (status: number) => number | undefined,
    staleWhileRevalidateSec = 0,
    staleIfErrorSec = 0,
  ) {
    this.#freshSecByStatus = freshSecByStatus
    this.staleWhileRevalidateSec = staleWhileRevalidateSec
    this.staleIfErrorSec = staleIfErrorSec
  }

  /**
   * The default freshness lifetime for a status; a `304` takes the lifetime of a `200`.
   * @param status - the response status
   */
  freshSec(status: number): number | undefined {
    return this.#freshSecByStatus(status === 304 ? 200 : status)
  }
}
