import { ALPN, type AlpnProtocols, type ClientTlsPeer } from '@pingora-ts/tls'
import type { TcpKeepalive } from '../listeners/server-address.ts'
import { checkCount, checkMs } from '../option-checks.ts'
import type { ProxyHeaderInit } from '../protocols/proxy-protocol.ts'

/** Pingora's default ALPN preference (HTTP/1.1 only), frozen once and shared by every peer. */
const DEFAULT_ALPN: AlpnProtocols = Object.freeze([...ALPN.H1])

/** CA certificates (PEM): one string or buffer, or a list of them. */
export type CaCertificates = NonNullable<ClientTlsPeer['ca']>

/** The local address to bind an upstream connection to (Pingora's `BindTo`). */
export interface BindTo {
  /** The local IP address (`127.0.0.2`, `::1`). */
  readonly address: string
  /** The local port; 0 or absent lets the OS choose. @defaultValue `0` */
  readonly port?: number | undefined
}

/**
 * A PROXY protocol header to send first on every new connection to a peer: the version and
 * the client and destination addresses to announce (usually the downstream's
 * `session.clientAddr` and `session.serverAddr`).
 */
export interface ProxyProtocolSend extends ProxyHeaderInit {
  /** 1 (text) or 2 (binary). */
  readonly version: 1 | 2
}

/** Hooks called around the life of each new upstream connection (Pingora's `Tracing`). */
export interface Tracer {
  /** Called once a new connection is established (TCP and TLS done). */
  onConnected(): void
  /** Called once that connection is closed. */
  onDisconnected(): void
}

/**
 * The plain-data form of {@link PeerOptions}: every field is optional and takes Pingora's
 * default when absent.
 */
export interface PeerOptionsInit {
  /** {@inheritDoc PeerOptions.bindTo} */
  bindTo?: BindTo | undefined
  /** {@inheritDoc PeerOptions.connectionTimeoutMs} */
  connectionTimeoutMs?: number | undefined
  /** {@inheritDoc PeerOptions.totalConnectionTimeoutMs} */
  totalConnectionTimeoutMs?: number | undefined
  /** {@inheritDoc PeerOptions.readTimeoutMs} */
  readTimeoutMs?: number | undefined
  /** {@inheritDoc PeerOptions.writeTimeoutMs} */
  writeTimeoutMs?: number | undefined
  /** {@inheritDoc PeerOptions.idleTimeoutMs} */
  idleTimeoutMs?: number | undefined
  /** {@inheritDoc PeerOptions.verifyCert} */
  verifyCert?: boolean | undefined
  /** {@inheritDoc PeerOptions.verifyHostname} */
  verifyHostname?: boolean | undefined
  /** {@inheritDoc PeerOptions.alternativeCn} */
  alternativeCn?: string | undefined
  /** {@inheritDoc PeerOptions.alpn} */
  alpn?: AlpnProtocols | undefined
  /** {@inheritDoc PeerOptions.ca} */
  ca?: CaCertificates | undefined
  /** {@inheritDoc PeerOptions.curves} */
  curves?: string | undefined
  /** {@inheritDoc PeerOptions.tcpKeepalive} */
  tcpKeepalive?: TcpKeepalive | undefined
  /** {@inheritDoc PeerOptions.h2PingIntervalMs} */
  h2PingIntervalMs?: number | undefined
  /** {@inheritDoc PeerOptions.maxH2Streams} */
  maxH2Streams?: number | undefined
  /** {@inheritDoc PeerOptions.h2StreamWindowSize} */
  h2StreamWindowSize?: number | undefined
  /** {@inheritDoc PeerOptions.h2ConnectionWindowSize} */
  h2ConnectionWindowSize?: number | undefined
  /** {@inheritDoc PeerOptions.allowH1ResponseInvalidContentLength} */
  allowH1ResponseInvalidContentLength?: boolean | undefined
  /** {@inheritDoc PeerOptions.extraProxyHeaders} */
  extraProxyHeaders?: Readonly<Record<string, string>> | undefined
  /** {@inheritDoc PeerOptions.tracer} */
  tracer?: Tracer | undefined
  /** {@inheritDoc PeerOptions.proxyProtocol} */
  proxyProtocol?: ProxyProtocolSend | undefined
}

