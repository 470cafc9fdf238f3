import type net from 'node:net'
import type { PeerCertificateIdentity } from '@pingora-ts/tls'
import type { ProxyHeader } from './proxy-protocol.ts'

/** A socket address as seen at connection time. */
export interface SocketAddress {
  /** The IP address (`127.0.0.1`, `::1`) or the Unix socket path. */
  readonly address: string
  /** The TCP port; 0 for Unix sockets. */
  readonly port: number
  /** `'IPv4'`, `'IPv6'` or `'unix'`. */
  readonly family: string
}

/** What the TLS layer learned during the handshake; filled by the TLS code when present. */
export interface TlsDigest {
  /** The negotiated protocol version, e.g. `'TLSv1.3'`. */
  readonly version: string | undefined
  /** The negotiated cipher name. */
  readonly cipher: string | undefined
  /** The server name the client asked for (SNI). */
  readonly sni: string | undefined
  /** The negotiated ALPN protocol, e.g. `'h2'` or `'http/1.1'`. */
  readonly alpn: string | undefined
  /** Anything the handshake-complete callback wants to carry per connection. */
  readonly extension: unknown
  /**
   * The peer's certificate identity (subject, SANs, issuer, serial, fingerprint): on
   * downstream connections the client certificate (mTLS), when one was sent.
   */
  readonly peerCertificate?: PeerCertificateIdentity | undefined
  /** Whether the TLS session was resumed (session ticket) instead of fully negotiated. */
  readonly sessionReused?: boolean | undefined
}

/**
 * Facts about one connection: when it was established, its socket addresses and, for TLS
 * connections, the handshake results. Port of `pingora-core/src/protocols/digest.rs`.
 */
export class Digest {
  /** When the connection was established (ms since the epoch). */
  readonly establishedAt: number
  /**
   * The local address of the socket, when known; on a listener that accepts the PROXY
   * protocol, the original destination the header announced.
   */
  localAddr: SocketAddress | undefined
  /**
   * The peer address of the socket, when known; on a listener that accepts the PROXY
   * protocol, the original client the header announced (so `X-Forwarded-For`, logs and
   * limits see the real client).
   */
  peerAddr: SocketAddress | undefined
  /**
   * The socket's own peer address, whatever a PROXY protocol header said (there: the load
   * balancer's address).
   */
  readonly socketPeerAddr: SocketAddress | undefined
  /** The PROXY protocol header the connection started with (addresses, v2 TLVs), if any. */
  proxyProtocol: ProxyHeader | undefined
  /** The TLS handshake digest; `undefined` for plain TCP. Set by the TLS code. */
  tls: TlsDigest | undefined

  /**
   * Captures the addresses of a connected socket (they are unavailable once it closes).
   * @param socket - the connected socket
   * @param establishedAt - when it connected (ms since the epoch) @defaultValue `Date.now()`
   */
  constructor(socket: net.Socket, establishedAt: number = Date.now()) {
    this.establishedAt = establishedAt
    this.localAddr = addressOf(socket.localAddress, socket.localPort, socket.localFamily)
    this.peerAddr = addressOf(socket.remoteAddress, socket.remotePort, socket.remoteFamily)
    this.socketPeerAddr = this.peerAddr
    this.proxyProtocol = undefined
    this.tls = undefined
  }
}

function addressOf(
  address: string | undefined,
  port: number | undefined,
  family: string | undefined,
): SocketAddress | undefined {
  if (address === undefined) return undefined
  return { address, port: port ?? 0, family: family ?? 'unix' }
}
