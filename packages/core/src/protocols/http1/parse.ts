import {
  FIELD_VALUE_CHARS,
  type HttpVersion,
  REQUEST_TARGET_CHARS,
  TOKEN_CHARS,
} from '@pingora-ts/http'

// Local bindings: module-namespace lookups (as some bundlers and test runners emit) must not
// sit inside the per-byte loops.
const TOKEN_TABLE: Uint8Array = TOKEN_CHARS
const FIELD_VALUE_TABLE: Uint8Array = FIELD_VALUE_CHARS
const REQUEST_TARGET_TABLE: Uint8Array = REQUEST_TARGET_CHARS

/**
 * Byte-level HTTP/1 head parsing (request line / status line and header fields), strict per
 * RFC 9112. Works on a Buffer holding the complete head; callers find the end of the head first
 * with {@link findHeadEnd}. Replaces `httparse` in Pingora's `protocols/http/v1/*`.
 *
 * Failures are reported as a small result code (no exceptions on the hot path): `0` for
 * success, else the HTTP status a server should answer with (400, 414, 431, 505).
 */

const CR = 0x0d
const LF = 0x0a
const SP = 0x20
const HTAB = 0x09
const COLON = 0x3a

/**
 * Default limit for the request line, in bytes; a longer one is answered 414. nginx's
 * `large_client_header_buffers` line size (8 KiB): longer URIs are not served by common
 * origins and CDNs either (see docs/limits.md).
 */
export const DEFAULT_MAX_REQUEST_LINE_BYTES = 8 * 1024
/**
 * Default limit for a request head (request line and header section), in bytes; a larger one is
 * answered 431. nginx's total (4 buffers of 8 KiB), between Node's 16 KiB and Envoy's 60 KiB: room
 * for large cookies and tokens, while one connection cannot pin much memory before the proxy
 * has decided anything (see docs/limits.md).
 */
export const DEFAULT_MAX_HEADER_BYTES = 32 * 1024
/**
 * Default limit for a response head from an upstream, in bytes. Origins are trusted more than
 * clients, and some send large `Set-Cookie` or CSP fields; still bounded.
 */
export const DEFAULT_MAX_RESPONSE_HEADER_BYTES = 1024 * 1024
/** Default limit for the number of header fields. */
export const DEFAULT_MAX_HEADERS = 256

const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1')

/**
 * The offset just past the `CRLF CRLF` that ends a head, or `-1` when not yet present.
 * @param buf - the bytes received so far
 * @param from - where to resume searching (bytes before it were already searched)
 */
export function findHeadEnd(buf: Buffer, from: number): number {
  const i = buf.indexOf(CRLFCRLF, from > 3 ? from - 3 : 0)
  return i === -1 ? -1 : i + 4
}

/**
 * Checks the bytes of an incomplete head for a bare LF (a line ending other than CRLF), which
 * RFC 9112 §2.2 lets a server reject; rejecting it early also stops waiting for a `CRLF CRLF`
 * that a LF-only client never sends.
 * @param buf - the bytes received so far
 * @param from - the first byte not yet checked
 * @returns whether a bare LF was found
 */
export function hasBareLf(buf: Buffer, from: number): boolean {
  let i = buf.indexOf(LF, from)
  while (i !== -1) {
    if (i === 0 || buf[i - 1] !== CR) return true
    i = buf.indexOf(LF, i + 1)
  }
  return false
}

/**
 * The number of leading empty lines (`CRLF`) before a request line, which RFC 9112 §2.2 lets a
 * server ignore. Returns the offset of the first byte that is not part of a leading CRLF.
 * @param buf - the bytes received so far
 */
export function skipLeadingCrlf(buf: Buffer): number {
  let i = 0
  while (i + 1 < buf.length && buf[i] === CR && buf[i + 1] === LF) i += 2
  return i
}

/** Limits applied while parsing a head. */
export interface HeadLimits {
  /** Longest request line (or status line) in bytes. */
  readonly maxRequestLineBytes: number
  /** Largest head in bytes. */
  readonly maxHeaderBytes: number
  /** Most header fields. */
  readonly maxHeaders: number
}

/** The parsed parts of a request head, reused across parses. */
export class ParsedRequestHead {
  /** The method. */
  method = ''
  /** The request target bytes (a view into the head buffer). */
  target: Buffer = EMPTY
  /** The version. */
  version: HttpVersion = 'HTTP/1.1'
  /** Header names as received. */
  names: string[] = []
  /** Header values, trimmed of surrounding whitespace. */
  values: string[] = []
  /** The reason for a failure, for logs. */
  error = ''
}

/** The parsed parts of a response head. */
export class ParsedResponseHead {
  /** The status code. */
  status = 0
  /** The reason phrase as received. */
  reason = ''
  /** The version. */
  version: HttpVersion = 'HTTP/1.1'
  /** Header names as received. */
  names: string[] = []
  /** Header values, trimmed. */
  values: string[] = []
  /** The reason for a failure, for logs. */
  error = ''
}

