/**
 * TCP keepalive probing for accepted connections (Pingora's `TcpKeepalive`). Node exposes only
 * the idle time before the first probe; the probe interval and count stay at the OS defaults.
 */
export interface TcpKeepalive {
  /** How long a connection stays idle before the first keepalive probe, in ms. */
  readonly idleMs: number
}

/**
 * Socket options of a TCP listening endpoint (Pingora's `TcpSocketOptions`). Options Node
 * cannot set (TCP Fast Open, DSCP, socket buffer sizes) are not offered.
 */
export interface TcpSocketOptions {
  /** Accept only IPv6 on an IPv6 address (`IPV6_V6ONLY`). @defaultValue the OS default */
  readonly ipv6Only?: boolean
  /** The listen backlog. @defaultValue `65535`, like Pingora */
  readonly backlog?: number
  /** Enable TCP keepalive on accepted connections. @defaultValue off */
  readonly tcpKeepalive?: TcpKeepalive
  /**
   * Set `SO_REUSEPORT` so that several processes can listen on the same port and the kernel
   * spreads connections. Needs Node >= 22.12 (or 23.1); on older Node binding fails with a
   * `BindError`. @defaultValue `false`
   */
  readonly reusePort?: boolean
}

/** Where a listening endpoint listens (Pingora's `ServerAddress`). */
export type ServerAddress =
  | {
      /** A TCP endpoint. */
      readonly kind: 'tcp'
      /** `host:port` or `[ipv6]:port`, e.g. `'127.0.0.1:6188'`, `'[::1]:0'`; port 0 = any. */
      readonly address: string
      /** Socket options. */
      readonly options?: TcpSocketOptions | undefined
    }
  | {
      /** A Unix domain socket endpoint. */
      readonly kind: 'uds'
      /** The socket file path. A stale file at this path is removed before binding. */
      readonly path: string
      /** The socket file's permission bits. @defaultValue `0o666` */
      readonly mode?: number | undefined
    }

/** An address an endpoint is actually bound to, read back after start (port 0 resolved). */
export type ListeningAddress =
  | {
      /** A TCP endpoint. */
      readonly kind: 'tcp'
      /** The bound IP address, e.g. `'127.0.0.1'` or `'::1'`. */
      readonly host: string
      /** The bound port (never 0). */
      readonly port: number
      /** `'IPv4'` or `'IPv6'`. */
      readonly family: string
      /** `host:port`, with the host in brackets for IPv6: ready for a URL authority. */
      readonly address: string
    }
  | {
      /** A Unix domain socket endpoint. */
      readonly kind: 'uds'
      /** The socket file path. */
      readonly path: string
    }

/** A bound TCP endpoint's address (see {@link ListeningAddress}). */
export type TcpListeningAddress = Extract<ListeningAddress, { readonly kind: 'tcp' }>

/** A TCP address split into host and port. */
export interface HostPort {
  /** The host name or IP address, without brackets. */
  readonly host: string
  /** The port, 0 to 65535. */
  readonly port: number
}

const PORT_PATTERN = /^\d{1,5}$/

/**
 * Splits `host:port` or `[ipv6]:port` into its parts.
 * @param address - the address as given to `addTcp`
 * @throws TypeError when the address has no port or a malformed one
 */
export function parseTcpAddress(address: string): HostPort {
  let host: string
  let portText: string
  if (address.startsWith('[')) {
    const close = address.indexOf(']')
    if (close < 0 || address.charCodeAt(close + 1) !== 58 /* : */) throw invalidAddress(address)
    host = address.slice(1, close)
    portText = address.slice(close + 2)
  } else {
    const colon = address.lastIndexOf(':')
    // A bare IPv6 address has several colons and is ambiguous without brackets.
    if (colon < 0 || address.indexOf(':') !== colon) throw invalidAddress(address)
    host = address.slice(0, colon)
    portText = address.slice(colon + 1)
  }
  const port = Number(portText)
  if (host === '' || !PORT_PATTERN.test(portText) || port > 65535) throw invalidAddress(address)
  return { host, port }
}

/**
 * Formats a host and port as `host:port`, bracketing IPv6 addresses.
 * @param host - the IP address or host name
 * @param port - the port
 */
export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}

function invalidAddress(address: string): TypeError {
  return new TypeError(
    `Invalid TCP listen address "${address}": expected "host:port" or "[ipv6]:port"`,
  )
}
