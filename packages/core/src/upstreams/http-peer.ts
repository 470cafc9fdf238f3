import type { ClientCertKey } from '@pingora-ts/tls'
import {
  digestClientCertKey,
  digestTlsMaterial,
  formatPeerAddress,
  type Peer,
  type PeerAddress,
  type PeerAddressInput,
  parsePeerAddress,
} from './peer.ts'
import { PeerOptions, type PeerOptionsInit, proxyProtocolKey } from './peer-options.ts'

/** The scheme spoken to an HTTP peer (Pingora's `Scheme`). */
export type Scheme = 'http' | 'https'

/** The options form of {@link HttpPeer}'s constructor. */
export interface HttpPeerInit {
  /** Where the peer listens. */
  address: PeerAddressInput
  /** Whether to speak TLS (HTTPS). @defaultValue `false` */
  tls?: boolean | undefined
  /**
   * The server name to send (SNI) and to verify the certificate against. `undefined` sends
   * none; verification then follows {@link PeerOptions.verifyCert} and
   * {@link PeerOptions.verifyHostname} (the host name is checked against `alternativeCn`, and
   * without one the handshake fails unless `verifyHostname: false`).
   *
   * `''` (deprecated) also sends none but turns all verification off, as in Pingora; write
   * `options: { verifyCert: false }` instead.
   * @defaultValue `undefined`
   */
  sni?: string | undefined
  /** How to connect: a {@link PeerOptions} (used as is) or its plain-data form. */
  options?: PeerOptions | PeerOptionsInit | undefined
  /** The client certificate and key for mutual TLS. @defaultValue `undefined` */
  clientCertKey?: ClientCertKey | undefined
  /** Separates otherwise equal peers into different connection pools. @defaultValue `0` */
  groupKey?: number | undefined
}

/**
 * An HTTP(S) server to connect to: its address, scheme, SNI, optional client certificate and
 * {@link PeerOptions} (Pingora's `HttpPeer`, `pingora-core/src/upstreams/peer.rs`).
 *
 * Connections are shared only between peers with the same {@link HttpPeer.reuseHash}: the
 * address, scheme, SNI, client certificate, certificate and hostname verification,
 * alternative CN, CA, ALPN, curves, `bindTo`, `maxH2Streams` and group key all take part, so
 * peers with different TLS settings never share a connection. The hash is computed on first
 * use and cached; changing any of those fields (on the peer or on its `options`) invalidates
 * the cache.
 *
 * @example
 * ```ts
 * const peer = new HttpPeer('1.1.1.1:443', true, 'one.one.one.one')
 * peer.options.connectionTimeoutMs = 2_000
 * const local = new HttpPeer({ address: '127.0.0.1:8080', options: { idleTimeoutMs: 0 } })
 * const uds = HttpPeer.newUds('/run/app.sock', false, '')
 * ```
 */
export class HttpPeer implements Peer {
  /** Where the peer listens. */
  readonly address: PeerAddress
  /** How to connect; fields may be changed (see {@link PeerOptions}). */
  readonly options: PeerOptions

  #scheme: Scheme
  #sni: string
  #emptySniSkipsVerification: boolean
  #clientCertKey: ClientCertKey | undefined
  #groupKey: number
  #hash: string | undefined = undefined
  #hashVersion = -1

