import { createHash } from 'node:crypto'
import { createWriteStream, readFileSync, type WriteStream } from 'node:fs'
import { isIP } from 'node:net'
import tls from 'node:tls'
import { resolveGroups } from './profile.ts'
import { tlsConfigError } from './tls-error.ts'
import type { PemSource } from './tls-options.ts'

/** A client certificate and key for upstream mTLS, in PEM (not paths). */
export interface ClientCertKey {
  /** Client certificate chain, PEM. */
  readonly cert: string | Buffer
  /** Private key, PEM. */
  readonly key: string | Buffer
}

/**
 * The TLS-relevant part of an upstream peer (Pingora's `Peer` TLS accessors and `PeerOptions`).
 * Core's `HttpPeer` maps onto it.
 */
export interface ClientTlsPeer {
  /**
   * The server name to send (SNI) and to verify the certificate against; `''` sends none.
   *
   * With `''` and no explicit {@link ClientTlsPeer.verifyCert}, verification is off (Pingora's
   * rule). That implicit switch is deprecated: say `verifyCert: false` to turn verification
   * off. With `''` and `verifyCert: true`, the chain is verified and the host name is checked
   * against `alternativeCn`; with no name to check, the handshake fails unless
   * `verifyHostname: false`.
   */
  readonly sni: string
  /**
   * Verify the certificate chain. @defaultValue `true`, but `false` when `sni` is `''`
   * (deprecated: give it explicitly)
   */
  readonly verifyCert?: boolean | undefined
  /**
   * Verify that the certificate matches `sni` (or `alternativeCn`). Only applies when the chain
   * is verified. @defaultValue `true`
   */
  readonly verifyHostname?: boolean | undefined
  /** Another name the certificate may match instead of `sni`. */
  readonly alternativeCn?: string
  /** Trusted CAs for this peer, PEM. @defaultValue the connector's `caFile`, else the system store */
  readonly ca?: string | Buffer | readonly (string | Buffer)[]
  /** Client certificate for mTLS. @defaultValue the connector's `certKeyFile` */
  readonly certKey?: ClientCertKey
  /** ALPN protocols to offer, in order. @defaultValue none (HTTP/1.1) */
  readonly alpn?: readonly string[]
  /** Key exchange groups (Pingora's `curves`). @defaultValue OpenSSL's defaults */
  readonly groups?: readonly string[]
}

/** Connector-wide TLS options (Pingora's `ConnectorOptions` TLS fields). */
export interface ClientTlsConnectorOptions {
  /** CA bundle file used when a peer has no `ca`. @defaultValue the system store */
  readonly caFile?: string
  /** Default client certificate and key files for mTLS. */
  readonly certKeyFile?: { readonly certPath: PemSource; readonly keyPath: PemSource }
  /** Write TLS secrets to `SSLKEYLOGFILE` (Pingora's `debug_ssl_keylog`); see {@link attachKeylog}. @defaultValue `false` */
  readonly debugSslKeylog?: boolean
}

/** Bound on cached client contexts (one per distinct CA / client cert / groups combination). */
const CONTEXT_CACHE_SIZE = 256
const contextCache = new Map<string, tls.SecureContext>()
const contentIds = new WeakMap<Buffer, string>()
const stringIds = new Map<string, string>()
const fileCache = new Map<string, Buffer>()

/**
 * Builds `tls.connect` options for an upstream peer: SNI, verification (chain and hostname, with
 * `alternativeCn` and Pingora's leftmost-underscore tolerance), ALPN and a `SecureContext`
 * cached per distinct CA / client certificate / groups. CA precedence: the peer's `ca`, then the
 * connector's `caFile`, then the system store. Errors from the resulting socket map through
 * {@link tlsErrorToPingora}.
 * @param peer - the peer's TLS settings
 * @param connector - connector-wide defaults
 */
export function clientTlsOptions(
  peer: ClientTlsPeer,
  connector: ClientTlsConnectorOptions = {},
): tls.ConnectionOptions {
  if (typeof peer?.sni !== 'string') throw new TypeError('peer.sni must be a string')
  const sni = peer.sni
  // Pingora: an empty SNI turns verification off entirely, unless `verifyCert` says otherwise.
  const verifyCert = peer.verifyCert ?? sni !== ''
  const verifyHostname = verifyCert && peer.verifyHostname !== false
  const options: tls.ConnectionOptions = {
    secureContext: clientContext(peer, connector),
    // RFC 6066 §3: SNI carries host names only; an IP is still verified against IP SANs.
    servername: sni === '' || isIP(sni) !== 0 ? undefined : sni,
    rejectUnauthorized: verifyCert,
    checkServerIdentity: verifyHostname
      ? hostnameChecker(sni, peer.alternativeCn)
      : skipHostnameCheck,
  }
  if (peer.alpn !== undefined && peer.alpn.length > 0) options.ALPNProtocols = [...peer.alpn]
  return options
}

/** The host name check failed for want of a name (an `InvalidCert` once mapped). */
function noNameError(): Error {
  return Object.assign(
    new Error(
      'no name to verify the certificate against: set sni or alternativeCn, or verifyHostname: false',
    ),
    { code: 'ERR_TLS_CERT_ALTNAME_INVALID' },
  )
}

function skipHostnameCheck(): undefined {
  return undefined
}

