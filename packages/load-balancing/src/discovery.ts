import { promises as dnsPromises } from 'node:dns'
import { ErrorType, PingoraError } from '@pingora-ts/error'
import { Backend, splitHostPort } from './backend.ts'

/** What a {@link ServiceDiscovery} returns. */
export interface DiscoveryResult {
  /** Every backend currently in the service. */
  readonly backends: readonly Backend[]
  /**
   * Optional enablement per {@link Backend.hashKey}: `false` drains a backend without removing
   * it. Backends not in the map keep their current enablement (new ones start enabled).
   */
  readonly enablement?: ReadonlyMap<string, boolean>
}

/**
 * Finds the backends of a service. Port of Pingora's `ServiceDiscovery` trait
 * (`pingora-load-balancing/src/discovery.rs`).
 *
 * {@link LoadBalancer.update} calls it on every update; a rejection keeps the previous set.
 */
export interface ServiceDiscovery {
  /** Returns the current backends (and optionally their enablement). */
  discover(): Promise<DiscoveryResult>
}

/** The error type thrown when discovery cannot resolve names. */
export const DISCOVERY_ERROR = 'DiscoveryError'

interface NamedEntry {
  readonly host: string
  readonly port: number
  readonly weight: number
}

/**
 * A fixed list of backends, optionally given by host name. Port of Pingora's `discovery::Static`.
 *
 * Host names (`example.com:443`) are resolved with `dns.promises.lookup` (all addresses, without
 * blocking the event loop) on every {@link Static.discover}, so a long-running load balancer
 * follows DNS changes at its update frequency. IP literals and `unix:` paths are used as given.
 */
export class Static implements ServiceDiscovery {
  #backends: Backend[]
  #named: NamedEntry[]

  /**
   * Creates a discovery over fixed backends.
   * @param backends - the backends
   */
  constructor(backends: Iterable<Backend> = []) {
    this.#backends = [...backends]
    this.#named = []
  }

  /**
   * Creates a discovery from addresses: `ip:port`, `[ipv6]:port`, `unix:/path` or
   * `hostname:port` (resolved at each discovery). Every backend gets weight 1.
   * @param addrs - the addresses
   * @throws TypeError when an address has no valid port
   */
  static tryFromIter(addrs: Iterable<string>): Static {
    const discovery = new Static()
    for (const addr of addrs) discovery.addAddress(addr)
    return discovery
  }

  /** Whether some entries are host names that need resolving. */
  get hasHostNames(): boolean {
    return this.#named.length > 0
  }

  /**
   * Adds an address: an IP literal or `unix:` path becomes a {@link Backend} now, a host name is
   * resolved at each discovery.
   * @param addr - the address
   * @param weight - the weight of every backend it yields
   * @throws TypeError when the address has no valid port
   */
  addAddress(addr: string, weight = 1): void {
    try {
      this.#backends.push(new Backend(addr, weight))
      return
    } catch (error) {
      if (error instanceof RangeError) throw error
    }
    const parts = splitHostPort(addr)
    if (parts === undefined || parts.host.includes(':')) {
      throw new TypeError(`invalid backend address: "${addr}"`)
    }
    this.#named.push({ host: parts.host, port: parts.port, weight })
  }

  /** The fixed backends (host-name entries not included). */
  get(): Backend[] {
    return [...this.#backends]
  }

  /**
   * Replaces the fixed backends.
   * @param backends - the new backends
   */
  set(backends: Iterable<Backend>): void {
    this.#backends = [...backends]
  }

  /**
   * Adds a backend.
   * @param backend - the backend
   */
  add(backend: Backend): void {
    this.#backends = [...this.#backends, backend]
  }

  /**
   * Removes every backend with the identity of `backend`.
   * @param backend - the backend
   */
  remove(backend: Backend): void {
    this.#backends = this.#backends.filter((b) => !b.equals(backend))
  }

  /**
   * Returns the backends, resolving host names.
   * @throws PingoraError of type {@link DISCOVERY_ERROR} when a host name does not resolve
   */
  async discover(): Promise<DiscoveryResult> {
    if (this.#named.length === 0) return { backends: this.get() }
    const backends = this.get()
    const resolved = await Promise.all(
      this.#named.map(async (entry) => {
        try {
          return await dnsPromises.lookup(entry.host, { all: true, order: 'verbatim' })
        } catch (error) {
          throw PingoraError.because(
            ErrorType.Custom(DISCOVERY_ERROR),
            `resolving ${entry.host}`,
            error,
          ).setSource('internal')
        }
      }),
    )
    for (let i = 0; i < resolved.length; i++) {
      const entry = this.#named[i] as NamedEntry
      for (const { address, family } of resolved[i] ?? []) {
        const addr = family === 6 ? `[${address}]:${entry.port}` : `${address}:${entry.port}`
        backends.push(new Backend(addr, entry.weight))
      }
    }
    return { backends }
  }
}