const EMPTY = Buffer.alloc(0)

function isDigit(byte: number | undefined): boolean {
  return byte !== undefined && byte >= 0x30 && byte <= 0x39
}

/**
 * Parses `HTTP/d.d` at `at`. Returns the version, or a status for a failure: 505 for a
 * well-formed version with a major other than 1, 400 for anything else.
 */
function parseVersion(buf: Buffer, at: number): HttpVersion | number {
  if (
    buf[at] !== 0x48 ||
    buf[at + 1] !== 0x54 ||
    buf[at + 2] !== 0x54 ||
    buf[at + 3] !== 0x50 ||
    buf[at + 4] !== 0x2f ||
    !isDigit(buf[at + 5]) ||
    buf[at + 6] !== 0x2e ||
    !isDigit(buf[at + 7])
  ) {
    return 400
  }
  if (buf[at + 5] !== 0x31) return 505
  // RFC 9110 §6.2: a higher minor version is processed as the highest one we support.
  return buf[at + 7] === 0x30 ? 'HTTP/1.0' : 'HTTP/1.1'
}

/**
 * Parses a request head `buf[start, end)` (end just past the final CRLF CRLF).
 * @returns `0` on success, else the status to answer with (`out.error` says why)
 */
export function parseRequestHead(
  buf: Buffer,
  start: number,
  end: number,
  limits: HeadLimits,
  out: ParsedRequestHead,
): number {
  // Decode the head once; names and values are then cheap slices of this string (latin1 maps
  // byte offset n to char n), instead of one native decode call per field.
  const text = buf.toString('latin1', 0, end)
  // Request line: method SP request-target SP HTTP-version CRLF (RFC 9112 §3).
  let i = start
  while (TOKEN_TABLE[buf[i] as number] === 1) i++
  if (i === start || buf[i] !== SP) {
    out.error = 'invalid method'
    return 400
  }
  const method = text.slice(start, i)
  const targetStart = ++i
  while (REQUEST_TARGET_TABLE[buf[i] as number] === 1) i++
  const targetEnd = i
  if (targetEnd === targetStart || buf[i] !== SP) {
    out.error = buf[i] === SP ? 'empty request target' : 'invalid byte in request target'
    return targetEnd - start > limits.maxRequestLineBytes ? 414 : 400
  }
  if (targetEnd - start > limits.maxRequestLineBytes) {
    out.error = 'request line too long'
    return 414
  }
  i++
  const version = parseVersion(buf, i)
  if (typeof version === 'number') {
    out.error = 'invalid HTTP version'
    return version
  }
  i += 8
  if (buf[i] !== CR || buf[i + 1] !== LF) {
    out.error = 'invalid request line ending'
    return 400
  }
  if (i - start > limits.maxRequestLineBytes) {
    out.error = 'request line too long'
    return 414
  }
  i += 2
  out.method = method
  out.target = buf.subarray(targetStart, targetEnd)
  out.version = version
  return parseFields(buf, text, i, end - 2, limits.maxHeaders, out)
}

/**
 * Parses a response head `buf[start, end)`.
 * @returns `0` on success, else a non-zero code (`out.error` says why)
 */
export function parseResponseHead(
  buf: Buffer,
  start: number,
  end: number,
  limits: HeadLimits,
  out: ParsedResponseHead,
): number {
  const text = buf.toString('latin1', 0, end)
  // Status line: HTTP-version SP status-code SP [ reason-phrase ] CRLF (RFC 9112 §4).
  const version = parseVersion(buf, start)
  if (typeof version === 'number') {
    out.error = 'invalid HTTP version'
    return 400
  }
  let i = start + 8
  if (
    buf[i] !== SP ||
    !isDigit(buf[i + 1]) ||
    !isDigit(buf[i + 2]) ||
    !isDigit(buf[i + 3]) ||
    buf[i + 1] === 0x30
  ) {
    out.error = 'invalid status code'
    return 400
  }
  const status =
    ((buf[i + 1] as number) - 0x30) * 100 +
    ((buf[i + 2] as number) - 0x30) * 10 +
    ((buf[i + 3] as number) - 0x30)
  i += 4
  let reason = ''
  if (buf[i] === SP) {
    const reasonStart = ++i
    while (FIELD_VALUE_TABLE[buf[i] as number] === 1) i++
    reason = text.slice(reasonStart, i)
  }
  if (buf[i] !== CR || buf[i + 1] !== LF) {
    out.error = 'invalid status line'
    return 400
  }
  if (i - start > limits.maxRequestLineBytes) {
    out.error = 'status line too long'
    return 400
  }
  out.status = status
  out.reason = reason
  out.version = version
  return parseFields(buf, text, i + 2, end - 2, limits.maxHeaders, out)
}

/**
 * Parses header field lines in `buf[i, end)`, where `end` is the offset of the CRLF that ends the
 * header section (each line ends with CRLF). `text` is `buf` decoded as latin1 (same offsets).
 */