  /**
   * Creates a peer, the way Pingora's `HttpPeer::new(address, tls, sni)` does.
   * @param address - `'host:port'`, `'[::1]:port'`, a socket path, or an object with `addr`
   * @param tls - whether to speak TLS
   * @param sni - the SNI to send (TLS only); `undefined` for none (`''` is deprecated: it
   *   also turns verification off, see {@link HttpPeerInit.sni})
   */
  constructor(address: PeerAddressInput, tls: boolean, sni?: string | undefined)
  /**
   * Creates a peer from an options object.
   * @param init - address, tls, sni, options, client certificate, group key
   */
  constructor(init: HttpPeerInit)
  constructor(addressOrInit: PeerAddressInput | HttpPeerInit, tls?: boolean, sni?: string) {
    let init: HttpPeerInit
    if (tls === undefined && isInit(addressOrInit)) {
      init = addressOrInit
    } else {
      if (typeof tls !== 'boolean') {
        throw new TypeError('HttpPeer(address, tls, sni): tls must be a boolean')
      }
      init = { address: addressOrInit as PeerAddressInput, tls, sni }
    }
    this.address = parsePeerAddress(init.address)
    this.#scheme = init.tls === true ? 'https' : 'http'
    this.#sni = init.sni === undefined ? '' : checkSni(init.sni)
    this.#emptySniSkipsVerification = init.sni === ''
    this.#clientCertKey = init.clientCertKey
    this.#groupKey = checkGroupKey(init.groupKey ?? 0)
    this.options =
      init.options instanceof PeerOptions ? init.options : new PeerOptions(init.options)
  }

  /**
   * Creates a peer that listens on a Unix domain socket.
   * @param path - the socket path
   * @param tls - whether to speak TLS over the socket
   * @param sni - the SNI to send (TLS only); `undefined` for none
   */
  static newUds(path: string, tls: boolean, sni?: string | undefined): HttpPeer {
    return new HttpPeer({ address: { kind: 'unix', path: checkPath(path) }, tls, sni })
  }

  /**
   * Creates a TLS peer that presents a client certificate (Pingora's `HttpPeer::new_mtls`).
   * @param address - where the peer listens
   * @param sni - the SNI to send
   * @param clientCertKey - the client certificate and key
   */
  static newMtls(address: PeerAddressInput, sni: string, clientCertKey: ClientCertKey): HttpPeer {
    return new HttpPeer({ address, tls: true, sni, clientCertKey })
  }

  /** `'https'` when TLS is used, else `'http'`. */
  get scheme(): Scheme {
    return this.#scheme
  }
  set scheme(value: Scheme) {
    if (value !== 'http' && value !== 'https') {
      throw new TypeError(`scheme must be 'http' or 'https', got ${String(value)}`)
    }
    this.#scheme = value
    this.#hash = undefined
  }

  /**
   * The SNI to send when TLS is used; `''` when none is sent. Setting `undefined` sends none
   * and leaves verification to the options; setting `''` is deprecated (it also turns
   * verification off, see {@link HttpPeerInit.sni}).
   */
  get sni(): string {
    return this.#sni
  }
  set sni(value: string | undefined) {
    this.#sni = value === undefined ? '' : checkSni(value)
    this.#emptySniSkipsVerification = value === ''
    this.#hash = undefined
  }

  /**
   * Whether this peer was given the deprecated `sni: ''`, which turns certificate
   * verification off whatever the options say (Pingora's rule). `false` when no SNI was given
   * (`undefined`) or a name was.
   */
  get emptySniSkipsVerification(): boolean {
    return this.#emptySniSkipsVerification && this.#sni === ''
  }

  /** The client certificate and key for mutual TLS, if any. */
  get clientCertKey(): ClientCertKey | undefined {
    return this.#clientCertKey
  }
  set clientCertKey(value: ClientCertKey | undefined) {
    this.#clientCertKey = value
    this.#hash = undefined
  }

  /** Separates otherwise equal peers into different connection pools. */
  get groupKey(): number {
    return this.#groupKey
  }
  set groupKey(value: number) {
    this.#groupKey = checkGroupKey(value)
    this.#hash = undefined
  }

  /** Whether to speak TLS to the peer. */
  isTls(): boolean {
    return this.#scheme === 'https'
  }

  /**
   * The key that decides which pooled connections this peer may use. Cached; recomputed
   * only after a field that takes part in it changed.
   */
  reuseHash(): string {
    const version = this.options.version
    if (this.#hash === undefined || this.#hashVersion !== version) {
      this.#hash = this.#computeHash()
      this.#hashVersion = version
    }
    return this.#hash
  }

