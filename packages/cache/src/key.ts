import { createHash } from 'node:crypto'

/** Length in bytes of every cache hash ({@link CacheKey.primaryHash}, variance hashes). */
export const HASH_SIZE = 16

/**
 * A fixed-size cache hash as 32 lowercase hex characters (16 bytes). Hex strings are what
 * storages index by, so the hash is kept in that form rather than as bytes.
 */
export type HashHex = string

/**
 * Hashes `parts` into a {@link HashHex}: BLAKE2b-512 over each part's length and bytes,
 * truncated to {@link HASH_SIZE} bytes. Length-prefixing keeps `('ab', 'c')` and `('a', 'bc')`
 * apart.
 * @param parts - the strings to hash, in order
 */
export function hashParts(...parts: readonly string[]): HashHex {
  const hash = createHash('blake2b512')
  const length = Buffer.allocUnsafe(4)
  for (const part of parts) {
    const bytes = Buffer.from(part, 'utf8')
    length.writeUInt32BE(bytes.length, 0)
    hash.update(length)
    hash.update(bytes)
  }
  return hash.digest().subarray(0, HASH_SIZE).toString('hex')
}

/**
 * Identifies one cached object: a namespace, a primary key and a user tag, hashed into a
 * fixed-size {@link CacheKey.primaryHash}; a response that varies (`Vary`) also carries a
 * variance hash, and the storage key is then {@link CacheKey.combinedHash}. Port of
 * `pingora-cache/src/key.rs` `CacheKey`.
 *
 * There is no default key: the proxy's `cacheKeyCallback` builds one, typically from the host
 * and the path with query (`new CacheKey('', host + uri, '')`).
 */
export class CacheKey {
  /** A namespace that separates otherwise equal primary keys (a tenant, a zone). */
  readonly namespace: string
  /** The primary key, usually host + path and query. */
  readonly primary: string
  /** A tag for the user's own bookkeeping (eviction accounting); not part of the hash. */
  readonly userTag: string
  #primaryHash: HashHex | undefined
  #variance: HashHex | undefined

  /**
   * Creates a key.
   * @param namespace - separates equal primary keys
   * @param primary - the primary key
   * @param userTag - kept beside the key, not hashed
   */
  constructor(namespace: string, primary: string, userTag = '') {
    this.namespace = namespace
    this.primary = primary
    this.userTag = userTag
    this.#primaryHash = undefined
    this.#variance = undefined
  }

  /** The 16-byte hash of namespace and primary key, in hex; computed once. */
  primaryHash(): HashHex {
    if (this.#primaryHash === undefined) this.#primaryHash = hashParts(this.namespace, this.primary)
    return this.#primaryHash
  }

  /** The variance hash of the response variant this key names, if the response varies. */
  get variance(): HashHex | undefined {
    return this.#variance
  }

  /**
   * Sets (or with `undefined`, clears) the variance hash, turning this key into the key of
   * one variant.
   * @param variance - a hash from {@link VarianceBuilder.finalize}
   */
  setVariance(variance: HashHex | undefined): void {
    this.#variance = variance
  }

  /**
   * The hash storages index by: the primary hash, or when a variance is set, the hash of the
   * primary hash and the variance.
   */
  combinedHash(): HashHex {
    const primary = this.primaryHash()
    return this.#variance === undefined ? primary : hashParts(primary, this.#variance)
  }

  /** A copy without the variance: the key of the primary slot. */
  primaryKey(): CacheKey {
    const key = new CacheKey(this.namespace, this.primary, this.userTag)
    key.#primaryHash = this.#primaryHash
    return key
  }

  /** `namespace` + `primary` (+ `variance`), for logs. */
  toString(): string {
    const base = `${this.namespace}${this.primary}`
    return this.#variance === undefined ? base : `${base} (variance ${this.#variance})`
  }
}
