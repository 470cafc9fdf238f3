import { createHash } from 'node:crypto'
import net from 'node:net'
import type { ClientCertKey } from '@pingora-ts/tls'
import type { CaCertificates, PeerOptions } from './peer-options.ts'

/**
 * Where a peer listens: an IP (or host name) and port, or a Unix socket path.
 *
 * `family` is 4 or 6 for IP literals and 0 for a host name, which Node resolves on each
 * connect.
 */
export type PeerAddress =
  | {
      readonly kind: 'inet'
      readonly host: string
      readonly port: number
      readonly family: 0 | 4 | 6
    }
  | { readonly kind: 'unix'; readonly path: string }

/**
 * What may name a peer's address: `'host:port'`, `'[::1]:8080'`, `'unix:/path'` or an absolute
 * socket path, an already parsed {@link PeerAddress}, or any object with an `addr` string
 * (such as a load-balancing `Backend`).
 */
export type PeerAddressInput = string | PeerAddress | { readonly addr: string }

/**
 * Where and how to connect to a remote server (Pingora's `Peer` trait). The connectors accept
 * anything that satisfies it; {@link HttpPeer} and {@link BasicPeer} are the built-in ones.
 */
export interface Peer {
  /** The address to connect to. */
  readonly address: PeerAddress
  /** The SNI to send when TLS is used; `''` sends none. */
  readonly sni: string
  /**
   * Whether an empty {@link Peer.sni} turns certificate verification off (Pingora's rule,
   * deprecated). Absent counts as `true`, so peers written before this member keep their
   * behaviour; {@link HttpPeer} sets it only for an explicit `sni: ''`, so a peer without SNI is
   * verified as its options say.
   */
  readonly emptySniSkipsVerification?: boolean | undefined
  /** How to connect. */
  readonly options: PeerOptions
  /** The client certificate and key for mutual TLS, if any. */
  readonly clientCertKey: ClientCertKey | undefined
  /** Whether to speak TLS to the peer. */
  isTls(): boolean
  /**
   * The key that decides which pooled connections this peer may use: two peers share
   * connections if and only if their reuse hashes are equal. An opaque string; compare it
   * only for equality.
   */
  reuseHash(): string
  /** A short description for logs and error contexts. */
  toString(): string
}

/**
 * Parses a peer address.
 * @param input - `'host:port'`, `'[v6]:port'`, `'unix:/path'`, an absolute path, a
 *   {@link PeerAddress} or an object with an `addr` string
 * @throws TypeError when the address is malformed
 * @throws RangeError when the port is not from 1 to 65535
 */
export function parsePeerAddress(input: PeerAddressInput): PeerAddress {
  if (typeof input === 'object' && input !== null) {
    if ('kind' in input) return input
    if (typeof input.addr === 'string') return parsePeerAddress(input.addr)
    throw new TypeError('peer address object must have an addr string')
  }
  if (typeof input !== 'string') {
    throw new TypeError(`peer address must be a string, got ${typeof input}`)
  }
  // Peers are usually built per request from a handful of addresses: parse each once.
  let parsed = parsedAddresses.get(input)
  if (parsed === undefined) {
    parsed = parseAddressString(input)
    if (parsedAddresses.size >= PARSED_ADDRESSES_MAX) parsedAddresses.clear()
    parsedAddresses.set(input, parsed)
  }
  return parsed
}

const parsedAddresses = new Map<string, PeerAddress>()
const PARSED_ADDRESSES_MAX = 1024

function parseAddressString(input: string): PeerAddress {
  if (input.startsWith('unix:')) return unixAddress(input.slice(5))
  if (input.startsWith('/')) return unixAddress(input)
  let host: string
  let portText: string
  if (input.startsWith('[')) {
    const close = input.indexOf(']')
    if (close < 0 || input.charCodeAt(close + 1) !== 58 /* : */) throw badAddress(input)
    host = input.slice(1, close)
    portText = input.slice(close + 2)
    if (net.isIPv6(host) === false) throw badAddress(input)
  } else {
    const colon = input.lastIndexOf(':')
    if (colon <= 0) throw badAddress(input)
    host = input.slice(0, colon)
    portText = input.slice(colon + 1)
    // An unbracketed IPv6 address is ambiguous: `::1:80` could be `[::1]:80` or `[::1:80]`.
    if (host.includes(':')) throw badAddress(input)
  }
  if (!/^[0-9]{1,5}$/.test(portText)) throw badAddress(input)
  const port = Number(portText)
  if (port < 1 || port > 65535) {
    throw new RangeError(`peer port must be from 1 to 65535, got ${port} in "${input}"`)
  }
  const family = net.isIP(host)
  if (family === 0 && !/^[A-Za-z0-9_.-]+$/.test(host)) throw badAddress(input)
  return Object.freeze({ kind: 'inet', host, port, family: family as 0 | 4 | 6 })
}

/**
 * Renders an address the way it is written: `127.0.0.1:80`, `[::1]:80`, `unix:/run/x.sock`.
 * @param address - the address
 */
export function formatPeerAddress(address: PeerAddress): string {
  if (address.kind === 'unix') return `unix:${address.path}`
  return address.family === 6
    ? `[${address.host}]:${address.port}`
    : `${address.host}:${address.port}`
}

function unixAddress(path: string): PeerAddress {
  if (path.length === 0) throw new TypeError('unix socket path must not be empty')
  return Object.freeze({ kind: 'unix', path })
}

function badAddress(input: string): TypeError {
  return new TypeError(
    `invalid peer address "${input}": expected host:port, [ipv6]:port or a unix socket path`,
  )
}

// Digests of TLS material, so a CA bundle is hashed once rather than on every peer built
// from it. Objects (buffers, arrays) are keyed by identity; strings by value in a bounded map.
const objectDigests = new WeakMap<object, string>()
const stringDigests = new Map<string, string>()
const STRING_DIGESTS_MAX = 256

/**
 * A stable digest of TLS material (`ca`, certificates, keys) for the reuse hash.
 * @internal
 */
export function digestTlsMaterial(material: CaCertificates | undefined): string {
  if (material === undefined) return ''
  if (typeof material === 'string') {
    let digest = stringDigests.get(material)
    if (digest === undefined) {
      digest = createHash('sha256').update(material).digest('base64url')
      if (stringDigests.size >= STRING_DIGESTS_MAX) stringDigests.clear()
      stringDigests.set(material, digest)
    }
    return digest
  }
  let digest = objectDigests.get(material as object)
  if (digest === undefined) {
    const hash = createHash('sha256')
    if (Buffer.isBuffer(material)) {
      hash.update(material)
    } else {
      const list = material as ReadonlyArray<string | Buffer>
      for (let i = 0; i < list.length; i++) {
        hash.update(list[i] as string | Buffer)
        hash.update('\0')
      }
    }
    digest = hash.digest('base64url')
    objectDigests.set(material as object, digest)
  }
  return digest
}

/**
 * A digest of a client certificate and key for the reuse hash.
 * @internal
 */
export function digestClientCertKey(certKey: ClientCertKey | undefined): string {
  if (certKey === undefined) return ''
  return `${digestTlsMaterial(certKey.cert)}/${digestTlsMaterial(certKey.key)}`
}