function hostnameChecker(
  sni: string,
  alternativeCn: string | undefined,
): (host: string, cert: tls.PeerCertificate) => Error | undefined {
  if (sni === '') {
    // No SNI: the only name to check is `alternativeCn`; with none, fail closed.
    return (_host, cert) =>
      alternativeCn === undefined ? noNameError() : tls.checkServerIdentity(alternativeCn, cert)
  }
  return (_host, cert) => {
    const first = tls.checkServerIdentity(sni, cert)
    if (first === undefined) return undefined
    for (const name of candidateNames(sni, alternativeCn)) {
      if (tls.checkServerIdentity(name, cert) === undefined) return undefined
    }
    return first
  }
}

/** Pingora also accepts a leftmost label with `_` replaced by `-` (certificates cannot hold `_`). */
function candidateNames(sni: string, alternativeCn: string | undefined): string[] {
  const names: string[] = []
  const underscored = replaceLeftmostUnderscore(sni)
  if (underscored !== undefined) names.push(underscored)
  if (alternativeCn !== undefined && alternativeCn !== '') {
    names.push(alternativeCn)
    const alt = replaceLeftmostUnderscore(alternativeCn)
    if (alt !== undefined) names.push(alt)
  }
  return names
}

function replaceLeftmostUnderscore(name: string): string | undefined {
  const dot = name.indexOf('.')
  const label = dot === -1 ? name : name.slice(0, dot)
  if (!label.includes('_')) return undefined
  return label.replaceAll('_', '-') + (dot === -1 ? '' : name.slice(dot))
}

function clientContext(
  peer: ClientTlsPeer,
  connector: ClientTlsConnectorOptions,
): tls.SecureContext {
  // node:tls takes PEM strings and Buffers alike, so nothing is converted; ids are memoised.
  let ca: readonly (string | Buffer)[] | undefined
  if (peer.ca !== undefined) {
    ca = Array.isArray(peer.ca) ? peer.ca : [peer.ca as string | Buffer]
  } else if (connector.caFile !== undefined) {
    ca = [readCached(connector.caFile)]
  }
  let certKey: { cert: string | Buffer; key: string | Buffer } | undefined
  if (peer.certKey !== undefined) {
    certKey = peer.certKey
  } else if (connector.certKeyFile !== undefined) {
    certKey = {
      cert: pemOrFile(connector.certKeyFile.certPath),
      key: pemOrFile(connector.certKeyFile.keyPath),
    }
  }
  const groups = peer.groups === undefined ? undefined : resolveGroups(peer.groups).join(':')
  let key = ca === undefined ? 'system' : contentId(ca[0] ?? '')
  if (ca !== undefined) for (let i = 1; i < ca.length; i++) key += `,${contentId(ca[i] ?? '')}`
  if (certKey !== undefined) key += `|${contentId(certKey.cert)}/${contentId(certKey.key)}`
  if (groups !== undefined) key += `|${groups}`
  let ctx = contextCache.get(key)
  if (ctx !== undefined) return ctx
  try {
    ctx = tls.createSecureContext({
      ca: ca === undefined ? undefined : [...ca],
      cert: certKey?.cert,
      key: certKey?.key,
      ecdhCurve: groups,
    })
  } catch (error) {
    throw tlsConfigError('failed to build upstream TLS context', error)
  }
  if (contextCache.size >= CONTEXT_CACHE_SIZE) {
    const oldest = contextCache.keys().next()
    if (oldest.done !== true) contextCache.delete(oldest.value)
  }
  contextCache.set(key, ctx)
  return ctx
}

function pemOrFile(source: PemSource): Buffer {
  if (typeof source !== 'string') return source
  return source.trimStart().startsWith('-----BEGIN') ? Buffer.from(source) : readCached(source)
}

function readCached(path: string): Buffer {
  let data = fileCache.get(path)
  if (data === undefined) {
    try {
      data = readFileSync(path)
    } catch (error) {
      throw tlsConfigError(`failed to read ${path}`, error)
    }
    fileCache.set(path, data)
  }
  return data
}

/** A short content hash, memoised per Buffer (weakly) and per string (bounded). */
function contentId(data: string | Buffer): string {
  if (typeof data === 'string') {
    let id = stringIds.get(data)
    if (id === undefined) {
      id = createHash('sha256').update(data).digest('base64')
      if (stringIds.size >= CONTEXT_CACHE_SIZE) stringIds.clear()
      stringIds.set(data, id)
    }
    return id
  }
  let id = contentIds.get(data)
  if (id === undefined) {
    id = createHash('sha256').update(data).digest('base64')
    contentIds.set(data, id)
  }
  return id
}

const keylogStreams = new Map<string, WriteStream>()

/**
 * Appends the TLS secrets of a socket to a key log file (NSS format, for Wireshark) through
 * the socket's `keylog` event. Used by connectors when `debugSslKeylog` is on.
 * @param socket - a client TLS socket, before its handshake
 * @param path - the key log file @defaultValue `process.env.SSLKEYLOGFILE`
 * @returns whether a key log file was configured
 */
export function attachKeylog(
  socket: tls.TLSSocket,
  path: string | undefined = process.env.SSLKEYLOGFILE,
): boolean {
  if (path === undefined || path === '') return false
  let stream = keylogStreams.get(path)
  if (stream === undefined) {
    stream = createWriteStream(path, { flags: 'a', mode: 0o600 })
    stream.on('error', () => undefined)
    keylogStreams.set(path, stream)
  }
  const out = stream
  socket.on('keylog', (line: Buffer) => {
    out.write(line)
  })
  return true
}
