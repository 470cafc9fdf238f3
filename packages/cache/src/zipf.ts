/** Options for {@link zipfTrace}. */
export interface ZipfTraceOptions {
  /** Distinct keys (0 to keys - 1, key 0 the most popular). */
  keys: number
  /** Trace length. */
  length: number
  /** The Zipf exponent (1 is the classic web-cache skew). */
  exponent: number
  /** Seed of the deterministic random source. */
  seed: number
}

/**
 * Generates a deterministic Zipf-distributed key trace, for measuring cache hit ratios.
 * @param options - size, skew and seed
 */
export function zipfTrace(options: ZipfTraceOptions): number[] {
  const cumulative = new Float64Array(options.keys)
  let total = 0
  for (let k = 0; k < options.keys; k++) {
    total += 1 / (k + 1) ** options.exponent
    cumulative[k] = total
  }
  let state = options.seed >>> 0 || 1
  const random = () => {
    // xorshift32
    state ^= state << 13
    state >>>= 0
    state ^= state >>> 17
    state ^= state << 5
    state >>>= 0
    return state / 0x1_0000_0000
  }
  const trace: number[] = new Array(options.length)
  for (let i = 0; i < options.length; i++) {
    const target = random() * total
    let lo = 0
    let hi = options.keys - 1
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if ((cumulative[mid] as number) < target) lo = mid + 1
      else hi = mid
    }
    trace[i] = lo
  }
  return trace
}
