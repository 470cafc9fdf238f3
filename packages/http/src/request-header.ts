import { Buffer } from 'node:buffer'
import type { IncomingHttpHeaders } from 'node:http2'
import { ErrorType, PingoraError } from '@pingora-ts/error'
import {
  FIELD_VALUE_CHARS,
  isToken,
  isValidHeaderValue,
  isValidRequestTarget,
  isValidRequestTargetBytes,
  REQUEST_TARGET_CHARS,
  TOKEN_CHARS,
} from './chars.ts'
import { badChar, invalidHeader, quote } from './errors.ts'
import { collectH2Fields, copyH2Fields, emptyH2Headers, type H2Headers } from './h2-fields.ts'
import { HeaderMap, type HeaderValueInput } from './header-map.ts'
import { checkVersion, type HttpVersion, h1VersionText } from './http-version.ts'

/** Options for {@link RequestHeader.build}. */
export interface RequestHeaderBuildOptions {
  /** The HTTP version. @defaultValue `'HTTP/1.1'` */
  version?: HttpVersion
  /**
   * How many headers are expected. Accepted for parity with Pingora's `size_hint`; JS arrays
   * grow cheaply, so it is currently unused.
   */
  sizeHint?: number
}

/** Options for {@link RequestHeader.toH2Headers}. */
export interface RequestH2Options {
  /**
   * The `:scheme` pseudo-header. Default: the scheme of an absolute-form URI, else `'https'`.
   */
  scheme?: string
  /**
   * The `:authority` pseudo-header. Default: the authority of an absolute-form URI, else the
   * `Host` header; omitted when there is neither.
   */
  authority?: string
}

const SLASH = 0x2f
const QUESTION = 0x3f

// RFC 3986 §3.1 scheme, then "//" authority; the rest is path-abempty [ "?" query ].
const ABSOLUTE_FORM = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)/

/**
 * The header of an HTTP request: method, request target, version and an ordered,
 * case-preserving {@link HeaderMap}. Port of `RequestHeader` in `pingora-http/src/lib.rs`.
 *
 * The request target is kept as raw bytes ({@link RequestHeader.rawPath}), so a path that is not
 * valid UTF-8 is forwarded unchanged; {@link RequestHeader.uri} is the same bytes as a latin1
 * string. Header names keep their case and order on the HTTP/1 wire.
 *
 * @example
 * ```ts
 * const request = RequestHeader.build('GET', '/index.html?lang=en')
 * request.insertHeader('Host', 'example.com')
 * request.appendHeader('Accept-Encoding', 'gzip')
 * socket.write(request.toH1Wire())
 * // GET /index.html?lang=en HTTP/1.1\r\nHost: example.com\r\nAccept-Encoding: gzip\r\n\r\n
 * ```
 */
export class RequestHeader {
  #method: string
  // The target as bytes and as a latin1 string: at least one is set, the other is derived on
  // first use (build() never pays for a Buffer it may not need).
  #rawPath: Buffer | undefined
  #uri: string | undefined
  #version: HttpVersion
  #headers: HeaderMap
  #sendEndStream: boolean

  /**
   * @internal Use {@link RequestHeader.build} or {@link RequestHeader.fromRaw}.
   */
  constructor(
    method: string,
    rawPath: Buffer | undefined,
    uri: string | undefined,
    version: HttpVersion,
    headers: HeaderMap,
  ) {
    this.#method = method
    this.#rawPath = rawPath
    this.#uri = uri
    this.#version = version
    this.#headers = headers
    this.#sendEndStream = true
  }

  /**
   * Creates a request header with no fields, validating the method and the request target.
   * @param method - the method, an RFC 9110 token (case-sensitive: `'GET'`, not `'get'`)
   * @param path - the request target (`/path?query`, an absolute URI, `*`...): a latin1 string
   *   or raw bytes; no SP, CR, LF, NUL or other CTL
   * @param options - version and size hint
   * @throws PingoraError `InvalidHTTPHeader` when the method or target is not allowed
   */
  static build(
    method: string,
    path: string | Uint8Array,
    options?: RequestHeaderBuildOptions,
  ): RequestHeader {
    checkMethod(method)
    const version = options?.version === undefined ? 'HTTP/1.1' : checkVersion(options.version)
    if (typeof path === 'string') {
      checkTarget(path)
      return new RequestHeader(method, undefined, path, version, new HeaderMap())
    }
    return new RequestHeader(method, copyTarget(path), undefined, version, new HeaderMap())
  }

