/**
 * TLS for pingora-ts on `node:tls` (OpenSSL): {@link TlsSettings} for listeners (Mozilla
 * "intermediate" profile, post-quantum key exchange when the runtime has it, SNI-selected and
 * callback-provided certificates, ALPN, mTLS, session tickets with key rotation, hot reload of
 * certificate files), {@link clientTlsOptions} for upstream connectors, {@link tlsDigest} for
 * what a connection negotiated, and {@link tlsErrorToPingora} for typed handshake errors.
 *
 * Use it through `@pingora-ts/core`'s listeners and connectors, or directly with
 * `tls.createServer(settings.toServerOptions())`. See the package README.
 *
 * @module @pingora-ts/tls
 * @packageDocumentation
 */
export { ALPN, type AlpnProtocols } from './alpn.ts'
export {
  type ClientHelloInfo,
  INCOMPLETE,
  parseClientHello,
  readClientHello,
} from './client-hello.ts'
export {
  attachKeylog,
  type ClientCertKey,
  type ClientTlsConnectorOptions,
  type ClientTlsPeer,
  clientTlsOptions,
} from './client-tls.ts'
export {
  CHANNEL_NAMES,
  channels,
  TLS_CHANNELS,
  type TlsOcspMessage,
  type TlsReloadMessage,
} from './diagnostics.ts'
export {
  CLASSICAL_GROUPS,
  DEFAULT_MAX_VERSION,
  DEFAULT_MIN_VERSION,
  defaultGroups,
  FFDHE2048_PEM,
  MOZILLA_INTERMEDIATE_CIPHERS,
  POST_QUANTUM_GROUP,
  SERVER_SECURE_OPTIONS,
  supportsGroup,
  supportsPostQuantum,
  TLS_HANDSHAKE_TIMEOUT_MS,
} from './profile.ts'
export {
  type PeerCertificateIdentity,
  peerIdentity,
  type TlsDigest,
  tlsDigest,
} from './tls-digest.ts'
export { TLS_CONFIG_ERROR, tlsErrorToPingora } from './tls-error.ts'
export type {
  CertificateCallback,
  CertificateRequest,
  CertificateResult,
  CertKeyPair,
  ClientAuthMode,
  ClientAuthOptions,
  HandshakeCompleteCallback,
  OcspStaplingOptions,
  PemSource,
  TlsSettingsOptions,
  WatchFilesOptions,
} from './tls-options.ts'
export { TlsSessionCache } from './tls-session-cache.ts'
export { TlsSettings } from './tls-settings.ts'
