import type { HeaderMap } from '@pingora-ts/http'

/**
 * The largest delta-seconds value kept; larger values are clamped to it, as RFC 9111 section
 * 1.2.2 asks (2^31).
 */
export const DELTA_SECONDS_MAX = 2_147_483_648

/** Cap on the directives kept from one message, so a hostile header cannot grow the map. */
const MAX_DIRECTIVES = 64

/**
 * A delta-seconds argument: a number of seconds, `'invalid'` when the argument is missing,
 * malformed or the directive repeats with different values (RFC 9111 section 4.2.1: treat such
 * a response as stale), or `undefined` when the directive is absent.
 */
export type DeltaSeconds = number | 'invalid' | undefined

/** Whether {@link CacheControl.isCacheable} lets a response be stored. */
export type Cacheable = 'yes' | 'no' | 'default'

/**
 * The directives of the `Cache-Control` fields of a request or a response (RFC 9111 section
 * 5.2), parsed once. Port of `pingora-cache/src/cache_control.rs`.
 *
 * Parsing is lenient where the RFC lets recipients be (directive names are case-insensitive,
 * arguments may be quoted: `max-age="60"`), strict where it matters: a delta-seconds that is
 * not all digits, or a directive repeated with different values, makes the argument
 * `'invalid'` and the response stale; values past 2^31 are clamped. `private` and `no-cache`
 * keep their optional field-name lists (`private="set-cookie"`).
 */
export class CacheControl {
  // Lowercased directive name -> every argument it was given, in order (undefined: no argument).
  readonly #directives: Map<string, (string | undefined)[]>

  private constructor(directives: Map<string, (string | undefined)[]>) {
    this.#directives = directives
  }

  /**
   * Parses the `Cache-Control` fields of a header map, or returns `undefined` when there is
   * none.
   * @param headers - request or response header fields
   */
  static fromHeaders(headers: HeaderMap): CacheControl | undefined {
    const values = headers.getAll('cache-control')
    if (values.length === 0) return undefined
    return CacheControl.parse(values)
  }

  /**
   * Parses field values (one per `Cache-Control` line).
   * @param values - the field values
   */
  static parse(values: readonly string[]): CacheControl {
    const directives = new Map<string, (string | undefined)[]>()
    let count = 0
    for (const value of values) {
      let i = 0
      const n = value.length
      while (i < n && count < MAX_DIRECTIVES) {
        // Skip separators and whitespace.
        while (i < n && isSeparatorOrSpace(value.charCodeAt(i))) i++
        const nameStart = i
        while (i < n && isTokenChar(value.charCodeAt(i))) i++
        const name = value.slice(nameStart, i).toLowerCase()
        while (i < n && isSpace(value.charCodeAt(i))) i++
        let argument: string | undefined
        let malformed = name.length === 0
        if (i < n && value.charCodeAt(i) === 0x3d /* = */) {
          i++
          while (i < n && isSpace(value.charCodeAt(i))) i++
          if (i < n && value.charCodeAt(i) === 0x22 /* " */) {
            i++
            let text = ''
            let closed = false
            while (i < n) {
              const c = value.charCodeAt(i)
              if (c === 0x5c /* \ */ && i + 1 < n) {
                text += value[i + 1]
                i += 2
              } else if (c === 0x22) {
                closed = true
                i++
                break
              } else {
                text += value[i]
                i++
              }
            }
            argument = text
            if (!closed) malformed = true
          } else {
            const start = i
            while (i < n && isTokenChar(value.charCodeAt(i))) i++
            argument = value.slice(start, i)
          }
          while (i < n && isSpace(value.charCodeAt(i))) i++
        }
        // Anything else before the next comma makes this directive malformed; skip to the comma.
        if (i < n && value.charCodeAt(i) !== 0x2c) {
          malformed = true
          while (i < n && value.charCodeAt(i) !== 0x2c) {
            if (value.charCodeAt(i) === 0x22) {
              i++
              while (i < n && value.charCodeAt(i) !== 0x22) i++
            }
            i++
          }
        }
        if (name.length > 0) {
          const list = directives.get(name)
          // A malformed argument is kept as an empty one, which no delta-seconds parse accepts.
          const kept = malformed ? '' : argument
          if (list === undefined) {
            directives.set(name, [kept])
            count++
          } else if (list.length < 8) list.push(kept)
        }
      }
    }
    return new CacheControl(directives)
  }

  /**
   * Whether the directive is present (with or without an argument).
   * @param name - the directive name, lowercase
   */
  has(name: string): boolean {
    return this.#directives.has(name)
  }

  /**
   * The first argument of a directive, `undefined` when absent or given without one.
   * @param name - the directive name, lowercase
   */
  argument(name: string): string | undefined {
    return this.#directives.get(name)?.[0]
  }

