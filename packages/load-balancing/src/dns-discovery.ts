import { promises as dnsPromises } from 'node:dns'
import { isIP } from 'node:net'
import { ErrorType, PingoraError } from '@pingora-ts/error'
import { Backend } from './backend.ts'
import { DISCOVERY_ERROR, type DiscoveryResult, type ServiceDiscovery } from './discovery.ts'

/** Which records {@link DnsDiscovery} looks up. `'A/AAAA'` takes both families. */
export type DnsRecordType = 'A' | 'AAAA' | 'A/AAAA' | 'SRV'

/** Options of {@link DnsDiscovery}. */
export interface DnsDiscoveryOptions {
  /** The name to resolve: a host name for A/AAAA, a service name (`_http._tcp.example.com`) for SRV. */
  name: string
  /** The records to look up. @defaultValue `'A'` */
  recordType?: DnsRecordType
  /** The backends' port for A/AAAA (SRV records carry their own). Required for A/AAAA. */
  port?: number
  /** The weight of A/AAAA backends (SRV records carry their own). @defaultValue `1` */
  weight?: number
  /**
   * DNS servers to ask (`'10.0.0.53'`, `'127.0.0.1:5353'`, `'[::1]:53'`).
   * @defaultValue the system's servers
   */
  servers?: string[]
  /**
   * Re-resolve at this fixed interval instead of following record TTLs.
   * @defaultValue `undefined`: follow TTLs
   */
  refreshIntervalMs?: number
  /** Lower bound of a TTL-based refresh (also the retry delay after a failure). @defaultValue `1000` */
  minTtlMs?: number
  /** Upper bound of a TTL-based refresh. @defaultValue `300_000` */
  maxTtlMs?: number
  /** Timeout of one DNS query attempt. @defaultValue `2000` */
  timeoutMs?: number
  /** Attempts per query. @defaultValue `2` */
  tries?: number
}

interface Resolved {
  readonly backends: Backend[]
  readonly ttlSeconds: number
}

/**
 * Service discovery through DNS: A/AAAA records (one backend per address) or SRV records (one
 * backend per target address, with the SRV weight). What Pingora lacks (cloudflare/pingora#222).
 *
 * Queries go through `dns.promises.Resolver` (c-ares, never blocking the event loop), pointed at
 * `servers` when given. Answers are cached until the smallest record TTL expires (clamped to
 * `[minTtlMs, maxTtlMs]`) or for `refreshIntervalMs`; {@link DnsDiscovery.discover} re-queries
 * only when the cache expired, so a {@link LoadBalancer} may poll it often
 * (`updateFrequencyMs: 1000`). A failed refresh (timeout, SERVFAIL, NXDOMAIN, no records) keeps
 * the last good set and retries after `minTtlMs`; without a good set it rejects with a
 * `PingoraError` of type {@link DISCOVERY_ERROR}.
 *
 * SRV: only the lowest-priority records are used (higher priorities are RFC 2782 backups);
 * weight 0 becomes 1. Node's resolver does not expose SRV TTLs, so an SRV answer is cached for
 * its targets' address TTLs.
 */
export class DnsDiscovery implements ServiceDiscovery {
  readonly #options: Required<
    Omit<DnsDiscoveryOptions, 'servers' | 'refreshIntervalMs' | 'port'>
  > & { port: number; refreshIntervalMs: number | undefined }
  readonly #resolver: dnsPromises.Resolver
  #last: Backend[] | undefined
  #expiresAt = 0