  /**
   * Creates a request header from parts a parser has already validated; nothing is checked or
   * copied (the header takes ownership of `rawPath` and `headers`).
   * @param method - the method
   * @param rawPath - the request target: its bytes, or the same as a latin1 string (saves a
   *   decode when the parser already has one)
   * @param version - the version
   * @param headers - the fields
   */
  static fromRaw(
    method: string,
    rawPath: Buffer | string,
    version: HttpVersion,
    headers: HeaderMap,
  ): RequestHeader {
    return typeof rawPath === 'string'
      ? new RequestHeader(method, undefined, rawPath, version, headers)
      : new RequestHeader(method, rawPath, undefined, version, headers)
  }

  /**
   * Creates a request header from a received HTTP/2 header block (`node:http2`'s `stream`
   * event). `:authority` becomes a `Host` field (first, replacing any `host` field, RFC 9113
   * §8.3.1); split `cookie` fields are joined into one with `; ` (§8.2.3); the version is
   * `'HTTP/2'`. `:method` is required, and `:scheme` and `:path` too
   * unless the method is CONNECT (which needs `:authority`, used as the target).
   * @param headers - the header object
   * @param rawHeaders - the flat `[name, value, ...]` list, to keep the wire order
   * @throws PingoraError `InvalidHTTPHeader` (source `downstream`) when a pseudo-header is
   *   missing or unknown, or a field is not allowed
   */
  static fromH2Headers(
    headers: IncomingHttpHeaders,
    rawHeaders?: readonly string[],
  ): RequestHeader {
    const method = headers[':method']
    const path = headers[':path']
    const scheme = headers[':scheme']
    const authority = headers[':authority']
    if (typeof method !== 'string' || !isToken(method)) {
      throw h2Error('missing or invalid :method pseudo-header')
    }
    let target: string
    if (method === 'CONNECT' && path === undefined) {
      if (typeof authority !== 'string') throw h2Error('CONNECT request without :authority')
      target = authority
    } else {
      if (typeof path !== 'string') throw h2Error('missing :path pseudo-header')
      if (typeof scheme !== 'string') throw h2Error('missing :scheme pseudo-header')
      target = path
    }
    if (!isValidRequestTarget(target)) {
      throw h2Error(`invalid :path ${quote(target)}: ${badChar(target, REQUEST_TARGET_CHARS)}`)
    }
    const names: string[] = []
    const values: string[] = []
    if (authority !== undefined) {
      if (!isValidHeaderValue(authority)) throw h2Error('invalid :authority pseudo-header')
      names.push('host')
      values.push(authority)
    }
    if (rawHeaders !== undefined) {
      // One pass over the wire list: pseudo-headers checked, regular fields collected.
      for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
        const name = rawHeaders[i] as string
        if (name.charCodeAt(0) === 0x3a) {
          if (!KNOWN_REQUEST_PSEUDO.has(name)) throw h2Error(`unknown pseudo-header ${quote(name)}`)
          continue
        }
        names.push(name)
        values.push(rawHeaders[i + 1] as string)
      }
    } else {
      for (const name of Object.keys(headers)) {
        if (name.charCodeAt(0) === 0x3a && !KNOWN_REQUEST_PSEUDO.has(name)) {
          throw h2Error(`unknown pseudo-header ${quote(name)}`)
        }
      }
      collectH2Fields(headers, undefined, names, values)
    }
    let write = 0
    let cookieAt = -1
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
      const lower = name.toLowerCase()
      // `:authority` wins over a `host` field (RFC 9113 §8.3.1).
      if (authority !== undefined && i > 0 && lower === 'host') continue
      if (lower === 'cookie') {
        // Split cookie fields are joined with "; " for HTTP/1 (RFC 9113 §8.2.3).
        if (cookieAt !== -1) {
          values[cookieAt] = `${values[cookieAt]}; ${value}`
          continue
        }
        cookieAt = write
      }
      names[write] = name
      values[write] = value
      write++
    }
    names.length = write
    values.length = write
    return new RequestHeader(method, undefined, target, 'HTTP/2', HeaderMap.fromRaw(names, values))
  }

  /** The method, as given (`'GET'`, `'POST'`...). */
  get method(): string {
    return this.#method
  }

  /** The request target's exact bytes (non-UTF-8 bytes preserved). Do not mutate it. */
  get rawPath(): Buffer {
    let rawPath = this.#rawPath
    if (rawPath === undefined) {
      rawPath = Buffer.from(this.#uri as string, 'latin1')
      this.#rawPath = rawPath
    }
    return rawPath
  }

  /** The request target as a latin1 string: one char per byte of {@link RequestHeader.rawPath}. */
  get uri(): string {
    let uri = this.#uri
    if (uri === undefined) {
      uri = (this.#rawPath as Buffer).toString('latin1')
      this.#uri = uri
    }
    return uri
  }

  /**
   * The path: the target up to the first `?`. For an absolute-form target
   * (`http://host/a?b`) the scheme and authority are skipped (`/a`; `/` when empty).
   */
  get path(): string {
    const uri = this.uri
    const start = pathStart(uri)
    const query = uri.indexOf('?', start)
    const path = query === -1 ? uri.slice(start) : uri.slice(start, query)
    return path === '' && start > 0 ? '/' : path
  }

  /** The query: everything after the first `?` (`''` for a bare `?`), or `undefined` when none. */
  get query(): string | undefined {
    const uri = this.uri
    const query = uri.indexOf('?', pathStart(uri))
    return query === -1 ? undefined : uri.slice(query + 1)
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
   * Whether an HTTP/2 request is sent with END_STREAM on its HEADERS frame (no body follows).
   * @defaultValue `true`
   */
  get sendEndStream(): boolean {
    return this.#sendEndStream
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

  /**
   * Sets the method.
   * @param method - an RFC 9110 token
   * @throws PingoraError `InvalidHTTPHeader` when it is not a token
   */
  setMethod(method: string): void {
    checkMethod(method)
    this.#method = method
  }

  /**
   * Sets the request target.
   * @param uri - a latin1 string or raw bytes; no SP, CR, LF, NUL or other CTL
   * @throws PingoraError `InvalidHTTPHeader` when the target is not allowed
   */
  setUri(uri: string | Uint8Array): void {
    if (typeof uri === 'string') {
      checkTarget(uri)
      this.#rawPath = undefined
      this.#uri = uri
    } else {
      this.setRawPath(uri)
    }
  }

  /**
   * Sets the request target from raw bytes (copied), which need not be UTF-8.
   * @param bytes - no SP, CR, LF, NUL or other CTL
   * @throws PingoraError `InvalidHTTPHeader` when the target is not allowed
   */
  setRawPath(bytes: Uint8Array): void {
    this.#rawPath = copyTarget(bytes)
    this.#uri = undefined
  }

  /**
   * Sets the HTTP version.
   * @param version - the version
   */
  setVersion(version: HttpVersion): void {
    this.#version = checkVersion(version)
  }

  /**
   * Sets whether an HTTP/2 request ends its stream with the HEADERS frame.
   * @param sendEndStream - `true` when no body follows
   */
  setSendEndStream(sendEndStream: boolean): void {
    this.#sendEndStream = sendEndStream
  }

  /**
   * The file extension of the path's last segment: what follows its last `.`
   * (`/a/b.tar.gz` gives `'gz'`), or `undefined` when that segment has no `.`.
   */
  uriFileExtension(): string | undefined {
    const path = this.path
    const dot = path.lastIndexOf('.')
    if (dot === -1 || path.indexOf('/', dot) !== -1) return undefined
    return path.slice(dot + 1)
  }

  /** What `console.log` and `util.inspect` show: method, target, version, fields. */
  [Symbol.for('nodejs.util.inspect.custom')](): object {
    return {
      method: this.#method,
      uri: this.uri,
      version: this.#version,
      headers: [...this.#headers],
      sendEndStream: this.#sendEndStream,
    }
  }

  /** An independent copy (fields, target and flags). */
  clone(): RequestHeader {
    // Strings are immutable, so sharing the latin1 target keeps the copy independent.
    const copy = new RequestHeader(
      this.#method,
      undefined,
      this.uri,
      this.#version,
      this.#headers.clone(),
    )
    copy.#sendEndStream = this.#sendEndStream
    return copy
  }

  /**
   * The request line and fields as HTTP/1 wire text (latin1): `METHOD SP target SP version
   * CRLF`, each field as `Name: value CRLF` in order with its original case, then CRLF.
   * Versions other than HTTP/1.0 are written as `HTTP/1.1`.
   */
  toH1String(): string {
    return `${this.#method} ${this.uri} ${h1VersionText(this.#version)}\r\n${this.#headers.toH1String()}\r\n`
  }

  /** The request header as HTTP/1 wire bytes (see {@link RequestHeader.toH1String}). */
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
   * The request as HTTP/2 header fields for `node:http2`: `:method`, `:path`, `:scheme`,
   * `:authority` first (for CONNECT only `:method` and `:authority`, RFC 9113 §8.5), then every
   * field with its name lower-cased, connection-specific fields dropped (RFC 9113 §8.2.2) and
   * `Host` dropped in favour of `:authority` (§8.3.1).
   * @param options - scheme and authority
   */
  toH2Headers(options?: RequestH2Options): H2Headers {
    const out = emptyH2Headers()
    const uri = this.uri
    const absolute = uri.charCodeAt(0) === SLASH ? null : ABSOLUTE_FORM.exec(uri)
    const host = this.#headers.get('host')
    out[':method'] = this.#method
    let authority = options?.authority
    if (this.#method === 'CONNECT') {
      authority ??= host ?? uri
      out[':authority'] = authority
    } else {
      let path = uri
      let scheme = options?.scheme
      if (absolute !== null) {
        path = uri.slice(absolute[0].length)
        if (path === '' || path.charCodeAt(0) === QUESTION) path = `/${path}`
        scheme ??= absolute[1]
        authority ??= absolute[2]
      }
      authority ??= host
      out[':path'] = path
      out[':scheme'] = scheme ?? 'https'
      if (authority !== undefined) out[':authority'] = authority
    }
    copyH2Fields(this.#headers, out, authority !== undefined)
    return out
  }
}

const KNOWN_REQUEST_PSEUDO = new Set([':method', ':path', ':scheme', ':authority', ':protocol'])

/** Where the path starts: 0 for origin-form, past `scheme://authority` for absolute-form. */
function pathStart(uri: string): number {
  if (uri.charCodeAt(0) === SLASH) return 0
  const absolute = ABSOLUTE_FORM.exec(uri)
  return absolute === null ? 0 : absolute[0].length
}

function checkMethod(method: string): void {
  if (typeof method !== 'string' || !isToken(method)) {
    throw invalidHeader(
      typeof method === 'string'
        ? `invalid method ${quote(method)}: ${badChar(method, TOKEN_CHARS)}`
        : `invalid method: a ${typeof method}, not a string`,
    )
  }
}

function checkTarget(target: string): void {
  if (typeof target !== 'string' || !isValidRequestTarget(target)) {
    throw invalidHeader(
      typeof target === 'string'
        ? `invalid request target ${quote(target)}: ${badChar(target, REQUEST_TARGET_CHARS)}`
        : `invalid request target: a ${typeof target}`,
    )
  }
}

function copyTarget(bytes: Uint8Array): Buffer {
  if (!(bytes instanceof Uint8Array) || !isValidRequestTargetBytes(bytes)) {
    const text =
      bytes instanceof Uint8Array
        ? Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1')
        : ''
    throw invalidHeader(
      `invalid request target ${quote(text)}: ${badChar(text, REQUEST_TARGET_CHARS)}`,
    )
  }
  return Buffer.from(bytes)
}

function h2Error(context: string): PingoraError {
  return PingoraError.downstream(ErrorType.InvalidHTTPHeader, context)
}
