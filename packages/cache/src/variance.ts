import { type HashHex, hashParts } from './key.ts'

/**
 * Builds the variance hash of a request from the values of the header fields a response's
 * `Vary` names. The order in which values are added does not matter: names are lowercased
 * and sorted before hashing. Port of `pingora-cache/src/variance.rs` `VarianceBuilder`.
 *
 * @example
 * ```ts
 * const variance = new VarianceBuilder()
 * variance.addValue('accept-encoding', request.getHeader('accept-encoding') ?? '')
 * key.setVariance(variance.finalize())
 * ```
 */
export class VarianceBuilder {
  #values: Map<string, string>

  /** Creates an empty builder. */
  constructor() {
    this.#values = new Map()
  }

  /**
   * Adds one field's value; adding the same name twice keeps the last value.
   * @param name - the field name (case-insensitive)
   * @param value - the value the request carries (`''` when absent)
   */
  addValue(name: string, value: string): void {
    this.#values.set(name.toLowerCase(), value)
  }

  /** Whether nothing was added. */
  get isEmpty(): boolean {
    return this.#values.size === 0
  }

  /** The variance hash, or `undefined` when nothing was added (the response does not vary). */
  finalize(): HashHex | undefined {
    if (this.#values.size === 0) return undefined
    const names = [...this.#values.keys()].sort()
    const parts: string[] = []
    for (const name of names) parts.push(name, this.#values.get(name) ?? '')
    return hashParts(...parts)
  }
}
