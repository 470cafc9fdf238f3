import {
  formatPeerAddress,
  type Peer,
  type PeerAddress,
  type PeerAddressInput,
  parsePeerAddress,
} from './peer.ts'
import { PeerOptions, type PeerOptionsInit, proxyProtocolKey } from './peer-options.ts'

/**
 * The simplest peer: an address, an optional SNI and {@link PeerOptions} (Pingora's
 * `BasicPeer`). TLS is used if and only if `sni` is not empty, and the reuse hash is the
 * address alone, as in Pingora; use {@link HttpPeer} when TLS settings must keep connections
 * apart.
 */
export class BasicPeer implements Peer {
  /** Where the peer listens. */
  readonly address: PeerAddress
  /** How to connect. */
  readonly options: PeerOptions
  /** The SNI to send; TLS is used if and only if it is not empty. */
  sni: string
  /** Always `undefined`: a basic peer presents no client certificate. */
  readonly clientCertKey: undefined = undefined

  readonly #hash: string

  /**
   * Creates a peer.
   * @param address - `'host:port'`, `'[::1]:port'`, a socket path, or an object with `addr`
   * @param options - how to connect
   */
  constructor(address: PeerAddressInput, options?: PeerOptions | PeerOptionsInit) {
    this.address = parsePeerAddress(address)
    this.options = options instanceof PeerOptions ? options : new PeerOptions(options)
    this.sni = ''
    this.#hash = `basic\0${formatPeerAddress(this.address)}`
  }

  /**
   * Creates a peer that listens on a Unix domain socket.
   * @param path - the socket path
   */
  static newUds(path: string): BasicPeer {
    if (typeof path !== 'string' || path.length === 0) {
      throw new TypeError('unix socket path must be a non-empty string')
    }
    return new BasicPeer({ kind: 'unix', path })
  }

  /** Whether to speak TLS: true when {@link BasicPeer.sni} is not empty. */
  isTls(): boolean {
    return this.sni !== ''
  }

  /** The reuse hash: the address, plus the PROXY protocol header to send when there is one. */
  reuseHash(): string {
    const proxyProtocol = this.options.proxyProtocol
    return proxyProtocol === undefined
      ? this.#hash
      : `${this.#hash}\0${proxyProtocolKey(proxyProtocol)}`
  }

  /** `addr: 127.0.0.1:80`. */
  toString(): string {
    return this.sni === ''
      ? `addr: ${formatPeerAddress(this.address)}`
      : `addr: ${formatPeerAddress(this.address)}, sni: ${this.sni}`
  }
}