/**
 * How to connect to a peer: timeouts, TLS verification, ALPN, CA, keepalive, local address
 * (Pingora's `PeerOptions`, `pingora-core/src/upstreams/peer.rs`). Defaults follow Pingora: no
 * timeouts, certificate and hostname verification on, ALPN `http/1.1` only, one H2 stream.
 *
 * Options may be changed after the peer is built (as Pingora users do in `upstreamPeer`):
 * the fields that decide whether two connections are interchangeable (TLS settings,
 * `bindTo`, `maxH2Streams`) are accessors that bump {@link PeerOptions.version}, which tells
 * the owning peer to recompute its cached reuse hash. Replace object values (`bindTo`, `ca`)
 * rather than mutating them in place: in-place changes are not seen.
 */
export class PeerOptions {
  /**
   * How long the TCP connect may take, in ms (Pingora's `connection_timeout`).
   * `undefined` waits for the OS. @defaultValue `undefined`
   */
  connectionTimeoutMs: number | undefined
  /**
   * How long the whole connection setup (TCP and TLS handshake) may take, in ms.
   * @defaultValue `undefined`
   */
  totalConnectionTimeoutMs: number | undefined
  /** How long each read from the upstream may wait, in ms. @defaultValue `undefined` */
  readTimeoutMs: number | undefined
  /** How long each write to the upstream may wait, in ms. @defaultValue `undefined` */
  writeTimeoutMs: number | undefined
  /**
   * How long an idle connection waits in the pool to be reused, in ms; `0` disables pooling
   * for this peer, `undefined` keeps it until the pool evicts it or the origin closes it.
   * @defaultValue `undefined`
   */
  idleTimeoutMs: number | undefined
  /**
   * TCP keepalive for new connections: the idle time before the first probe (Node cannot set
   * the probe interval or count; the OS defaults apply). @defaultValue `undefined` (off)
   */
  tcpKeepalive: TcpKeepalive | undefined
  /**
   * Send a PING on each idle HTTP/2 connection this often, in ms, and close the connection
   * when no answer comes within the same time. @defaultValue `undefined` (no pings)
   */
  h2PingIntervalMs: number | undefined
  /** HTTP/2 stream receive window in bytes; 8 MiB when unset. @defaultValue `undefined` */
  h2StreamWindowSize: number | undefined
  /** HTTP/2 connection receive window in bytes; 8 MiB when unset. @defaultValue `undefined` */
  h2ConnectionWindowSize: number | undefined
  /**
   * Treat a response with an invalid `Content-Length` as close-delimited instead of failing.
   * @defaultValue `false`
   */
  allowH1ResponseInvalidContentLength: boolean
  /** Headers added to the CONNECT request when tunnelling through a proxy. @defaultValue `{}` */
  extraProxyHeaders: Readonly<Record<string, string>>
  /** Hooks told when each new connection opens and closes. @defaultValue `undefined` */
  tracer: Tracer | undefined

  #bindTo: BindTo | undefined
  #verifyCert: boolean
  #verifyHostname: boolean
  #alternativeCn: string | undefined
  #alpn: AlpnProtocols
  #maxHttp: 1 | 2
  #minHttp: 1 | 2
  #ca: CaCertificates | undefined
  #curves: string | undefined
  #maxH2Streams: number
  #proxyProtocol: ProxyProtocolSend | undefined
  #version = 0

