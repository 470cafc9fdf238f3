import type { Backend } from '../backend.ts'
import {
  type BackendIter,
  type BackendSelection,
  EMPTY_ITER,
  type SelectionContext,
} from './backend-selection.ts'
import { crc32, crc32Update } from './hash.ts'

/** Points per unit of weight, as nginx and Pingora (`DEFAULT_POINT_MULTIPLE`). */
const POINTS_PER_WEIGHT = 160
/** Largest ring (points); keeps the packed sort key exact in doubles. */
const MAX_POINTS = 1 << 24
/** Node indexes are packed below the hash in one double: hash * 2^21 + node. */
const NODE_BITS = 2_097_152
const NUL = new Uint8Array(1)
const encoder = new TextEncoder()

/**
 * The `host` and `port` strings nginx hashes for a server (`ngx_http_upstream_init_chash`):
 * `unix:/p` hashes `/p` and an empty port; `[v6]:80` keeps the brackets, as written in nginx's
 * `server` line.
 */
function nginxHostPort(backend: Backend): [string, string] {
  if (backend.family === 'unix') return [backend.host, '']
  if (backend.family === 'ipv6') return [`[${backend.host}]`, String(backend.port)]
  return [backend.host, String(backend.port)]
}

/** Walks the ring from a point, yielding each run of points of one backend once. */
class RingIter implements BackendIter {
  readonly #backends: readonly Backend[]
  readonly #nodes: Uint32Array
  #index: number
  #left: number
  #last = -1

  constructor(backends: readonly Backend[], nodes: Uint32Array, index: number) {
    this.#backends = backends
    this.#nodes = nodes
    this.#index = index
    this.#left = nodes.length
  }

  next(): Backend | undefined {
    const nodes = this.#nodes
    const length = nodes.length
    while (this.#left > 0) {
      this.#left--
      const node = nodes[this.#index] as number
      this.#index = this.#index + 1 === length ? 0 : this.#index + 1
      if (node !== this.#last) {
        this.#last = node
        return this.#backends[node]
      }
    }
    return undefined
  }
}

/**
 * Consistent hashing on a ketama ring, compatible with nginx's `hash $key consistent` and
 * Pingora's `Consistent` (`pingora-ketama`): for the same weighted server list, the same key
 * picks the same server nginx picks.
 *
 * Each backend gets `160 × weight` points. Point `i` is
 * `crc32(host ‖ "\0" ‖ port ‖ le32(point[i-1]))` with `point[-1] = 0`, exactly as nginx hashes
 * `server` names (memcached's ketama). A key maps to the first point at or after `crc32(key)`,
 * wrapping around. Adding or removing one of n backends moves about 1/n of the keys.
 *
 * Unlike Pingora, Unix-socket backends take part (hashed the way nginx hashes `unix:` servers),
 * and fallbacks skip consecutive points of the same backend, so each step of the iterator is a
 * different backend from the previous one.
 *
 * Note that nginx hashes the server as written in its configuration; an IPv6 server matches when
 * written in its canonical form (`[2001:db8::1]:80`, as {@link Backend.addr}).
 */
export class Consistent implements BackendSelection {
  /** The backends, in build order. */
  readonly backends: readonly Backend[]
  /** Sorted point hashes. */
  readonly #hashes: Uint32Array
  /** The backend index of each point. */
  readonly #nodes: Uint32Array

  private constructor(backends: readonly Backend[]) {
    this.backends = backends
    let total = 0
    for (const backend of backends) total += backend.weight * POINTS_PER_WEIGHT
    if (total > MAX_POINTS) {
      throw new RangeError(
        `the sum of backend weights must be at most ${MAX_POINTS / POINTS_PER_WEIGHT}, got ${total / POINTS_PER_WEIGHT}`,
      )
    }
    const packed = new Float64Array(total)
    const prev = new Uint8Array(4)
    const prevView = new DataView(prev.buffer)
    let at = 0
    for (let node = 0; node < backends.length; node++) {
      const backend = backends[node] as Backend
      const [host, port] = nginxHostPort(backend)
      let base = crc32Update(0xffffffff, encoder.encode(host))
      base = crc32Update(base, NUL)
      base = crc32Update(base, encoder.encode(port))
      let prevHash = 0
      const points = backend.weight * POINTS_PER_WEIGHT
      for (let j = 0; j < points; j++) {
        prevView.setUint32(0, prevHash, true)
        const hash = ~crc32Update(base, prev) >>> 0
        packed[at++] = hash * NODE_BITS + node
        prevHash = hash
      }
    }
    packed.sort()
    // Deduplicate equal hashes, keeping the lowest node (nginx keeps an arbitrary one).
    const hashes = new Uint32Array(total)
    const nodes = new Uint32Array(total)
    let count = 0
    for (let i = 0; i < total; i++) {
      const value = packed[i] as number
      const hash = Math.floor(value / NODE_BITS)
      if (count > 0 && hashes[count - 1] === hash) continue
      hashes[count] = hash
      nodes[count] = value - hash * NODE_BITS
      count++
    }
    this.#hashes = hashes.subarray(0, count)
    this.#nodes = nodes.subarray(0, count)
  }

  /**
   * Builds the ring over `backends`.
   * @param backends - the backends
   * @param _context - unused
   */
  static build(backends: readonly Backend[], _context?: SelectionContext): Consistent {
    if (backends.length >= NODE_BITS) {
      throw new RangeError(`at most ${NODE_BITS - 1} backends are supported`)
    }
    return new Consistent(backends)
  }

  /** The index of the first point at or after `crc32(key)`, wrapping to 0. */
  #pointIndex(key: Uint8Array): number {
    const hash = crc32(key)
    const hashes = this.#hashes
    let low = 0
    let high = hashes.length
    while (low < high) {
      const mid = (low + high) >>> 1
      if ((hashes[mid] as number) < hash) low = mid + 1
      else high = mid
    }
    return low === hashes.length ? 0 : low
  }

  /** Returns the key's backend, then the next distinct backends clockwise on the ring. */
  iter(key: Uint8Array): BackendIter {
    if (this.#hashes.length === 0) return EMPTY_ITER
    return new RingIter(this.backends, this.#nodes, this.#pointIndex(key))
  }
}
