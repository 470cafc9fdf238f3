import { randomBytes } from 'node:crypto'
import type { RequestHeader, ResponseHeader } from '@pingora-ts/http'
import { parseHttpDate } from './http-date.ts'

/** The most ranges one request may ask for before the `Range` field is ignored. */
export const MAX_RANGES = 200

/** One satisfiable byte range, inclusive of both ends. */
export interface ByteRange {
  /** First byte. */
  readonly start: number
  /** Last byte (inclusive). */
  readonly end: number
}

/**
 * What {@link rangeHeaderFilter} decided: serve the whole body, one range, several ranges as
 * `multipart/byteranges`, or `416`.
 */
export type RangeType =
  | { readonly kind: 'none' }
  | { readonly kind: 'single'; readonly range: ByteRange }
  | { readonly kind: 'multi'; readonly ranges: readonly ByteRange[]; readonly boundary: string }
  | { readonly kind: 'invalid' }

const NONE: RangeType = Object.freeze({ kind: 'none' })
const INVALID: RangeType = Object.freeze({ kind: 'invalid' })

/**
 * Parses a `Range` field for a body of `length` bytes (RFC 9110 section 14.1.2): `'none'` for
 * another unit or too many ranges (the field is ignored), `'invalid'` when the byte ranges are
 * malformed or none is satisfiable (answer 416), the clamped ranges otherwise.
 * @param value - the `Range` field value
 * @param length - the full body length
 * @param maxRanges - the most ranges accepted
 */
export function parseRange(value: string, length: number, maxRanges = MAX_RANGES): RangeType {
  const trimmed = value.trim()
  const eq = trimmed.indexOf('=')
  if (eq < 0) return INVALID
  if (trimmed.slice(0, eq).trim().toLowerCase() !== 'bytes') return NONE
  const specs = trimmed.slice(eq + 1).split(',')
  if (specs.length > maxRanges) return NONE
  const ranges: ByteRange[] = []
  let any = false
  for (const raw of specs) {
    const spec = raw.trim()
    if (spec.length === 0) continue
    const dash = spec.indexOf('-')
    if (dash < 0) return INVALID
    const first = spec.slice(0, dash).trim()
    const last = spec.slice(dash + 1).trim()
    if ((first !== '' && !/^[0-9]+$/.test(first)) || (last !== '' && !/^[0-9]+$/.test(last))) {
      return INVALID
    }
    any = true
    if (first === '') {
      if (last === '') return INVALID
      const suffix = Number(last)
      if (suffix === 0 || length === 0) continue
      ranges.push({ start: Math.max(0, length - suffix), end: length - 1 })
      continue
    }
    const start = Number(first)
    const end = last === '' ? length - 1 : Number(last)
    if (end < start) return INVALID
    if (start >= length) continue
    ranges.push({ start, end: Math.min(end, length - 1) })
  }
  if (!any || ranges.length === 0) return INVALID
  // Parts go out in body order with overlapping ranges coalesced (RFC 9110 section 14.6 allows
  // coalescing), so a body streamed once in order can be cut without buffering.
  ranges.sort((a, b) => a.start - b.start)
  const merged: ByteRange[] = []
  for (const range of ranges) {
    const last = merged[merged.length - 1]
    if (last !== undefined && range.start <= last.end) {
      merged[merged.length - 1] = { start: last.start, end: Math.max(last.end, range.end) }
    } else merged.push(range)
  }
  if (merged.length === 1) return { kind: 'single', range: merged[0] as ByteRange }
  return { kind: 'multi', ranges: merged, boundary: randomBytes(12).toString('hex') }
}

/**
 * Applies the downstream's `Range` to a `200` response with a known `Content-Length` (the
 * default of `rangeHeaderFilter`): honours `If-Range` (a strong ETag or an exact
 * `Last-Modified` date), then rewrites the header to `206` with `Content-Range` (single
 * range), `206 multipart/byteranges` with the total length (several), or `416` with
 * `Content-Range: bytes *\/length`. Adds `Accept-Ranges: bytes` to eligible responses. Only
 * `GET` requests get ranges. Modifies `response` in place.
 * @param request - the downstream request header
 * @param response - the response header about to be sent
 * @param maxRanges - the most ranges accepted
 */
export function rangeHeaderFilter(
  request: RequestHeader,
  response: ResponseHeader,
  maxRanges = MAX_RANGES,
): RangeType {
  if (response.status !== 200) return NONE
  const lengthText = response.getHeader('content-length')
  if (lengthText === undefined || !/^[0-9]+$/.test(lengthText)) return NONE
  const length = Number(lengthText)
  response.insertHeader('Accept-Ranges', 'bytes')
  if (request.method !== 'GET') return NONE
  const rangeValue = request.getHeader('range')
  if (rangeValue === undefined) return NONE
  const ifRange = request.getHeader('if-range')
  if (ifRange !== undefined && !ifRangeMatches(ifRange.trim(), response)) return NONE
  const range = parseRange(rangeValue, length, maxRanges)
  if (range.kind === 'invalid') {
    response.setStatus(416)
    for (const name of ['content-type', 'content-encoding', 'transfer-encoding'])
      response.removeHeader(name)
    response.insertHeader('Content-Range', `bytes */${length}`)
    response.setContentLength(0)
  } else if (range.kind === 'single') {
    response.setStatus(206)
    response.insertHeader(
      'Content-Range',
      `bytes ${range.range.start}-${range.range.end}/${length}`,
    )
    response.setContentLength(range.range.end - range.range.start + 1)
  } else if (range.kind === 'multi') {
    const contentType = response.getHeader('content-type')
    response.setStatus(206)
    response.insertHeader('Content-Type', `multipart/byteranges; boundary=${range.boundary}`)
    response.setContentLength(multipartLength(range.ranges, range.boundary, contentType, length))
  }
  return range
}

