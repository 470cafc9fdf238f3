import { Buffer } from 'node:buffer'
import type { IncomingHttpHeaders, IncomingHttpStatusHeader } from 'node:http2'
import { ErrorType, PingoraError } from '@pingora-ts/error'
import { canonicalReason } from './canonical-reason.ts'
import { FIELD_VALUE_CHARS, isToken, isValidHeaderValue, TOKEN_CHARS } from './chars.ts'
import { badChar, invalidHeader, quote } from './errors.ts'
import { collectH2Fields, copyH2Fields, emptyH2Headers, type H2Headers } from './h2-fields.ts'
import { HeaderMap, type HeaderValueInput } from './header-map.ts'
import { checkVersion, type HttpVersion, h1VersionText } from './http-version.ts'

/** Options for {@link ResponseHeader.build}. */
export interface ResponseHeaderBuildOptions {
  /** The HTTP version. @defaultValue `'HTTP/1.1'` */
  version?: HttpVersion
  /**
   * How many headers are expected. Accepted for parity with Pingora's `size_hint`; JS arrays
   * grow cheaply, so it is currently unused.
   */
  sizeHint?: number
}

/**
 * The header of an HTTP response: status, reason phrase, version and an ordered,
 * case-preserving {@link HeaderMap}. Port of `ResponseHeader` in `pingora-http/src/lib.rs`.
 *
 * @example
 * ```ts
 * const response = ResponseHeader.build(200)
 * response.insertHeader('Content-Type', 'text/plain')
 * response.setContentLength(5)
 * socket.write(response.toH1Wire()) // HTTP/1.1 200 OK\r\nContent-Type: ...
 * ```
 */
export class ResponseHeader {
  #status: number
  // A custom reason phrase; undefined means the canonical one.
  #reason: string | undefined
  #version: HttpVersion
  #headers: HeaderMap

  /**
   * @internal Use {@link ResponseHeader.build} or {@link ResponseHeader.fromRaw}.
   */
  constructor(
    status: number,
    reason: string | undefined,
    version: HttpVersion,
    headers: HeaderMap,
  ) {
    this.#status = status
    this.#reason = reason
    this.#version = version
    this.#headers = headers
  }

  /**
   * Creates a response header with no fields.
   * @param status - the status code, an integer from 100 to 999
   * @param options - version and size hint
   * @throws RangeError when the status is out of range
   */
  static build(status: number, options?: ResponseHeaderBuildOptions): ResponseHeader {
    checkStatus(status)
    const version = options?.version === undefined ? 'HTTP/1.1' : checkVersion(options.version)
    return new ResponseHeader(status, undefined, version, new HeaderMap())
  }

  /**
   * Creates a response header from parts a parser has already validated; nothing is checked or
   * copied (the header takes ownership of `headers`).
   * @param status - the status code
   * @param reasonPhrase - the reason phrase as received, or `undefined`
   * @param version - the version
   * @param headers - the fields
   */
  static fromRaw(
    status: number,
    reasonPhrase: string | undefined,
    version: HttpVersion,
    headers: HeaderMap,
  ): ResponseHeader {
    // The canonical phrase is not stored, so that a later setStatus() rewrites it.
    const reason = reasonPhrase === canonicalReason(status) ? undefined : reasonPhrase
    return new ResponseHeader(status, reason, version, headers)
  }

  /**
   * Creates a response header from a received HTTP/2 header block (`node:http2`'s `response`
   * event). The version is `'HTTP/2'`; `:status` is required.
   * @param headers - the header object
   * @param rawHeaders - the flat `[name, value, ...]` list, to keep the wire order
   * @throws PingoraError `InvalidHTTPHeader` (source `upstream`) when `:status` is missing or
   *   invalid, another pseudo-header is present, or a field is not allowed
   */
  static fromH2Headers(
    headers: IncomingHttpHeaders & IncomingHttpStatusHeader,
    rawHeaders?: readonly string[],
  ): ResponseHeader {
    const raw: unknown = headers[':status']
    const status = typeof raw === 'number' ? raw : typeof raw === 'string' ? Number(raw) : NaN
    if (!isValidStatus(status) || (typeof raw === 'string' && !/^[0-9]{3}$/.test(raw))) {
      throw h2Error(`missing or invalid :status pseudo-header ${quote(String(raw))}`)
    }
    for (const name of Object.keys(headers)) {
      if (name.charCodeAt(0) === 0x3a && name !== ':status') {
        throw h2Error(`unexpected pseudo-header ${quote(name)} in a response`)
      }
    }
    const names: string[] = []
    const values: string[] = []
    collectH2Fields(
      headers as Record<string, string | string[] | number | undefined>,
      rawHeaders,
      names,
      values,
    )
    for (let i = 0; i < names.length; i++) {
      const name = names[i] as string
      const value = values[i] as string
      if (!isToken(name)) {
        throw h2Error(`invalid header name ${quote(name)}: ${badChar(name, TOKEN_CHARS)}`)
      }
      if (!isValidHeaderValue(value)) {
        throw h2Error(
          `invalid value for header ${quote(name)}: ${badChar(value, FIELD_VALUE_CHARS)}`,
        )
      }
    }
    return new ResponseHeader(status, undefined, 'HTTP/2', HeaderMap.fromRaw(names, values))
  }

  /** The status code. */
  get status(): number {
    return this.#status
  }

  /**
   * The reason phrase: the one set (or received), else the canonical one for the status, else
   * `''`.
   */
  get reasonPhrase(): string {
    return this.#reason ?? canonicalReason(this.#status) ?? ''
  }

  /** The HTTP version. */
  get version(): HttpVersion {
    return this.#version
  }

  /** The header fields, in order, with their original case. */
  get headers(): HeaderMap {
    return this.#headers
  }

