import { Buffer } from 'node:buffer'
import { FIELD_VALUE_CHARS, isToken, isValidHeaderValue, TOKEN_CHARS } from './chars.ts'
import { badChar, invalidHeader, quote } from './errors.ts'

/**
 * What {@link HeaderMap.insert} and {@link HeaderMap.append} accept as a value: a latin1 byte
 * string, a number (converted with `String()`), or raw bytes (decoded as latin1).
 */
export type HeaderValueInput = string | number | Uint8Array

/**
 * An ordered, case-preserving, multi-valued list of HTTP header fields with case-insensitive
 * lookup. Port of the header half of `pingora-http/src/lib.rs` (its `CaseMap` beside `HMap`).
 *
 * Names and values are JS strings holding bytes as latin1 (`'binary'`): char code `n` is byte
 * `n`, so every byte, obs-text 0x80-0xFF included, round-trips with `Buffer.from(s, 'latin1')`
 * and `buf.toString('latin1')`. To put UTF-8 text in a value, convert it first:
 * `Buffer.from(text, 'utf8').toString('latin1')`, or pass the bytes.
 *
 * Storage is two parallel arrays, scanned linearly (a request has about 15 headers, where a
 * scan beats hashing):
 *
 * ```
 * index   0        1               2          3
 * names   'Host'   'Content-Type'  'X-Id'     'x-id'      as given, written to the wire
 * values  'a.com'  'text/html'     '1'        '2'
 * ```
 *
 * Lookups compare names ASCII-case-insensitively in place, length first, so no lower-cased
 * copy of the names is ever made: keeping one (eagerly or lazily) cost more per request than
 * it saved in every variant measured (see the package README). Writes through
 * {@link HeaderMap.insert} and {@link HeaderMap.append} are validated and throw `PingoraError`
 * `InvalidHTTPHeader` (source `internal`); {@link HeaderMap.fromRaw} trusts its caller.
 *
 * @example
 * ```ts
 * const headers = new HeaderMap()
 * headers.append('Set-Cookie', 'a=1')
 * headers.append('set-cookie', 'b=2')
 * headers.getAll('SET-COOKIE') // ['a=1', 'b=2']
 * ```
 */
export class HeaderMap implements Iterable<[string, string]> {
  #names: string[]
  #values: string[]

  /**
   * Creates a map, empty or with the given `[name, value]` pairs appended in order (validated).
   * @param init - pairs to append
   */
  constructor(init?: Iterable<readonly [string, HeaderValueInput]>) {
    this.#names = []
    this.#values = []
    if (init !== undefined) {
      for (const [name, value] of init) this.append(name, value)
    }
  }

  /**
   * Creates a map over already-validated parallel arrays of names and values, without copying
   * or checking them: the map takes ownership, so the caller must not touch them afterwards.
   * For parsers that validated every byte while scanning.
   * @param names - header names as received (latin1), case preserved
   * @param values - the values, same length as `names`
   */
  static fromRaw(names: string[], values: string[]): HeaderMap {
    if (names.length !== values.length) {
      throw new TypeError(
        `HeaderMap.fromRaw: names and values differ in length (${names.length} and ${values.length})`,
      )
    }
    const map = new HeaderMap()
    map.#names = names
    map.#values = values
    return map
  }

  /** The number of fields (each repeated name counts once per value). */
  get size(): number {
    return this.#names.length
  }

  /**
   * The first value of `name` (case-insensitive), or `undefined` when absent.
   * @param name - the header name
   */
  get(name: string): string | undefined {
    const i = this.indexOf(name)
    return i === -1 ? undefined : this.#values[i]
  }