  /**
   * Creates options, taking Pingora's defaults for every field not given.
   * @param init - the fields to set
   * @throws RangeError when a duration or count is negative or not finite
   * @throws TypeError when `alpn` is not a non-empty list of protocol ids
   */
  constructor(init: PeerOptionsInit = {}) {
    this.connectionTimeoutMs = checkMs('connectionTimeoutMs', init.connectionTimeoutMs, undefined)
    this.totalConnectionTimeoutMs = checkMs(
      'totalConnectionTimeoutMs',
      init.totalConnectionTimeoutMs,
      undefined,
    )
    this.readTimeoutMs = checkMs('readTimeoutMs', init.readTimeoutMs, undefined)
    this.writeTimeoutMs = checkMs('writeTimeoutMs', init.writeTimeoutMs, undefined)
    this.idleTimeoutMs = checkMs('idleTimeoutMs', init.idleTimeoutMs, undefined)
    this.tcpKeepalive = checkKeepalive(init.tcpKeepalive)
    this.h2PingIntervalMs = checkMs('h2PingIntervalMs', init.h2PingIntervalMs, undefined)
    this.h2StreamWindowSize = checkCount('h2StreamWindowSize', init.h2StreamWindowSize, undefined)
    this.h2ConnectionWindowSize = checkCount(
      'h2ConnectionWindowSize',
      init.h2ConnectionWindowSize,
      undefined,
    )
    this.allowH1ResponseInvalidContentLength = init.allowH1ResponseInvalidContentLength ?? false
    this.extraProxyHeaders = init.extraProxyHeaders ?? {}
    this.tracer = init.tracer
    this.#bindTo = checkBindTo(init.bindTo)
    this.#verifyCert = init.verifyCert ?? true
    this.#verifyHostname = init.verifyHostname ?? true
    this.#alternativeCn = init.alternativeCn
    if (init.alpn === undefined) {
      // The usual per-request peer: HTTP/1.1 only, nothing to compute.
      this.#alpn = DEFAULT_ALPN
      this.#maxHttp = 1
      this.#minHttp = 1
    } else {
      this.#alpn = checkAlpn(init.alpn)
      this.#maxHttp = maxHttpOf(this.#alpn)
      this.#minHttp = minHttpOf(this.#alpn)
    }
    this.#ca = init.ca
    this.#curves = init.curves
    this.#maxH2Streams = checkCount('maxH2Streams', init.maxH2Streams, undefined) ?? 1
    this.#proxyProtocol = checkProxyProtocol(init.proxyProtocol)
  }

  /**
   * A counter bumped by every change to a field that takes part in the reuse hash; peers
   * compare it to decide whether their cached hash is stale.
   */
  get version(): number {
    return this.#version
  }

  /** The local address new connections bind to. @defaultValue `undefined` */
  get bindTo(): BindTo | undefined {
    return this.#bindTo
  }
  set bindTo(value: BindTo | undefined) {
    this.#bindTo = checkBindTo(value)
    this.#version++
  }

  /** Whether the TLS handshake verifies the server certificate chain. @defaultValue `true` */
  get verifyCert(): boolean {
    return this.#verifyCert
  }
  set verifyCert(value: boolean) {
    this.#verifyCert = value
    this.#version++
  }

  /** Whether the TLS handshake checks that the certificate matches the SNI. @defaultValue `true` */
  get verifyHostname(): boolean {
    return this.#verifyHostname
  }
  set verifyHostname(value: boolean) {
    this.#verifyHostname = value
    this.#version++
  }

  /**
   * Another name the server certificate may match when it does not match the SNI.
   * @defaultValue `undefined`
   */
  get alternativeCn(): string | undefined {
    return this.#alternativeCn
  }
  set alternativeCn(value: string | undefined) {
    this.#alternativeCn = value
    this.#version++
  }

  /**
   * The ALPN protocol ids to offer, most preferred first (`ALPN.H1`, `ALPN.H2H1` from
   * `@pingora-ts/tls`). @defaultValue `['http/1.1']` (`ALPN.H1`)
   */
  get alpn(): AlpnProtocols {
    return this.#alpn
  }
  set alpn(value: AlpnProtocols) {
    this.#alpn = checkAlpn(value)
    this.#maxHttp = maxHttpOf(this.#alpn)
    this.#minHttp = minHttpOf(this.#alpn)
    this.#version++
  }

  /**
   * The CA certificates that verify the server; `undefined` uses the connector's `caFile`,
   * else Node's default roots. @defaultValue `undefined`
   */
  get ca(): CaCertificates | undefined {
    return this.#ca
  }
  set ca(value: CaCertificates | undefined) {
    this.#ca = value
    this.#version++
  }

  /** The TLS key-exchange groups to offer, colon-separated (`'X25519:P-256'`). @defaultValue `undefined` */
  get curves(): string | undefined {
    return this.#curves
  }
  set curves(value: string | undefined) {
    this.#curves = value
    this.#version++
  }

  /**
   * Send this PROXY protocol header (v1 or v2) first on every new connection, before TLS, so
   * an upstream behind HAProxy-style `accept-proxy` sees the original client. A connection
   * carrying a header is tied to the addresses in it: peers with different headers never
   * share pooled connections. @defaultValue `undefined` (no header)
   */
  get proxyProtocol(): ProxyProtocolSend | undefined {
    return this.#proxyProtocol
  }
  set proxyProtocol(value: ProxyProtocolSend | undefined) {
    this.#proxyProtocol = checkProxyProtocol(value)
    this.#version++
  }

