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
}

/** Options for {@link TlsSettings.watchFiles}. */
export interface WatchFilesOptions {
  /** Quiet time after the last file change before reloading. @defaultValue `200` */
  debounceMs?: number
}