function parseFields(
  buf: Buffer,
  text: string,
  i: number,
  end: number,
  maxHeaders: number,
  out: { names: string[]; values: string[]; error: string },
): number {
  const names: string[] = []
  const values: string[] = []
  while (i < end) {
    // field-line = field-name ":" OWS field-value OWS (RFC 9112 §5)
    const nameStart = i
    while (TOKEN_TABLE[buf[i] as number] === 1) i++
    if (buf[i] !== COLON || i === nameStart) {
      // Covers obs-fold (a line starting with SP/HTAB), whitespace before the colon, bare CR/LF,
      // NUL and any other non-token byte in a name.
      out.error = i === nameStart ? 'invalid header line' : 'invalid header name'
      return 400
    }
    const nameEnd = i
    i++
    while (buf[i] === SP || buf[i] === HTAB) i++
    const valueStart = i
    while (FIELD_VALUE_TABLE[buf[i] as number] === 1) i++
    if (buf[i] !== CR || buf[i + 1] !== LF) {
      out.error = 'invalid header value'
      return 400
    }
    let valueEnd = i
    while (valueEnd > valueStart && (buf[valueEnd - 1] === SP || buf[valueEnd - 1] === HTAB)) {
      valueEnd--
    }
    if (names.length === maxHeaders) {
      out.error = 'too many headers'
      return 431
    }
    names.push(text.slice(nameStart, nameEnd))
    values.push(valueEnd === valueStart ? '' : text.slice(valueStart, valueEnd))
    i += 2
  }
  if (i !== end) {
    out.error = 'invalid header section'
    return 400
  }
  out.names = names
  out.values = values
  return 0
}

/**
 * Parses a `Content-Length` value strictly: one or more digits, no sign, no whitespace inside;
 * a comma-separated list is accepted only when every member is the same (RFC 9112 §6.3).
 * @param value - the field value (already trimmed)
 * @returns the length, or `-1` when invalid (including larger than `Number.MAX_SAFE_INTEGER`)
 */
export function parseContentLength(value: string): number {
  const length = value.length
  if (length === 0) return -1
  let result = -1
  let current = 0
  let digits = 0
  for (let i = 0; i <= length; i++) {
    const code = i === length ? 0x2c : value.charCodeAt(i)
    if (code >= 0x30 && code <= 0x39) {
      if (++digits > 16) return -1
      current = current * 10 + (code - 0x30)
      continue
    }
    if (code === 0x2c) {
      if (digits === 0 || current > Number.MAX_SAFE_INTEGER) return -1
      if (result !== -1 && result !== current) return -1
      result = current
      current = 0
      digits = 0
      // OWS after a comma in a list.
      while (i + 1 < length && (value.charCodeAt(i + 1) === SP || value.charCodeAt(i + 1) === HTAB))
        i++
      continue
    }
    if ((code === SP || code === HTAB) && digits > 0) {
      // OWS before a comma.
      let j = i
      while (j < length && (value.charCodeAt(j) === SP || value.charCodeAt(j) === HTAB)) j++
      if (j < length && value.charCodeAt(j) !== 0x2c) return -1
      i = j - 1
      continue
    }
    return -1
  }
  return result
}

/**
 * Whether `value` (a comma-separated list) contains `token`, case-insensitively.
 * @param value - the field value
 * @param token - the lower-case token to look for
 */
export function hasToken(value: string, token: string): boolean {
  const length = value.length
  let i = 0
  while (i < length) {
    while (
      i < length &&
      (value.charCodeAt(i) === SP || value.charCodeAt(i) === HTAB || value.charCodeAt(i) === 0x2c)
    )
      i++
    let j = i
    while (j < length && value.charCodeAt(j) !== 0x2c) j++
    let k = j
    while (k > i && (value.charCodeAt(k - 1) === SP || value.charCodeAt(k - 1) === HTAB)) k--
    if (k - i === token.length && equalsLower(value, i, token)) return true
    i = j + 1
  }
  return false
}

/**
 * The last comma-separated member of `value`, trimmed (may be empty).
 * @param value - the field value
 */
export function lastToken(value: string): string {
  const comma = value.lastIndexOf(',')
  return (comma === -1 ? value : value.slice(comma + 1)).trim()
}

/** Whether `s.slice(at, at + lower.length)` equals `lower` ignoring ASCII case. */
export function equalsLower(s: string, at: number, lower: string): boolean {
  for (let i = 0; i < lower.length; i++) {
    let code = s.charCodeAt(at + i)
    if (code >= 0x41 && code <= 0x5a) code |= 0x20
    if (code !== lower.charCodeAt(i)) return false
  }
  return true
}

/**
 * Whether header name `name` equals the lower-case `lower`, ignoring ASCII case.
 * @param name - the name as received
 * @param lower - the lower-case name
 */
export function nameIs(name: string, lower: string): boolean {
  return name.length === lower.length && equalsLower(name, 0, lower)
}
