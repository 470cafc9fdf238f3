import zlib from 'node:zlib'
import type { HttpModule, HttpModuleBuilder } from '@pingora-ts/core'
import { ErrorType, PingoraError } from '@pingora-ts/error'
import type { RequestHeader, ResponseHeader } from '@pingora-ts/http'

/** A content coding {@link ResponseCompression} can produce or undo. */
export type CompressionAlgorithm = 'gzip' | 'br' | 'zstd'

/** Levels per algorithm: a number, or `false` to never use it. */
export interface CompressionLevels {
  /** gzip level, 1 (fast) to 9 (small). @defaultValue 6 */
  gzip?: number | false
  /** Brotli quality, 0 to 11. @defaultValue 4 */
  br?: number | false
  /** zstd level, 1 to 19 (only where `node:zlib` has zstd). @defaultValue 3 */
  zstd?: number | false
}

/** Options of {@link ResponseCompressionBuilder}. */
export interface ResponseCompressionOptions {
  /** Levels per algorithm; `false` turns one off. @defaultValue gzip 6, br 4, zstd 3 */
  levels?: CompressionLevels
  /**
   * Levels by content type, overriding {@link ResponseCompressionOptions.levels}: the first
   * entry whose `type` prefixes the response's media type wins (e.g.
   * `{ type: 'application/json', levels: { gzip: 9 } }`). @defaultValue none
   */
  typeLevels?: readonly { readonly type: string; readonly levels: CompressionLevels }[]
  /** The server's order among codings the client accepts equally. @defaultValue zstd, br, gzip */
  preference?: readonly CompressionAlgorithm[]
  /**
   * Responses with a `Content-Length` under this many bytes are sent as they are (responses of
   * unknown length are compressed). @defaultValue 1024
   */
  minSize?: number
  /**
   * Media types to compress: an entry ending in `/` matches the whole top-level type
   * (`text/`); others match exactly (parameters ignored).
   * @defaultValue text/, application/json, application/javascript, application/xml,
   * application/wasm, image/svg+xml, and any `+json` / `+xml` type
   */
  contentTypes?: readonly string[]
  /**
   * Decode an upstream response whose `Content-Encoding` (gzip, br, zstd, deflate) the client
   * does not accept (Pingora's `decompress`). @defaultValue `true`
   */
  decompress?: boolean
  /**
   * The most bytes one body chunk may decode to; a larger expansion (a decompression bomb)
   * fails the response. @defaultValue 8 MiB
   */
  maxDecompressedChunkBytes?: number
  /** Module order: higher runs first. @defaultValue 0 */
  order?: number
}

const DEFAULT_TYPES: readonly string[] = [
  'text/',
  'application/json',
  'application/javascript',
  'application/x-javascript',
  'application/xml',
  'application/wasm',
  'image/svg+xml',
]
const OUTPUT_CHUNK = 16 * 1024
const { constants } = zlib
/** `node:zlib` has zstd from Node 22.15 / 23.8. */
const HAS_ZSTD = typeof (zlib as { createZstdCompress?: unknown }).createZstdCompress === 'function'

/**
 * The native half of a `node:zlib` stream: the synchronous, resumable step the stream API wraps.
 * Node keeps it on `_handle` and reports the remaining input and output space in `_writeState`.
 * The public sync APIs (`gzipSync`) are one-shot and close the stream; a per-chunk body filter
 * is synchronous by design, so it drives the handle directly (see ADR "sync streaming zlib").
 */
interface ZlibEngine {
  readonly _handle: {
    writeSync(
      flush: number,
      input: Uint8Array,
      inOffset: number,
      inLength: number,
      output: Uint8Array,
      outOffset: number,
      outLength: number,
    ): void
  } | null
  readonly _writeState: Uint32Array
  readonly destroyed: boolean
  on(event: 'error', listener: (error: Error) => void): unknown
  close(): void
}

const ignoreError = (): void => {}
/** The error of a body that does not decode (or expands past the bound). */
const INVALID_CODING = ErrorType.Custom('InvalidContentEncoding')

/** A zlib stream stepped synchronously, one body chunk at a time. */
class SyncCoder {
  readonly #engine: ZlibEngine
  readonly #flush: number
  readonly #finish: number
  readonly #maxOutput: number
  #closed = false