  /** The directive names present, lowercase, in first-seen order. */
  names(): string[] {
    return [...this.#directives.keys()]
  }

  /** `public`. */
  get public(): boolean {
    return this.has('public')
  }

  /** `private` without a field-name list: no shared cache may store the response. */
  get private(): boolean {
    return this.#unqualified('private')
  }

  /** The field names of a qualified `private="..."`, lowercase; `undefined` when unqualified or absent. */
  get privateFieldNames(): string[] | undefined {
    return this.#fieldNames('private')
  }

  /** `no-cache` without a field-name list: stored responses must be revalidated before each use. */
  get noCache(): boolean {
    return this.#unqualified('no-cache')
  }

  /** The field names of a qualified `no-cache="..."`, lowercase. */
  get noCacheFieldNames(): string[] | undefined {
    return this.#fieldNames('no-cache')
  }

  /** `no-store`. */
  get noStore(): boolean {
    return this.has('no-store')
  }

  /** `must-revalidate`: a stale response must not be served without revalidation. */
  get mustRevalidate(): boolean {
    return this.has('must-revalidate')
  }

  /** `proxy-revalidate`: `must-revalidate` for shared caches. */
  get proxyRevalidate(): boolean {
    return this.has('proxy-revalidate')
  }

  /** `only-if-cached` (request). */
  get onlyIfCached(): boolean {
    return this.has('only-if-cached')
  }

  /** `max-age` as delta-seconds. */
  get maxAge(): DeltaSeconds {
    return this.#delta('max-age')
  }

  /** `s-maxage` as delta-seconds (shared caches only). */
  get sMaxAge(): DeltaSeconds {
    return this.#delta('s-maxage')
  }

  /** `min-fresh` (request). */
  get minFresh(): DeltaSeconds {
    return this.#delta('min-fresh')
  }

  /**
   * `max-stale` (request): seconds of staleness the client accepts, `Infinity` when given
   * without an argument.
   */
  get maxStale(): DeltaSeconds {
    if (!this.has('max-stale')) return undefined
    if (this.argument('max-stale') === undefined) return Number.POSITIVE_INFINITY
    return this.#delta('max-stale')
  }

  /** `stale-while-revalidate` (RFC 5861). */
  get staleWhileRevalidate(): DeltaSeconds {
    return this.#delta('stale-while-revalidate')
  }

  /** `stale-if-error` (RFC 5861). */
  get staleIfError(): DeltaSeconds {
    return this.#delta('stale-if-error')
  }

  /**
   * The freshness lifetime a shared cache takes from these directives: `s-maxage`, else
   * `max-age`; `0` when the one that applies is invalid; `undefined` when neither is present.
   */
  freshSeconds(): number | undefined {
    const shared = this.sMaxAge
    if (shared !== undefined) return shared === 'invalid' ? 0 : shared
    const own = this.maxAge
    if (own !== undefined) return own === 'invalid' ? 0 : own
    return undefined
  }

  /**
   * Whether the response may be stored by a shared cache: `'no'` for `no-store` or an
   * unqualified `private`; `'yes'` when `public`, `s-maxage` or `max-age` explicitly allows
   * it; `'default'` otherwise (other rules decide).
   */
  isCacheable(): Cacheable {
    if (this.noStore || this.private) return 'no'
    if (this.public || this.has('s-maxage') || this.has('max-age')) return 'yes'
    return 'default'
  }

  /**
   * Whether a response to a request with `Authorization` may be stored by a shared cache
   * (RFC 9111 section 3.5): only with `public`, `s-maxage` or `must-revalidate`.
   */
  allowCachingAuthorizedRequest(): boolean {
    return this.public || this.has('s-maxage') || this.mustRevalidate
  }

  /**
   * The field names a shared cache must not store or serve unvalidated: those of qualified
   * `private` and `no-cache`, lowercase.
   */
  strippedFieldNames(): string[] {
    const names: string[] = []
    const privateNames = this.privateFieldNames
    if (privateNames !== undefined) names.push(...privateNames)
    const noCacheNames = this.noCacheFieldNames
    if (noCacheNames !== undefined) names.push(...noCacheNames)
    return names
  }

  #unqualified(name: string): boolean {
    const list = this.#directives.get(name)
    if (list === undefined) return false
    for (const argument of list) if (argument === undefined || argument.trim() === '') return true
    return false
  }

  #fieldNames(name: string): string[] | undefined {
    if (this.#unqualified(name)) return undefined
    const list = this.#directives.get(name)
    if (list === undefined) return undefined
    const names: string[] = []
    for (const argument of list) {
      if (argument === undefined) continue
      for (const part of argument.split(',')) {
        const field = part.trim().toLowerCase()
        if (field.length > 0 && !names.includes(field)) names.push(field)
      }
    }
    return names
  }

  #delta(name: string): DeltaSeconds {
    const list = this.#directives.get(name)
    if (list === undefined) return undefined
    let result: number | undefined
    for (const argument of list) {
      const seconds = parseDeltaSeconds(argument)
      if (seconds === undefined) return 'invalid'
      if (result !== undefined && result !== seconds) return 'invalid'
      result = seconds
    }
    return result
  }
}

/**
 * Parses a delta-seconds value (RFC 9111 section 1.2.2): digits only, clamped to
 * {@link DELTA_SECONDS_MAX}; `undefined` when malformed.
 * @param text - the argument
 */
export function parseDeltaSeconds(text: string | undefined): number | undefined {
  if (text === undefined || text.length === 0) return undefined
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c < 0x30 || c > 0x39) return undefined
  }
  if (text.length > 10) return DELTA_SECONDS_MAX
  return Math.min(Number(text), DELTA_SECONDS_MAX)
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09
}

function isSeparatorOrSpace(c: number): boolean {
  return c === 0x2c || c === 0x20 || c === 0x09
}

// RFC 9110 tchar.
function isTokenChar(c: number): boolean {
  if (c >= 0x30 && c <= 0x39) return true
  if ((c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)) return true
  return "!#$%&'*+-.^_`|~".includes(String.fromCharCode(c))
}