  /**
   * Creates a DNS discovery.
   * @param options - name, record type, servers and refresh policy
   * @throws TypeError when A/AAAA discovery has no valid `port`
   */
  constructor(options: DnsDiscoveryOptions) {
    const recordType = options.recordType ?? 'A'
    const port = options.port ?? 0
    if (recordType !== 'SRV' && !(Number.isInteger(port) && port > 0 && port <= 65_535)) {
      throw new TypeError(`DnsDiscovery needs a port from 1 to 65535 for ${recordType} records`)
    }
    this.#options = {
      name: options.name,
      recordType,
      port,
      weight: options.weight ?? 1,
      refreshIntervalMs: options.refreshIntervalMs,
      minTtlMs: options.minTtlMs ?? 1000,
      maxTtlMs: options.maxTtlMs ?? 300_000,
      timeoutMs: options.timeoutMs ?? 2000,
      tries: options.tries ?? 2,
    }
    this.#resolver = new dnsPromises.Resolver({
      timeout: this.#options.timeoutMs,
      tries: this.#options.tries,
    })
    if (options.servers !== undefined) this.#resolver.setServers(options.servers)
    this.#last = undefined
  }

  /** Cancels queries in flight (they reject); later discoveries query again. */
  cancel(): void {
    this.#resolver.cancel()
  }

  /**
   * Returns the backends, re-resolving when the cached answer expired.
   * @throws PingoraError of type {@link DISCOVERY_ERROR} when resolution fails and there is no
   *   earlier good answer
   */
  async discover(): Promise<DiscoveryResult> {
    const now = Date.now()
    if (this.#last !== undefined && now < this.#expiresAt) return { backends: this.#last }
    let resolved: Resolved
    try {
      resolved = await this.#resolve()
      if (resolved.backends.length === 0) throw new Error('no records')
    } catch (error) {
      if (this.#last !== undefined) {
        // Keep serving the last good set; retry soon.
        this.#expiresAt = Date.now() + this.#options.minTtlMs
        return { backends: this.#last }
      }
      throw PingoraError.because(
        ErrorType.Custom(DISCOVERY_ERROR),
        `resolving ${this.#options.recordType} ${this.#options.name}`,
        error,
      ).setSource('internal')
    }
    const { minTtlMs, maxTtlMs, refreshIntervalMs } = this.#options
    const lifetime =
      refreshIntervalMs ?? Math.min(maxTtlMs, Math.max(minTtlMs, resolved.ttlSeconds * 1000))
    this.#last = resolved.backends
    this.#expiresAt = Date.now() + lifetime
    return { backends: resolved.backends }
  }

  async #resolve(): Promise<Resolved> {
    const { name, recordType, port, weight } = this.#options
    if (recordType === 'SRV') return this.#resolveSrv(name)
    return this.#resolveAddresses(name, recordType, port, weight)
  }

  async #resolveAddresses(
    name: string,
    recordType: 'A' | 'AAAA' | 'A/AAAA',
    port: number,
    weight: number,
  ): Promise<Resolved> {
    const literal = isIP(name)
    if (literal !== 0) {
      const addr = literal === 6 ? `[${name}]:${port}` : `${name}:${port}`
      return { backends: [new Backend(addr, weight)], ttlSeconds: Number.POSITIVE_INFINITY }
    }
    const v4 = recordType === 'AAAA' ? undefined : this.#resolver.resolve4(name, { ttl: true })
    const v6 = recordType === 'A' ? undefined : this.#resolver.resolve6(name, { ttl: true })
    const [four, six] = await Promise.allSettled([v4, v6])
    const backends: Backend[] = []
    let ttlSeconds = Number.POSITIVE_INFINITY
    let failure: unknown
    for (const [result, family] of [
      [four, 4],
      [six, 6],
    ] as const) {
      if (result.status === 'rejected') {
        failure = result.reason
        continue
      }
      for (const record of result.value ?? []) {
        const addr = family === 6 ? `[${record.address}]:${port}` : `${record.address}:${port}`
        backends.push(new Backend(addr, weight))
        ttlSeconds = Math.min(ttlSeconds, record.ttl)
      }
    }
    // With both families asked, one family having no records is fine.
    if (backends.length === 0 && failure !== undefined) throw failure
    return { backends, ttlSeconds }
  }

  async #resolveSrv(name: string): Promise<Resolved> {
    const records = await this.#resolver.resolveSrv(name)
    let lowest = Number.POSITIVE_INFINITY
    for (const record of records) lowest = Math.min(lowest, record.priority)
    const chosen = records.filter((record) => record.priority === lowest)
    const targets = await Promise.allSettled(
      chosen.map((record) =>
        this.#resolveAddresses(record.name, 'A/AAAA', record.port, Math.max(1, record.weight)),
      ),
    )
    const backends: Backend[] = []
    let ttlSeconds = Number.POSITIVE_INFINITY
    let failure: unknown
    for (const target of targets) {
      // A target that does not resolve is left out; the others still serve.
      if (target.status === 'rejected') {
        failure = target.reason
        continue
      }
      backends.push(...target.value.backends)
      ttlSeconds = Math.min(ttlSeconds, target.value.ttlSeconds)
    }
    if (backends.length === 0 && failure !== undefined) throw failure
    return { backends, ttlSeconds }
  }
}