  constructor(engine: unknown, flush: number, finish: number, maxOutput: number) {
    this.#engine = engine as ZlibEngine
    // The stream reports errors as events too: keep them from being unhandled.
    this.#engine.on('error', ignoreError)
    this.#flush = flush
    this.#finish = finish
    this.#maxOutput = maxOutput
  }

  /**
   * Feeds one chunk and returns everything the coder produced for it; flushes each chunk (a
   * slow upstream's bytes are not held back) and finishes on the last.
   */
  write(input: Uint8Array, last: boolean): Uint8Array | undefined {
    const engine = this.#engine
    const handle = engine._handle
    if (this.#closed || handle === null) return undefined
    const state = engine._writeState
    const flush = last ? this.#finish : this.#flush
    let inOffset = 0
    let inLength = input.length
    let output: Uint8Array[] | undefined
    let first: Uint8Array | undefined
    let total = 0
    for (;;) {
      const buffer = Buffer.allocUnsafe(OUTPUT_CHUNK)
      handle.writeSync(flush, input, inOffset, inLength, buffer, 0, OUTPUT_CHUNK)
      if (engine.destroyed) {
        this.#closed = true
        throw PingoraError.explain(INVALID_CODING, 'content coding: invalid data').setSource(
          'upstream',
        )
      }
      const outLeft = state[0] as number
      const inLeft = state[1] as number
      const produced = OUTPUT_CHUNK - outLeft
      if (produced > 0) {
        const piece = buffer.subarray(0, produced)
        total += produced
        if (total > this.#maxOutput) {
          this.close()
          throw PingoraError.explain(
            INVALID_CODING,
            `content coding: a chunk expands past ${this.#maxOutput} bytes`,
          ).setSource('upstream')
        }
        if (first === undefined) {
          first = piece
        } else {
          if (output === undefined) output = [first]
          output.push(piece)
        }
      }
      inOffset += inLength - inLeft
      inLength = inLeft
      // Space left in the output: the coder has nothing more for this flush.
      if (outLeft !== 0) break
    }
    if (last) this.close()
    return output === undefined ? first : Buffer.concat(output, total)
  }

  close(): void {
    if (this.#closed) return
    this.#closed = true
    this.#engine.close()
  }
}

function encoder(algorithm: CompressionAlgorithm, level: number, sizeHint: number): SyncCoder {
  switch (algorithm) {
    case 'gzip':
      return new SyncCoder(
        zlib.createGzip({ level }),
        constants.Z_SYNC_FLUSH,
        constants.Z_FINISH,
        Number.POSITIVE_INFINITY,
      )
    case 'br': {
      const params: Record<number, number> = {
        [constants.BROTLI_PARAM_QUALITY]: level,
        // A 256 KiB window bounds the encoder's memory per response (the default is 4 MiB).
        [constants.BROTLI_PARAM_LGWIN]: 18,
      }
      if (sizeHint > 0) params[constants.BROTLI_PARAM_SIZE_HINT] = sizeHint
      return new SyncCoder(
        zlib.createBrotliCompress({ params }),
        constants.BROTLI_OPERATION_FLUSH,
        constants.BROTLI_OPERATION_FINISH,
        Number.POSITIVE_INFINITY,
      )
    }
    case 'zstd': {
      const z = zlib as unknown as {
        createZstdCompress(options: { params: Record<number, number> }): unknown
        constants: Record<string, number>
      }
      const c = z.constants
      return new SyncCoder(
        z.createZstdCompress({
          params: {
            [c.ZSTD_c_compressionLevel as number]: level,
            [c.ZSTD_c_windowLog as number]: 18,
          },
        }),
        c.ZSTD_e_flush as number,
        c.ZSTD_e_end as number,
        Number.POSITIVE_INFINITY,
      )
    }
  }
}

function decoder(coding: string, maxOutput: number): SyncCoder | undefined {
  switch (coding) {
    case 'gzip':
    case 'x-gzip':
      return new SyncCoder(
        zlib.createGunzip(),
        constants.Z_SYNC_FLUSH,
        constants.Z_FINISH,
        maxOutput,
      )
    case 'deflate':
      return new SyncCoder(
        zlib.createInflate(),
        constants.Z_SYNC_FLUSH,
        constants.Z_FINISH,
        maxOutput,
      )
    case 'br':
      return new SyncCoder(
        zlib.createBrotliDecompress(),
        constants.BROTLI_OPERATION_FLUSH,
        constants.BROTLI_OPERATION_FINISH,
        maxOutput,
      )
    case 'zstd': {
      if (!HAS_ZSTD) return undefined
      const z = zlib as unknown as {
        createZstdDecompress(): unknown
        constants: Record<string, number>
      }
      return new SyncCoder(
        z.createZstdDecompress(),
        z.constants.ZSTD_e_flush as number,
        z.constants.ZSTD_e_end as number,
        maxOutput,
      )
    }
    default:
      return undefined
  }
}

/**
 * The q-value (0 to 1000, in thousandths) the client gives `coding` in `Accept-Encoding`
 * (RFC 9110 §12.5.3): its own entry, else `*`, else 0. `identity` is acceptable unless
 * refused. A header-sized scan, no allocation per entry beyond the token slice.
 */
export function acceptEncodingQuality(acceptEncoding: string | undefined, coding: string): number {
  if (acceptEncoding === undefined) return coding === 'identity' ? 1000 : 0
  let star = -1
  let own = -1
  for (const part of acceptEncoding.split(',')) {
    const semi = part.indexOf(';')
    const token = (semi === -1 ? part : part.slice(0, semi)).trim().toLowerCase()
    if (token !== coding && token !== '*' && !(coding === 'gzip' && token === 'x-gzip')) continue
    let q = 1000
    if (semi !== -1) {
      const match = /;\s*q\s*=\s*([01](?:\.\d{0,3})?)\s*(?:;|$)/i.exec(part)
      if (match !== null) q = Math.round(Number(match[1]) * 1000)
    }
    if (token === '*') star = Math.max(star, q)
    else own = Math.max(own, q)
  }
  if (own !== -1) return own
  if (star !== -1) return star
  return coding === 'identity' ? 1000 : 0
}

/** The settings shared by every request, resolved once by the builder. */
interface CompressionSettings {
  readonly levels: Readonly<Record<CompressionAlgorithm, number | false>>
  readonly typeLevels: readonly { readonly type: string; readonly levels: CompressionLevels }[]
  readonly preference: readonly CompressionAlgorithm[]
  readonly minSize: number
  readonly exactTypes: ReadonlySet<string>
  readonly typePrefixes: readonly string[]
  readonly decompress: boolean
  readonly maxDecompressed: number
}

function mediaType(contentType: string): string {
  const semi = contentType.indexOf(';')
  return (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase()
}

/** Adds `Accept-Encoding` to `Vary` unless it is there (or `Vary: *`). */
function addVary(response: ResponseHeader): void {
  const all = response.getHeaderAll('vary')
  for (const value of all) {
    for (const item of value.split(',')) {
      const token = item.trim().toLowerCase()
      if (token === 'accept-encoding' || token === '*') return
    }
  }
  response.appendHeader('vary', 'Accept-Encoding')
}

/** RFC 9110 §8.8.3: a changed representation may keep only a weak validator. */
function weakenEtag(response: ResponseHeader): void {
  const etag = response.getHeader('etag')
  if (etag !== undefined && !etag.startsWith('W/')) response.insertHeader('etag', `W/${etag}`)
}

/**
 * The per-request half of {@link ResponseCompressionBuilder}: compresses responses with gzip,
 * Brotli or zstd as the client's `Accept-Encoding` allows, and decodes upstream encodings the
 * client cannot take. Port of Pingora's `ResponseCompression` module
 * (`pingora-core/src/modules/http/compression.rs`).
 *
 * A response is compressed when it has a body, a status other than 1xx/204/206/304, no
 * `Content-Encoding`, no `Cache-Control: no-transform`, a listed content type and a length of at
 * least `minSize` (or an unknown one). It then gets `Content-Encoding`, `Vary: Accept-Encoding`,
 * a weak `ETag`, and loses `Content-Length` and `Accept-Ranges`. Each body chunk is compressed
 * as it passes and flushed (memory: one coder per response, no buffering of the body), so the
 * proxy's backpressure applies unchanged. Configure one request with
 * `session.downstreamModulesCtx.get(ResponseCompression)`.
 */
export class ResponseCompression implements HttpModule {
  /**
   * Set to the coder's filter once the response header chose to encode or decode; the
   * proxy then runs it on every body chunk (it stays `undefined` otherwise: no per-chunk cost).
   */
  responseBodyFilter:
    | ((body: Uint8Array | undefined, endOfStream: boolean) => Uint8Array | undefined)
    | undefined
  readonly #settings: CompressionSettings
  #acceptEncoding: string | undefined
  #head: boolean
  #enabled: boolean
  #coder: SyncCoder | undefined
  #algorithm: CompressionAlgorithm | 'decoded' | undefined

  /** @internal */
  constructor(settings: CompressionSettings) {
    this.responseBodyFilter = undefined
    this.#settings = settings
    this.#acceptEncoding = undefined
    this.#head = false
    this.#enabled = true
    this.#coder = undefined
    this.#algorithm = undefined
  }

  /** Leaves this request's response as it is (call it before the response header). */
  disable(): void {
    this.#enabled = false
  }

  /**
   * What this response was given: the algorithm it is compressed with, `'decoded'` when an
   * upstream encoding was undone, or `undefined`.
   */
  get encoding(): CompressionAlgorithm | 'decoded' | undefined {
    return this.#algorithm
  }

  /**
   * Remembers what the client accepts.
   * @param request - the client's request header
   */
  requestHeaderFilter(request: RequestHeader): void {
    this.#acceptEncoding = request.getHeader('accept-encoding')
    this.#head = request.method === 'HEAD'
  }

  /**
   * Decides, from the response header, whether to compress, decode or leave the body.
   * @param response - the response header sent to the client
   * @param endOfStream - `true` when no body follows
   */
  responseHeaderFilter(response: ResponseHeader, endOfStream: boolean): void {
    if (!this.#enabled || endOfStream || this.#head) return
    const status = response.status
    if (status < 200 || status === 204 || status === 206 || status === 304) return
    const settings = this.#settings
    const contentEncoding = response.getHeader('content-encoding')
    if (contentEncoding !== undefined && contentEncoding.trim().toLowerCase() !== 'identity') {
      this.#maybeDecode(response, contentEncoding.trim().toLowerCase())
      return
    }
    const cacheControl = response.getHeader('cache-control')
    if (cacheControl !== undefined && /(?:^|,)\s*no-transform\s*(?:,|$)/i.test(cacheControl)) return
    const contentType = response.getHeader('content-type')
    if (contentType === undefined) return
    const type = mediaType(contentType)
    if (!this.#compressible(type)) return
    const lengthText = response.getHeader('content-length')
    const length = lengthText === undefined ? -1 : Number(lengthText)
    if (length >= 0 && length < settings.minSize) return
    // The representation now depends on Accept-Encoding, whether or not this one is encoded.
    addVary(response)
    const levels = this.#levelsFor(type)
    let best: CompressionAlgorithm | undefined
    let bestQ = 0
    for (const algorithm of settings.preference) {
      if (levels[algorithm] === false) continue
      const q = acceptEncodingQuality(this.#acceptEncoding, algorithm)
      if (q > bestQ) {
        best = algorithm
        bestQ = q
      }
    }
    if (best === undefined) return
    this.#coder = encoder(best, levels[best] as number, length)
    this.#algorithm = best
    response.insertHeader('content-encoding', best)
    response.removeHeader('content-length')
    response.removeHeader('accept-ranges')
    weakenEtag(response)
    this.responseBodyFilter = this.#filter
  }

  #maybeDecode(response: ResponseHeader, coding: string): void {
    const settings = this.#settings
    // Already encoded: untouched when the client takes it (or when we cannot decode it).
    if (!settings.decompress || acceptEncodingQuality(this.#acceptEncoding, coding) > 0) return
    if (coding.includes(',')) return
    const coder = decoder(coding, settings.maxDecompressed)
    if (coder === undefined) return
    this.#coder = coder
    this.#algorithm = 'decoded'
    response.removeHeader('content-encoding')
    response.removeHeader('content-length')
    response.removeHeader('accept-ranges')
    weakenEtag(response)
    this.responseBodyFilter = this.#filter
  }

  #compressible(type: string): boolean {
    const settings = this.#settings
    if (settings.exactTypes.has(type)) return true
    for (const prefix of settings.typePrefixes) if (type.startsWith(prefix)) return true
    return type.endsWith('+json') || type.endsWith('+xml')
  }

  #levelsFor(type: string): Readonly<Record<CompressionAlgorithm, number | false>> {
    const settings = this.#settings
    for (const entry of settings.typeLevels) {
      if (type.startsWith(entry.type)) return { ...settings.levels, ...entry.levels }
    }
    return settings.levels
  }

  readonly #filter = (
    body: Uint8Array | undefined,
    endOfStream: boolean,
  ): Uint8Array | undefined => {
    const coder = this.#coder
    if (coder === undefined) return body
    return coder.write(body ?? EMPTY, endOfStream)
  }
}

const EMPTY = new Uint8Array(0)

function checkLevel(name: string, value: number | false | undefined, max: number): void {
  if (value === undefined || value === false) return
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new RangeError(`${name} level must be an integer from 0 to ${max}, got ${value}`)
  }
}

function checkLevels(levels: CompressionLevels): void {
  checkLevel('gzip', levels.gzip, 9)
  checkLevel('br', levels.br, 11)
  checkLevel('zstd', levels.zstd, 22)
}

/**
 * Adds response compression to a proxy: `modules.addModule(new ResponseCompressionBuilder())`
 * in `ProxyHttp.initDownstreamModules`. Port of Pingora's `ResponseCompressionBuilder`; gzip,
 * Brotli, and zstd where `node:zlib` has it. See {@link ResponseCompression}.
 */
export class ResponseCompressionBuilder implements HttpModuleBuilder {
  /** See {@link ResponseCompressionOptions.order}. */
  readonly order: number
  readonly #settings: CompressionSettings

  /**
   * Creates the builder.
   * @param options - levels, types, minimum size, decompression
   * @throws RangeError when a level or size is out of range
   */
  constructor(options: ResponseCompressionOptions = {}) {
    const given = options.levels ?? {}
    checkLevels(given)
    for (const entry of options.typeLevels ?? []) checkLevels(entry.levels)
    const minSize = options.minSize ?? 1024
    if (!Number.isInteger(minSize) || minSize < 0) {
      throw new RangeError(`minSize must be a non-negative integer, got ${minSize}`)
    }
    const maxDecompressed = options.maxDecompressedChunkBytes ?? 8 * 1024 * 1024
    if (!Number.isInteger(maxDecompressed) || maxDecompressed < 1) {
      throw new RangeError(
        `maxDecompressedChunkBytes must be a positive integer, got ${maxDecompressed}`,
      )
    }
    const types = options.contentTypes ?? DEFAULT_TYPES
    const preference = (options.preference ?? ['zstd', 'br', 'gzip']).filter(
      (a) => a !== 'zstd' || HAS_ZSTD,
    )
    this.order = options.order ?? 0
    this.#settings = {
      levels: {
        gzip: given.gzip ?? 6,
        br: given.br ?? 4,
        zstd: HAS_ZSTD ? (given.zstd ?? 3) : false,
      },
      typeLevels: (options.typeLevels ?? []).map((entry) => ({
        type: entry.type.toLowerCase(),
        levels: HAS_ZSTD ? entry.levels : { ...entry.levels, zstd: false },
      })),
      preference,
      minSize,
      exactTypes: new Set(types.filter((t) => !t.endsWith('/')).map((t) => t.toLowerCase())),
      typePrefixes: types.filter((t) => t.endsWith('/')).map((t) => t.toLowerCase()),
      decompress: options.decompress ?? true,
      maxDecompressed,
    }
  }

  /** Whether this Node.js has zstd in `node:zlib`. */
  static get hasZstd(): boolean {
    return HAS_ZSTD
  }

  /** Creates the module instance for one request. */
  init(): ResponseCompression {
    return new ResponseCompression(this.#settings)
  }
}