function ifRangeMatches(value: string, response: ResponseHeader): boolean {
  if (value.startsWith('"') || value.startsWith('W/')) {
    // If-Range needs the strong comparison: weak tags never match.
    const etag = response.getHeader('etag')?.trim()
    return !value.startsWith('W/') && etag !== undefined && !etag.startsWith('W/') && etag === value
  }
  const date = parseHttpDate(value)
  const lastModified = parseHttpDate(response.getHeader('last-modified'))
  return date !== undefined && lastModified !== undefined && date === lastModified
}

/**
 * The header that precedes part `index` of a `multipart/byteranges` body.
 * @param range - the part's range
 * @param boundary - the boundary
 * @param contentType - the representation's `Content-Type`, if any
 * @param length - the full body length
 * @param index - the part index (the first part has no leading CRLF)
 */
export function multipartPartHeader(
  range: ByteRange,
  boundary: string,
  contentType: string | undefined,
  length: number,
  index: number,
): string {
  const type = contentType === undefined ? '' : `Content-Type: ${contentType}\r\n`
  return `${index === 0 ? '' : '\r\n'}--${boundary}\r\n${type}Content-Range: bytes ${range.start}-${range.end}/${length}\r\n\r\n`
}

/**
 * The closing delimiter of a `multipart/byteranges` body.
 * @param boundary - the boundary
 */
export function multipartTail(boundary: string): string {
  return `\r\n--${boundary}--\r\n`
}

function multipartLength(
  ranges: readonly ByteRange[],
  boundary: string,
  contentType: string | undefined,
  length: number,
): number {
  let total = Buffer.byteLength(multipartTail(boundary), 'latin1')
  for (let i = 0; i < ranges.length; i++) {
    const range = ranges[i] as ByteRange
    total += Buffer.byteLength(
      multipartPartHeader(range, boundary, contentType, length, i),
      'latin1',
    )
    total += range.end - range.start + 1
  }
  return total
}

/**
 * Cuts a full body, fed chunk by chunk in order, down to what a {@link RangeType} asks for
 * (one range, or the parts of a `multipart/byteranges` body with their headers). Used on cache
 * hits and on misses streaming from the origin.
 */
export class RangeBodyFilter {
  readonly #range: RangeType
  readonly #contentType: string | undefined
  readonly #length: number
  #offset: number

  /**
   * Creates a filter.
   * @param range - the decision of {@link rangeHeaderFilter}
   * @param contentType - the representation's original `Content-Type` (multipart parts)
   * @param length - the full body length
   */
  constructor(range: RangeType, contentType: string | undefined, length: number) {
    this.#range = range
    this.#contentType = contentType
    this.#length = length
    this.#offset = 0
  }

  /**
   * Returns what to send for the next chunk of the full body (possibly empty); `endOfStream`
   * appends the multipart tail.
   * @param chunk - the next chunk of the full body
   * @param endOfStream - whether this is the last chunk
   */
  filter(chunk: Uint8Array, endOfStream: boolean): Uint8Array {
    const range = this.#range
    const chunkStart = this.#offset
    const chunkEnd = chunkStart + chunk.byteLength // exclusive
    this.#offset = chunkEnd
    if (range.kind === 'none') return chunk
    if (range.kind === 'invalid') return EMPTY
    if (range.kind === 'single') return slice(chunk, chunkStart, chunkEnd, range.range)
    const out: Uint8Array[] = []
    const ranges = range.ranges
    for (let i = 0; i < ranges.length; i++) {
      const r = ranges[i] as ByteRange
      // The part header goes out with the chunk holding the part's first byte.
      if (r.start >= chunkStart && r.start < chunkEnd) {
        out.push(
          Buffer.from(
            multipartPartHeader(r, range.boundary, this.#contentType, this.#length, i),
            'latin1',
          ),
        )
      }
      const piece = slice(chunk, chunkStart, chunkEnd, r)
      if (piece.byteLength > 0) out.push(piece)
    }
    if (endOfStream) out.push(Buffer.from(multipartTail(range.boundary), 'latin1'))
    return out.length === 1 ? (out[0] as Uint8Array) : Buffer.concat(out)
  }
}

const EMPTY = new Uint8Array(0)

function slice(
  chunk: Uint8Array,
  chunkStart: number,
  chunkEnd: number,
  range: ByteRange,
): Uint8Array {
  const from = Math.max(range.start, chunkStart)
  const to = Math.min(range.end + 1, chunkEnd)
  if (to <= from) return EMPTY
  return chunk.subarray(from - chunkStart, to - chunkStart)
}
