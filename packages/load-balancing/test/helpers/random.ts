/** A seeded PRNG (mulberry32) returning numbers in [0, 1), for deterministic tests. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

const encoder = new TextEncoder()

/** Encodes a string key. */
export function key(text: string): Uint8Array {
  return encoder.encode(text)
}

/** Counts how often each address is returned by `pick` over `rounds` calls. */
export function tally(rounds: number, pick: (i: number) => { addr: string } | undefined) {
  const counts = new Map<string, number>()
  for (let i = 0; i < rounds; i++) {
    const backend = pick(i)
    if (backend === undefined) throw new Error('no backend selected')
    counts.set(backend.addr, (counts.get(backend.addr) ?? 0) + 1)
  }
  return counts
}