  /**
   * Every value of `name` (case-insensitive) in order; an empty array when absent.
   * @param name - the header name
   */
  getAll(name: string): string[] {
    const names = this.#names
    const out: string[] = []
    for (let i = 0; i < names.length; i++) {
      if (sameName(names[i] as string, name)) out.push(this.#values[i] as string)
    }
    return out
  }

  /**
   * Whether `name` (case-insensitive) is present.
   * @param name - the header name
   */
  has(name: string): boolean {
    return this.indexOf(name) !== -1
  }

  /**
   * The index of the first field named `name` (case-insensitive), or `-1`.
   * @param name - the header name
   */
  indexOf(name: string): number {
    const names = this.#names
    for (let i = 0; i < names.length; i++) {
      if (sameName(names[i] as string, name)) return i
    }
    return -1
  }

  /**
   * Sets `name` to the single value `value`: the first field of that name is overwritten in
   * place (taking the new name's case), later ones are removed; appended when absent.
   * @param name - the header name, an RFC 9110 token
   * @param value - the value: no CR, LF, NUL or other CTL except HTAB
   * @throws PingoraError `InvalidHTTPHeader` when the name or value is not allowed
   */
  insert(name: string, value: HeaderValueInput): void {
    checkName(name)
    const text = toValue(name, value)
    const names = this.#names
    const values = this.#values
    const length = names.length
    let found = false
    let write = 0
    for (let read = 0; read < length; read++) {
      if (sameName(names[read] as string, name)) {
        if (found) continue
        found = true
        names[write] = name
        values[write] = text
      } else if (write !== read) {
        names[write] = names[read] as string
        values[write] = values[read] as string
      }
      write++
    }
    if (!found) {
      names.push(name)
      values.push(text)
    } else if (write !== length) {
      names.length = write
      values.length = write
    }
  }

  /**
   * Adds a field at the end, after any others of the same name.
   * @param name - the header name, an RFC 9110 token
   * @param value - the value: no CR, LF, NUL or other CTL except HTAB
   * @throws PingoraError `InvalidHTTPHeader` when the name or value is not allowed
   */
  append(name: string, value: HeaderValueInput): void {
    checkName(name)
    const text = toValue(name, value)
    this.#names.push(name)
    this.#values.push(text)
  }

  /**
   * Removes every field named `name` (case-insensitive).
   * @param name - the header name
   * @returns the removed values in order, or `undefined` when there were none
   */
  remove(name: string): string[] | undefined {
    const names = this.#names
    const values = this.#values
    const length = names.length
    let removed: string[] | undefined
    let write = 0
    for (let read = 0; read < length; read++) {
      if (sameName(names[read] as string, name)) {
        if (removed === undefined) removed = []
        removed.push(values[read] as string)
        continue
      }
      if (write !== read) {
        names[write] = names[read] as string
        values[write] = values[read] as string
      }
      write++
    }
    if (write !== length) {
      names.length = write
      values.length = write
    }
    return removed
  }

  /** Removes every field. */
  clear(): void {
    this.#names.length = 0
    this.#values.length = 0
  }

  /** An independent copy: changing one map does not change the other. */
  clone(): HeaderMap {
    const copy = new HeaderMap()
    copy.#names = this.#names.slice()
    copy.#values = this.#values.slice()
    return copy
  }

  /**
   * The name of field `i` as given (case preserved). `i` must be in `[0, size)`.
   * @param i - the field index
   */
  nameAt(i: number): string {
    return this.#names[i] as string
  }

  /**
   * The lower-cased name of field `i` (a new string when the name has capitals). `i` must be
   * in `[0, size)`.
   * @param i - the field index
   */
  lowerNameAt(i: number): string {
    return (this.#names[i] as string).toLowerCase()
  }

  /**
   * The value of field `i`. `i` must be in `[0, size)`.
   * @param i - the field index
   */
  valueAt(i: number): string {
    return this.#values[i] as string
  }

  /**
   * Whether the name of field `i` equals `name`, ignoring ASCII case, without allocating.
   * `i` must be in `[0, size)`.
   * @param i - the field index
   * @param name - the name to compare with
   */
  nameEquals(i: number, name: string): boolean {
    return sameName(this.#names[i] as string, name)
  }

  /** Yields `[name, value]` for every field in order, names with their original case. */
  *entries(): IterableIterator<[string, string]> {
    const names = this.#names
    const values = this.#values
    for (let i = 0; i < names.length; i++) yield [names[i] as string, values[i] as string]
  }

  /** Same as {@link HeaderMap.entries}. */
  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.entries()
  }

  /**
   * Calls `callback` for every field in order.
   * @param callback - receives the value, the name with its original case, and this map
   */
  forEach(callback: (value: string, name: string, map: HeaderMap) => void): void {
    const names = this.#names
    const values = this.#values
    for (let i = 0; i < names.length; i++) {
      callback(values[i] as string, names[i] as string, this)
    }
  }

  /** What `console.log` and `util.inspect` show: the `[name, value]` pairs in order. */
  [Symbol.for('nodejs.util.inspect.custom')](): { fields: [string, string][] } {
    return { fields: [...this.entries()] }
  }

  /**
   * The fields as HTTP/1 wire text: `Name: value\r\n` for each, in order, with the original
   * case, and no final empty line. A latin1 byte string.
   */
  toH1String(): string {
    const names = this.#names
    const values = this.#values
    let out = ''
    for (let i = 0; i < names.length; i++) out += `${names[i]}: ${values[i]}\r\n`
    return out
  }
}

/**
 * Whether two header names are equal ignoring ASCII case (RFC 9110 §5.1): only A-Z fold,
 * so `^` and `~` (which differ by the case bit) stay distinct.
 */
function sameName(a: string, b: string): boolean {
  const length = a.length
  if (b.length !== length) return false
  for (let i = 0; i < length; i++) {
    let x = a.charCodeAt(i)
    let y = b.charCodeAt(i)
    if (x === y) continue
    if (x >= 0x41 && x <= 0x5a) x |= 0x20
    if (y >= 0x41 && y <= 0x5a) y |= 0x20
    if (x !== y) return false
  }
  return true
}

// Names that passed validation, so code appending the same (usually literal) names skips the
// char scan: a Set lookup on a literal uses its cached hash and is ~4x faster than the scan
// for a typical request. Bounded in count and name length; cleared when full.
const VALID_NAMES = new Set<string>()
const VALID_NAMES_LIMIT = 512
const VALID_NAME_MAX_LENGTH = 64

function checkName(name: string): void {
  if (VALID_NAMES.has(name)) return
  if (typeof name !== 'string' || !isToken(name)) {
    throw invalidHeader(
      typeof name === 'string'
        ? `invalid header name ${quote(name)}: ${badChar(name, TOKEN_CHARS)}`
        : `invalid header name: a ${typeof name}, not a string`,
    )
  }
  if (name.length <= VALID_NAME_MAX_LENGTH) {
    if (VALID_NAMES.size >= VALID_NAMES_LIMIT) VALID_NAMES.clear()
    VALID_NAMES.add(name)
  }
}

function toValue(name: string, value: HeaderValueInput): string {
  let text: string
  if (typeof value === 'string') text = value
  else if (typeof value === 'number') text = String(value)
  else if (value instanceof Uint8Array) {
    text = Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('latin1')
  } else {
    throw invalidHeader(`invalid value for header ${quote(name)}: a ${typeof value}`)
  }
  if (!isValidHeaderValue(text)) {
    throw invalidHeader(
      `invalid value for header ${quote(name)}: ${badChar(text, FIELD_VALUE_CHARS)}`,
    )
  }
  return text
}
