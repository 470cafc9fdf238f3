import { isIPv4, isIPv6 } from 'node:net'

/** The kind of address a {@link Backend} has. */
export type BackendFamily = 'ipv4' | 'ipv6' | 'unix'

/** Largest weight a backend may have (weights scale lookup tables and hash rings). */
const MAX_WEIGHT = 65_535

/**
 * A parsed `host:port` string whose host may still be a name (used by discovery).
 * @internal
 */
export interface HostPort {
  /** The host without IPv6 brackets. */
  readonly host: string
  /** The port. */
  readonly port: number
}

/**
 * Splits `host:port`, `[v6]:port` into host and port; `undefined` when there is no valid port.
 * @internal
 */
export function splitHostPort(addr: string): HostPort | undefined {
  let host: string
  let portText: string
  if (addr.startsWith('[')) {
    const close = addr.indexOf(']')
    if (close < 0 || addr.charCodeAt(close + 1) !== 58 /* : */) return undefined
    host = addr.slice(1, close)
    portText = addr.slice(close + 2)
  } else {
    const colon = addr.lastIndexOf(':')
    if (colon <= 0) return undefined
    host = addr.slice(0, colon)
    // A bare IPv6 address without brackets is ambiguous: `::1:80`.
    if (host.includes(':')) return undefined
    portText = addr.slice(colon + 1)
  }
  if (!/^\d{1,5}$/.test(portText)) return undefined
  const port = Number(portText)
  if (port > 65_535 || host === '') return undefined
  return { host, port }
}

/** Expands an IPv6 address to 32 hex digits (for ordering). */
function ipv6Hex(ip: string): string {
  // `new URL` already canonicalised the address, so `::` appears at most once.
  const [head = '', tail] = ip.split('::')
  const headGroups = head === '' ? [] : head.split(':')
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':')
  const groups = [...headGroups]
  if (tail !== undefined) {
    for (let i = headGroups.length + tailGroups.length; i < 8; i++) groups.push('0')
  }
  groups.push(...tailGroups)
  let out = ''
  for (const group of groups) {
    if (group.includes('.')) {
      // Embedded IPv4 (`::ffff:1.2.3.4` serialises as hex groups in WHATWG URL, kept for safety).
      out += ipv4Hex(group)
    } else {
      out += group.padStart(4, '0')
    }
  }
  return out
}

function ipv4Hex(ip: string): string {
  let out = ''
  for (const part of ip.split('.')) out += Number(part).toString(16).padStart(2, '0')
  return out
}

/**
 * A server to connect or proxy to: an address, a weight and user data. Port of Pingora's
 * `Backend` (`pingora-load-balancing/src/lib.rs`).
 *
 * Identity ({@link Backend.hashKey}, {@link Backend.equals}, ordering) is the canonical address
 * plus the weight; `ext` is user data and never part of the identity.
 *
 * @example
 * ```ts
 * const a = Backend.new('10.0.0.1:443')
 * const b = Backend.newWithWeight('[2001:db8::1]:443', 5)
 * const c = Backend.new('unix:/run/app.sock')
 * b.ext.set('region', 'eu')
 * ```
 */
export class Backend {
  /**
   * The canonical address: `1.2.3.4:80`, `[2001:db8::1]:80` (RFC 5952 form) or `unix:/path`.
   */
  readonly addr: string
  /** The relative weight; algorithms send traffic in proportion to it. */
  readonly weight: number
  /** User data attached to this backend; ignored by every algorithm and by identity. */
  readonly ext: Map<unknown, unknown>
  /** The address family. */
  readonly family: BackendFamily
  /** The IP address without brackets, or the socket path for `unix` backends. */
  readonly host: string
  /** The port, `0` for `unix` backends. */
  readonly port: number
  readonly #hashKey: string
  readonly #order: string

  /**
   * Creates a backend from an IP address with a port, or a `unix:` socket path.
   * @param addr - `ip:port`, `[ipv6]:port` or `unix:/path`
   * @param weight - relative weight, an integer from 1 to 65535
   * @throws TypeError when `addr` is not an IP address with a port or a `unix:` path
   * @throws RangeError when `weight` is out of range
   */
  constructor(addr: string, weight = 1) {
    if (!Number.isInteger(weight) || weight < 1 || weight > MAX_WEIGHT) {
      throw new RangeError(
        `backend weight must be an integer from 1 to ${MAX_WEIGHT}, got ${weight}`,
      )
    }
    this.weight = weight
    this.ext = new Map()
    if (addr.startsWith('unix:')) {
      const path = addr.slice(5)
      if (path === '') throw new TypeError(`invalid backend address: "${addr}"`)
      this.family = 'unix'
      this.host = path
      this.port = 0
      this.addr = addr
      // Pingora orders `Inet` before `Unix`.
      this.#order = `2${path}`
    } else {
      const parts = splitHostPort(addr)
      if (parts === undefined) throw new TypeError(`invalid backend address: "${addr}"`)
      const port5 = String(parts.port).padStart(5, '0')
      if (isIPv4(parts.host)) {
        this.family = 'ipv4'
        this.host = parts.host
        this.addr = `${parts.host}:${parts.port}`
        this.#order = `0${ipv4Hex(parts.host)}${port5}`
      } else if (isIPv6(parts.host) && !parts.host.includes('%')) {
        // WHATWG URL serialises IPv6 in the RFC 5952 canonical form (`0:0::1` -> `::1`).
        const canonical = new URL(`http://[${parts.host}]/`).hostname.slice(1, -1)
        this.family = 'ipv6'
        this.host = canonical
        this.addr = `[${canonical}]:${parts.port}`
        this.#order = `1${ipv6Hex(canonical)}${port5}`
      } else {
        throw new TypeError(`invalid backend address: "${addr}"`)
      }
      this.port = parts.port
    }
    this.#hashKey = `${this.addr}#${weight}`
  }

  /**
   * Creates a backend with weight 1 (Pingora's `Backend::new`).
   * @param addr - `ip:port`, `[ipv6]:port` or `unix:/path`
   */
  static new(addr: string): Backend {
    return new Backend(addr, 1)
  }

  /**
   * Creates a backend with a weight (Pingora's `Backend::new_with_weight`).
   * @param addr - `ip:port`, `[ipv6]:port` or `unix:/path`
   * @param weight - relative weight, an integer from 1 to 65535
   */
  static newWithWeight(addr: string, weight: number): Backend {
    return new Backend(addr, weight)
  }

  /**
   * Orders backends the way Pingora's `BTreeSet<Backend>` does: IPv4 before IPv6 before Unix,
   * then by numeric address, port and weight. Usable as an `Array.prototype.sort` comparator.
   * @param a - one backend
   * @param b - the other backend
   */
  static compare(a: Backend, b: Backend): number {
    if (a.#order !== b.#order) return a.#order < b.#order ? -1 : 1
    return a.weight - b.weight
  }

  /** A stable string identifying this backend: address and weight (never `ext`). */
  hashKey(): string {
    return this.#hashKey
  }

  /**
   * Whether two backends have the same identity (address and weight).
   * @param other - the backend to compare with
   */
  equals(other: Backend): boolean {
    return this.#hashKey === other.#hashKey
  }

  /** The canonical address. */
  toString(): string {
    return this.addr
  }
}
