import type { SocketAddress } from '../protocols/digest.ts'
import { NetworkList } from './network-list.ts'

/**
 * Decides, right after a TCP accept and before any byte is read (before TLS and before a PROXY
 * protocol header), whether a connection may proceed (Pingora's `ConnectionFilter`, added to
 * `pingora-core/src/listeners/mod.rs`). A refused connection is closed at once: it costs one
 * accept and one close, and is published on `pingora:connection:rejected`.
 *
 * Set one per service with `ListeningService.setConnectionFilter`. {@link IpConnectionFilter}
 * covers CIDR allow/deny lists, a per-client-IP connection limit and a custom callback.
 *
 * @example
 * ```ts
 * service.setConnectionFilter({
 *   shouldAccept: (address) => address?.address !== '203.0.113.7',
 * })
 * ```
 */
export interface ConnectionFilter {
  /**
   * Runs once per accepted connection, before anything else. Return `true` to serve it,
   * `false` to close it. A thrown error or rejected promise refuses the connection too.
   * Keep it synchronous when possible: an async answer lets the socket buffer bytes while
   * waiting.
   * @param address - the peer's socket address (`undefined` on a Unix socket without one)
   */
  shouldAccept(address: SocketAddress | undefined): boolean | Promise<boolean>
  /**
   * Runs once when a connection this filter accepted has closed (for per-client counters).
   * Default: nothing.
   * @param address - the address given to `shouldAccept`
   */
  connectionClosed?(address: SocketAddress | undefined): void
}

/** Options of {@link IpConnectionFilter}; every part is optional. */
export interface IpConnectionFilterOptions {
  /**
   * Only peers inside these networks are served (CIDRs or addresses, IPv4 and IPv6).
   * @defaultValue `undefined` (every address)
   */
  readonly allow?: readonly string[] | undefined
  /**
   * Peers inside these networks are refused; checked before `allow`.
   * @defaultValue `undefined` (none)
   */
  readonly deny?: readonly string[] | undefined
  /**
   * How many connections one client IP may have open at once; more are refused.
   * @defaultValue `undefined` (no limit)
   */
  readonly maxConnectionsPerIp?: number | undefined
  /**
   * A last check, run after the lists and before the per-IP limit.
   * @defaultValue `undefined`
   */
  readonly accept?: ((address: SocketAddress | undefined) => boolean | Promise<boolean>) | undefined
}

/**
 * A {@link ConnectionFilter} from lists and a limit: refuses peers in `deny`, peers outside
 * `allow`, peers the `accept` callback refuses, and connections beyond `maxConnectionsPerIp`
 * open from one IP. Addresses that are not IPs (Unix sockets) pass the lists and the limit.
 *
 * Memory: one counter per client IP with open connections, removed when its last one closes.
 */
export class IpConnectionFilter implements ConnectionFilter {
  readonly #allow: NetworkList | undefined
  readonly #deny: NetworkList | undefined
  readonly #max: number | undefined
  readonly #accept: IpConnectionFilterOptions['accept']
  readonly #open: Map<string, number>

  /**
   * Builds the filter.
   * @param options - the lists, the limit and the callback
   * @throws TypeError / RangeError when a network is malformed
   * @throws RangeError when `maxConnectionsPerIp` is not a positive integer
   */
  constructor(options: IpConnectionFilterOptions = {}) {
    this.#allow = options.allow === undefined ? undefined : new NetworkList(options.allow)
    this.#deny = options.deny === undefined ? undefined : new NetworkList(options.deny)
    const max = options.maxConnectionsPerIp
    if (max !== undefined && (!Number.isSafeInteger(max) || max < 1)) {
      throw new RangeError(`maxConnectionsPerIp must be an integer >= 1, got ${String(max)}`)
    }
    this.#max = max
    this.#accept = options.accept
    this.#open = new Map()
  }

  /** How many connections from `ip` this filter counts as open (0 when none). */
  openConnections(ip: string): number {
    return this.#open.get(ip) ?? 0
  }

  /**
   * Applies the lists, the callback and the per-IP limit.
   * @param address - the peer's address
   */
  shouldAccept(address: SocketAddress | undefined): boolean | Promise<boolean> {
    const ip = address?.family === 'unix' ? undefined : address?.address
    if (ip !== undefined) {
      if (this.#deny?.contains(ip) === true) return false
      if (this.#allow !== undefined && !this.#allow.contains(ip)) return false
    }
    const accept = this.#accept
    if (accept === undefined) return this.#count(ip)
    const verdict = accept(address)
    if (typeof verdict === 'boolean') return verdict && this.#count(ip)
    return verdict.then((accepted) => accepted && this.#count(ip))
  }

  /**
   * Forgets one open connection of the address.
   * @param address - the address given to `shouldAccept`
   */
  connectionClosed(address: SocketAddress | undefined): void {
    const ip = address?.family === 'unix' ? undefined : address?.address
    if (ip === undefined || this.#max === undefined) return
    const open = this.#open.get(ip)
    if (open === undefined) return
    if (open <= 1) this.#open.delete(ip)
    else this.#open.set(ip, open - 1)
  }

  #count(ip: string | undefined): boolean {
    const max = this.#max
    if (max === undefined || ip === undefined) return true
    const open = this.#open.get(ip) ?? 0
    if (open >= max) return false
    this.#open.set(ip, open + 1)
    return true
  }
}
