// The options and callback types of TLS settings (what users pass), split out of
// tls-settings.ts; the index re-exports them.
import type tls from 'node:tls'
import type { PingoraError } from '@pingora-ts/error'
import type { AlpnProtocols } from './alpn.ts'
import type { TlsDigest } from './tls-digest.ts'

/**
 * PEM material: a `Buffer` or string holding PEM text, or a string that is a file path (any
 * string not starting with `-----BEGIN`). Paths are read when settings are built and on
 * {@link TlsSettings.reload}.
 */
export type PemSource = string | Buffer

/** A certificate chain (leaf first) with its private key, given in PEM (see {@link PemSource}). */
export interface CertKeyPair {
  /** Leaf certificate followed by intermediates. */
  readonly cert: PemSource
  /** Private key of the leaf. */
  readonly key: PemSource
}

/** What a certificate callback is told about the handshake it serves. */
export interface CertificateRequest {
  /** SNI server name the client sent (lower case). */
  readonly servername: string
  /** The server socket in its handshake, when `node:tls` provides it. */
  readonly socket: tls.TLSSocket | undefined
}

/**
 * What a certificate callback returns: a ready `SecureContext`, PEM cert and key (built into a
 * context with these settings and cached), or `undefined` to use the default certificate.
 */
export type CertificateResult = tls.SecureContext | CertKeyPair | undefined

/**
 * Picks the certificate for a handshake (Pingora's `TlsAccept::certificate_callback`). Runs
 * during the handshake, which waits for the returned promise; a rejection fails the handshake.
 * It is called for server names that match no certificate added with
 * {@link TlsSettings.addCertificate}.
 */
export type CertificateCallback = (
  servername: string,
  request: CertificateRequest,
) => CertificateResult | Promise<CertificateResult>

/**
 * Derives per-connection data after a downstream handshake completes (Pingora's
 * `TlsAccept::handshake_complete_callback`). Its return value becomes the digest's
 * `extension`; a throw or rejection fails the connection.
 */
export type HandshakeCompleteCallback = (socket: tls.TLSSocket, digest: TlsDigest) => unknown

/** Client certificate (mTLS) policy: `'request'` asks for one, `'require'` refuses clients without a valid one. */
export type ClientAuthMode = 'request' | 'require'

/** Client certificate verification settings. */
export interface ClientAuthOptions {
  /** CA certificates that client certificates must chain to. */
  readonly ca: PemSource | readonly PemSource[]
  /** Whether a valid client certificate is optional or mandatory. @defaultValue `'require'` */
  readonly mode?: ClientAuthMode
}

/**
 * Options for {@link TlsSettings}. Most have a setter too (`setMinVersion`, `setGroups`,
 * `setClientAuth`...); the session and timeout options are fixed at construction.
 */
export interface TlsSettingsOptions {
  /** Default certificate chain, used when no SNI name matches. */
  cert?: PemSource
  /** Private key of the default certificate. */
  key?: PemSource
  /** Lowest TLS version accepted. @defaultValue `'TLSv1.2'` */
  minVersion?: tls.SecureVersion
  /** Highest TLS version accepted. @defaultValue `'TLSv1.3'` */
  maxVersion?: tls.SecureVersion
  /** OpenSSL cipher string (TLS 1.3 suites and TLS 1.2 ciphers). @defaultValue {@link MOZILLA_INTERMEDIATE_CIPHERS} */
  ciphers?: string
  /** Key exchange groups in preference order. @defaultValue `defaultGroups()` (post-quantum first when supported) */
  groups?: readonly string[]
  /** ALPN preference. @defaultValue `ALPN.H1` */
  alpn?: AlpnProtocols
  /** Client certificate verification (mTLS). @defaultValue none */
  clientAuth?: ClientAuthOptions
  /** Issue session tickets so clients can resume. @defaultValue `true` */
  sessionTickets?: boolean
  /** Lifetime of a resumable session. @defaultValue `3_600_000` (1 hour) */
  sessionTimeoutMs?: number
  /** How often the session ticket key is replaced; `0` never. @defaultValue `43_200_000` (12 hours) */
  ticketKeyRotationMs?: number
  /** Handshake timeout applied by `tls.createServer`. @defaultValue {@link TLS_HANDSHAKE_TIMEOUT_MS} */
  handshakeTimeoutMs?: number
  /** Dynamic certificate lookup. @defaultValue none */
  certificateCallback?: CertificateCallback
  /** Derives per-connection data after the handshake. @defaultValue none */
  handshakeCompleteCallback?: HandshakeCompleteCallback
  /** Called when a reload (explicit or from {@link TlsSettings.watchFiles}) fails. */
  onReloadError?: (error: PingoraError) => void
  /** OCSP stapling of the default certificate. @defaultValue none (nothing is stapled) */
  ocspStapling?: OcspStaplingOptions
}

/**
 * OCSP stapling of the default certificate (the one served without SNI or for names no other
 * certificate matches): the listener sends a checked OCSP response in the handshake when the
 * client asks for one (`status_request`). A response is stapled only when it is successful,
 * says `good`, is for this certificate (serial, and issuer when known) and is valid now
 * (`nextUpdate` not past); otherwise nothing is stapled and the reason is published on
 * `pingora:tls:ocsp-failed`. Give a `responseFile`, `fetch: true`, or both (a valid fetched
 * response is preferred over the file's).
 */
export interface OcspStaplingOptions {
  /**
   * Path of a DER OCSP response for the default certificate (as written by
   * `openssl ocsp -respout`), read when the settings are built and on every
   * {@link TlsSettings.reload} (and watched by {@link TlsSettings.watchFiles}). An unreadable
   * file fails the build or reload; a response that does not pass the checks is not stapled.
   */
  readonly responseFile?: string
  /**
   * Fetch responses from the certificate's OCSP responder (its Authority Information Access
   * URL, or `responderUrl`) when the settings are first used, then every `refreshMs`. Needs the
   * issuer certificate: the second certificate of the chain, or `issuer`.
   * @defaultValue `false`
   */
  readonly fetch?: boolean
  /** Responder URL (`http:` or `https:`) used instead of the certificate's AIA URL. */
  readonly responderUrl?: string
  /** The issuer's certificate (PEM or path), when the chain does not carry it. */
  readonly issuer?: PemSource
  /**
   * How often a fetched response is replaced (sooner when half of its remaining validity is
   * shorter); after a failed fetch, the next try comes after at most 1 minute. From 1 s to 7 days.
   * @defaultValue `3_600_000` (1 hour)
   */
  readonly refreshMs?: number
  /** Timeout of one fetch, from 1 ms to 60 s. @defaultValue `5_000` */
  readonly timeoutMs?: number
  /** The clock (ms since the epoch) validity is checked against. @defaultValue `Date.now` */
  readonly now?: () => number
}

/** Options for {@link TlsSettings.watchFiles}. */
export interface WatchFilesOptions {
  /** Quiet time after the last file change before reloading. @defaultValue `200` */
  debounceMs?: number
}
