import net from 'node:net'

/** The IPv4-mapped IPv6 prefix (RFC 4291 §2.5.5.2) a dual-stack socket reports IPv4 peers with. */
const MAPPED_PREFIX = '::ffff:'

/**
 * A set of IP networks in CIDR notation (`10.0.0.0/8`, `fd00::/8`, or a single address), IPv4
 * and IPv6, that answers "is this address inside?" in a few hundred nanoseconds (a
 * `net.BlockList` underneath). IPv4-mapped IPv6 addresses (`::ffff:10.1.2.3`, what a
 * dual-stack listener reports) match the IPv4 networks.
 *
 * Used for the allow and deny lists of {@link IpConnectionFilter} and the trusted sources of
 * PROXY protocol listeners.
 */
export class NetworkList {
  /** The networks, as given. */
  readonly networks: readonly string[]
  readonly #list: net.BlockList

  /**
   * Builds the set.
   * @param networks - CIDRs (`'192.168.0.0/16'`, `'::1/128'`) or plain addresses (`'10.0.0.1'`)
   * @throws TypeError when an entry is not an IP address or CIDR
   * @throws RangeError when a prefix length is out of range for its family
   */
  constructor(networks: readonly string[]) {
    this.networks = Object.freeze([...networks])
    this.#list = new net.BlockList()
    for (const entry of networks) addNetwork(this.#list, entry)
  }

  /**
   * Whether the address is inside one of the networks. Anything that is not an IP address
   * (a Unix socket path, `undefined`) is outside.
   * @param address - an IPv4 or IPv6 address
   */
  contains(address: string | undefined): boolean {
    if (address === undefined) return false
    const family = net.isIP(address)
    if (family === 4) return this.#list.check(address, 'ipv4')
    if (family !== 6) return false
    if (address.length > MAPPED_PREFIX.length && address.toLowerCase().startsWith(MAPPED_PREFIX)) {
      const v4 = address.slice(MAPPED_PREFIX.length)
      if (net.isIPv4(v4)) return this.#list.check(v4, 'ipv4')
    }
    return this.#list.check(address, 'ipv6')
  }
}

function addNetwork(list: net.BlockList, entry: string): void {
  if (typeof entry !== 'string') {
    throw new TypeError(`network must be a string like "10.0.0.0/8", got ${typeof entry}`)
  }
  const slash = entry.indexOf('/')
  const address = slash < 0 ? entry : entry.slice(0, slash)
  const family = net.isIP(address)
  if (family === 0) {
    throw new TypeError(`invalid network "${entry}": expected an IP address or CIDR`)
  }
  const max = family === 4 ? 32 : 128
  const prefixText = slash < 0 ? String(max) : entry.slice(slash + 1)
  const prefix = Number(prefixText)
  if (!/^\d{1,3}$/.test(prefixText) || prefix > max) {
    throw new RangeError(`invalid prefix length in "${entry}": expected 0 to ${max}`)
  }
  list.addSubnet(address, prefix, family === 4 ? 'ipv4' : 'ipv6')
}