  /** `addr: 127.0.0.1:443, scheme: https, sni: example.com`, as Pingora prints a peer. */
  toString(): string {
    let out = `addr: ${formatPeerAddress(this.address)}, scheme: ${this.#scheme}`
    if (this.#sni !== '') out += `, sni: ${this.#sni}`
    if (this.#clientCertKey !== undefined) out += ', client cert: set'
    return out
  }

  #computeHash(): string {
    const options = this.options
    const bindTo = options.bindTo
    const address = this.address
    const proxyProtocol = options.proxyProtocol
    if (
      this.#scheme === 'http' &&
      bindTo === undefined &&
      proxyProtocol === undefined &&
      Object.isFrozen(address)
    ) {
      // Plain HTTP: the key depends only on the address, the group key and maxH2Streams.
      // Reusing the string built for the same (frozen, cached) address keeps its hash, so the
      // pool's lookups do not flatten and hash a new string for every per-request peer.
      const cached = plainKeys.get(address)
      const groupKey = this.#groupKey
      const maxH2Streams = options.maxH2Streams
      if (
        cached !== undefined &&
        cached.groupKey === groupKey &&
        cached.maxH2Streams === maxH2Streams
      ) {
        return cached.key
      }
      const key = `http\0${address.kind === 'unix' ? 'unix' : 'inet'}\0${addressKey(this)}\0http\0${groupKey}\0${maxH2Streams}`
      plainKeys.set(address, { groupKey, maxH2Streams, key })
      return key
    }
    // The key is the canonical description itself (fields separated by NUL, which none of
    // them can contain in practice): building it costs a few concatenations, where hashing it
    // would cost a digest per peer, and peers are usually built per request.
    let key = `http\0${this.address.kind === 'unix' ? 'unix' : 'inet'}\0${addressKey(this)}\0${this.#scheme}\0${this.#groupKey}\0${options.maxH2Streams}`
    if (bindTo !== undefined) key += `\0bind=${bindTo.address}:${bindTo.port ?? 0}`
    if (proxyProtocol !== undefined) key += `\0${proxyProtocolKey(proxyProtocol)}`
    // TLS settings only matter to TLS connections; leaving them out for plain HTTP lets peers
    // that differ only in (unused) TLS options share connections.
    if (this.#scheme === 'https') {
      const verifyCert = options.verifyCert && !this.emptySniSkipsVerification
      key += `\0${this.#sni}\0${verifyCert ? 'v1' : 'v0'}${options.verifyHostname ? 'h1' : 'h0'}\0${options.alternativeCn ?? ''}\0${options.alpn.join(',')}\0${options.curves ?? ''}`
      if (options.ca !== undefined) key += `\0ca=${digestTlsMaterial(options.ca)}`
      if (this.#clientCertKey !== undefined) {
        key += `\0cert=${digestClientCertKey(this.#clientCertKey)}`
      }
    }
    return key
  }
}

/** The last plain-HTTP reuse key built per address (see `HttpPeer.reuseHash`). */
interface PlainKey {
  readonly groupKey: number
  readonly maxH2Streams: number
  readonly key: string
}

const plainKeys = new WeakMap<PeerAddress, PlainKey>()

function addressKey(peer: HttpPeer): string {
  const address = peer.address
  return address.kind === 'unix' ? address.path : `${address.host}\0${address.port}`
}

function isInit(value: unknown): value is HttpPeerInit {
  return typeof value === 'object' && value !== null && 'address' in value
}

function checkSni(sni: string): string {
  if (typeof sni !== 'string') throw new TypeError(`sni must be a string, got ${typeof sni}`)
  return sni
}

function checkPath(path: string): string {
  if (typeof path !== 'string' || path.length === 0) {
    throw new TypeError('unix socket path must be a non-empty string')
  }
  return path
}

function checkGroupKey(value: number): number {
  if (!Number.isSafeInteger(value)) {
    throw new RangeError(`groupKey must be a safe integer, got ${String(value)}`)
  }
  return value
}