  /**
   * Sets the status code. A custom reason phrase is dropped when the status changes, so the
   * status line never pairs a new status with an old phrase (`404 OK`).
   * @param status - an integer from 100 to 999
   * @throws RangeError when the status is out of range
   */
  setStatus(status: number): void {
    checkStatus(status)
    if (status !== this.#status) this.#reason = undefined
    this.#status = status
  }

  /**
   * Sets the reason phrase; `undefined` (or the canonical phrase) restores the canonical one.
   * @param reasonPhrase - HTAB, SP, VCHAR and obs-text only (RFC 9112 §4)
   * @throws PingoraError `InvalidHTTPHeader` when the phrase holds CR, LF, NUL or another CTL
   */
  setReasonPhrase(reasonPhrase: string | undefined): void {
    if (reasonPhrase !== undefined) {
      if (typeof reasonPhrase !== 'string' || !isValidHeaderValue(reasonPhrase)) {
        throw invalidHeader(
          `invalid reason phrase ${quote(String(reasonPhrase))}: ${badChar(String(reasonPhrase), FIELD_VALUE_CHARS)}`,
        )
      }
      if (reasonPhrase === canonicalReason(this.#status)) reasonPhrase = undefined
    }
    this.#reason = reasonPhrase
  }

  /**
   * Sets the HTTP version.
   * @param version - the version
   */
  setVersion(version: HttpVersion): void {
    this.#version = checkVersion(version)
  }

  /**
   * Sets `Content-Length` to `length` (replacing any earlier value).
   * @param length - a non-negative safe integer
   * @throws RangeError when it is not one
   */
  setContentLength(length: number): void {
    if (!Number.isSafeInteger(length) || length < 0) {
      throw new RangeError(
        `Invalid content length: ${String(length)} (expected a non-negative safe integer)`,
      )
    }
    this.#headers.insert('Content-Length', String(length))
  }

  /**
   * Sets `name` to the single value `value` (see {@link HeaderMap.insert}).
   * @param name - the header name
   * @param value - the value
   * @throws PingoraError `InvalidHTTPHeader` when the name or value is not allowed
   */
  insertHeader(name: string, value: HeaderValueInput): void {
    this.#headers.insert(name, value)
  }

  /**
   * Adds a field after any others of the same name (see {@link HeaderMap.append}).
   * @param name - the header name
   * @param value - the value
   * @throws PingoraError `InvalidHTTPHeader` when the name or value is not allowed
   */
  appendHeader(name: string, value: HeaderValueInput): void {
    this.#headers.append(name, value)
  }

  /**
   * Removes every field named `name`, returning their values, or `undefined` when none.
   * @param name - the header name
   */
  removeHeader(name: string): string[] | undefined {
    return this.#headers.remove(name)
  }

  /**
   * The first value of `name` (case-insensitive), or `undefined`.
   * @param name - the header name
   */
  getHeader(name: string): string | undefined {
    return this.#headers.get(name)
  }

  /**
   * Every value of `name` (case-insensitive), in order.
   * @param name - the header name
   */
  getHeaderAll(name: string): string[] {
    return this.#headers.getAll(name)
  }

  /** What `console.log` and `util.inspect` show: status, reason, version, fields. */
  [Symbol.for('nodejs.util.inspect.custom')](): object {
    return {
      status: this.#status,
      reasonPhrase: this.reasonPhrase,
      version: this.#version,
      headers: [...this.#headers],
    }
  }

  /** An independent copy. */
  clone(): ResponseHeader {
    return new ResponseHeader(this.#status, this.#reason, this.#version, this.#headers.clone())
  }

  /**
   * The status line and fields as HTTP/1 wire text (latin1): `HTTP/1.1 200 OK CRLF`, each field
   * as `Name: value CRLF` in order with its original case, then CRLF. Versions other than
   * HTTP/1.0 are written as `HTTP/1.1`.
   */
  toH1String(): string {
    return `${h1VersionText(this.#version)} ${this.#status} ${this.reasonPhrase}\r\n${this.#headers.toH1String()}\r\n`
  }

  /** The response header as HTTP/1 wire bytes (see {@link ResponseHeader.toH1String}). */
  toH1Wire(): Buffer {
    return Buffer.from(this.toH1String(), 'latin1')
  }

  /**
   * Writes the HTTP/1 wire bytes into `target` at `offset`, for callers that coalesce writes.
   * @param target - the buffer to write into
   * @param offset - where to start
   * @returns the offset just past the written bytes
   * @throws RangeError when the bytes do not fit
   */
  writeH1Into(target: Buffer, offset: number): number {
    const text = this.toH1String()
    const end = offset + text.length
    if (offset < 0 || end > target.length) {
      throw new RangeError(
        `writeH1Into: ${text.length} bytes do not fit at offset ${offset} of a ${target.length}-byte buffer`,
      )
    }
    target.write(text, offset, 'latin1')
    return end
  }

  /**
   * The response as HTTP/2 header fields for `node:http2`: `:status` first, then every field
   * with its name lower-cased and connection-specific fields dropped (RFC 9113 §8.2.2).
   */
  toH2Headers(): H2Headers {
    const out = emptyH2Headers()
    out[':status'] = String(this.#status)
    copyH2Fields(this.#headers, out, false)
    return out
  }
}

function isValidStatus(status: number): boolean {
  return Number.isInteger(status) && status >= 100 && status <= 999
}

function checkStatus(status: number): void {
  if (!isValidStatus(status)) {
    throw new RangeError(
      `Invalid status code: ${String(status)} (expected an integer from 100 to 999)`,
    )
  }
}

function h2Error(context: string): PingoraError {
  return PingoraError.upstream(ErrorType.InvalidHTTPHeader, context)
}