  /**
   * Chooses the HTTP versions to speak to the peer (Pingora's `set_http_version(max, min)`), by
   * setting {@link PeerOptions.alpn}: `(1, 1)` HTTP/1.1 only, `(2, 1)` HTTP/2 preferred with
   * HTTP/1.1 allowed (TLS only: a cleartext peer is then spoken to in HTTP/1.1), `(2, 2)` HTTP/2
   * only (over TLS by ALPN, in cleartext as h2c with prior knowledge).
   * @param max - the highest version, 1 or 2
   * @param min - the lowest version, 1 or 2, at most `max`
   * @throws RangeError when a version is not 1 or 2 or `min > max`
   */
  setHttpVersion(max: 1 | 2, min: 1 | 2): void {
    if ((max !== 1 && max !== 2) || (min !== 1 && min !== 2) || min > max) {
      throw new RangeError(
        `setHttpVersion(max, min) takes 1 or 2 with min <= max, got (${String(max)}, ${String(min)})`,
      )
    }
    this.alpn = max === 1 ? ALPN.H1 : min === 2 ? ALPN.H2 : ALPN.H2H1
  }

  /**
   * The highest HTTP version {@link PeerOptions.alpn} allows: 2 when it offers `h2`.
   */
  maxHttpVersion(): 1 | 2 {
    return this.#maxHttp
  }

  /** The lowest HTTP version {@link PeerOptions.alpn} allows: 2 when it offers only `h2`. */
  minHttpVersion(): 1 | 2 {
    return this.#minHttp
  }

  /**
   * How many HTTP/2 streams one connection may carry at once; the server's
   * SETTINGS_MAX_CONCURRENT_STREAMS lowers it further. @defaultValue `1`
   */
  get maxH2Streams(): number {
    return this.#maxH2Streams
  }
  set maxH2Streams(value: number) {
    this.#maxH2Streams = checkCount('maxH2Streams', value, undefined) ?? 1
    this.#version++
  }
}

function isH2(id: string): boolean {
  return id === 'h2'
}

function maxHttpOf(alpn: AlpnProtocols): 1 | 2 {
  return alpn.includes('h2') ? 2 : 1
}

function minHttpOf(alpn: AlpnProtocols): 1 | 2 {
  return alpn.length > 0 && alpn.every(isH2) ? 2 : 1
}

function checkAlpn(value: AlpnProtocols): AlpnProtocols {
  if (!Array.isArray(value) || value.length === 0) {
    throw new TypeError('alpn must be a non-empty array of protocol ids')
  }
  for (let i = 0; i < value.length; i++) {
    const id: unknown = value[i]
    // RFC 7301 §3.1: protocol ids are 1 to 255 bytes.
    if (typeof id !== 'string' || id.length === 0 || Buffer.byteLength(id) > 255) {
      throw new TypeError(`invalid ALPN protocol id: ${String(id)}`)
    }
  }
  return Object.isFrozen(value) ? value : Object.freeze([...value])
}

function checkKeepalive(value: TcpKeepalive | undefined): TcpKeepalive | undefined {
  if (value === undefined) return undefined
  if (checkMs('tcpKeepalive.idleMs', value.idleMs, undefined) === undefined) {
    throw new RangeError('tcpKeepalive.idleMs must be a finite number >= 0, got undefined')
  }
  return value
}

function checkProxyProtocol(value: ProxyProtocolSend | undefined): ProxyProtocolSend | undefined {
  if (value === undefined) return undefined
  if (value.version !== 1 && value.version !== 2) {
    throw new RangeError(`proxyProtocol.version must be 1 or 2, got ${String(value.version)}`)
  }
  return value
}

/**
 * The reuse-hash part of a PROXY protocol header: its version and addresses.
 * @internal
 */
export function proxyProtocolKey(value: ProxyProtocolSend): string {
  const source = value.source
  const destination = value.destination
  return `pp${value.version}=${source?.address ?? ''}:${source?.port ?? ''}>${destination?.address ?? ''}:${destination?.port ?? ''}/${value.tlvs?.length ?? 0}`
}

function checkBindTo(value: BindTo | undefined): BindTo | undefined {
  if (value === undefined) return undefined
  const port = value.port ?? 0
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`bindTo.port must be an integer from 0 to 65535, got ${String(port)}`)
  }
  return Object.freeze({ address: value.address, port })
}
