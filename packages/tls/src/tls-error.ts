import { type ErrorSource, ErrorType, PingoraError } from '@pingora-ts/error'

/** Error type for unusable TLS configuration: unreadable, malformed or mismatched cert/key. */
export const TLS_CONFIG_ERROR = 'TLSConfigError'

/**
 * OpenSSL / Node error codes that mean "the peer's certificate failed *our* verification"; they
 * map to `InvalidCert`. Alerts received from the peer about our certificate (`..._ALERT_BAD_
 * CERTIFICATE`, `..._ALERT_UNKNOWN_CA`...) stay `TLSHandshakeFailure`, as in Pingora, which
 * reports `InvalidCert` only when its own verification failed.
 */
const CERT_ERROR_CODES: ReadonlySet<string> = new Set([
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_REVOKED',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_CHAIN_TOO_LONG',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'INVALID_CA',
  'INVALID_PURPOSE',
  'PATH_LENGTH_EXCEEDED',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'ERR_TLS_CERT_ALTNAME_FORMAT',
  'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE',
])

const TIMEOUT_CODES: ReadonlySet<string> = new Set([
  'ERR_TLS_HANDSHAKE_TIMEOUT',
  'TLSHandshakeTimedout',
])

/**
 * Maps an error from a TLS handshake to a {@link PingoraError}: certificate verification
 * failures (`CERT_HAS_EXPIRED`, `ERR_TLS_CERT_ALTNAME_INVALID`, `UNABLE_TO_VERIFY_LEAF_SIGNATURE`,
 * `DEPTH_ZERO_SELF_SIGNED_CERT`...) become `InvalidCert`, handshake timeouts
 * `TLSHandshakeTimedout`, anything else `TLSHandshakeFailure`. A `PingoraError` is returned as
 * it is. The original error is the `cause`.
 * @param error - what the TLS socket emitted or threw
 * @param source - who the handshake was with: `'upstream'` (connector) or `'downstream'` (listener)
 * @param context - what was being done, e.g. `'TLS handshake with 10.0.0.1:443'`
 */
export function tlsErrorToPingora(
  error: unknown,
  source: ErrorSource = 'upstream',
  context = 'TLS handshake',
): PingoraError {
  if (PingoraError.is(error)) return error
  const code = errorCode(error)
  let type: ErrorType = ErrorType.TLSHandshakeFailure
  if (code !== undefined && CERT_ERROR_CODES.has(code)) type = ErrorType.InvalidCert
  else if (code !== undefined && TIMEOUT_CODES.has(code)) type = ErrorType.TLSHandshakeTimedout
  return new PingoraError(type, {
    source,
    context: code ? `${context}: ${code}` : context,
    cause: error,
  })
}

function errorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined
  const code = (error as { code?: unknown }).code
  return typeof code === 'string' ? code : undefined
}

/**
 * Builds the `TLSConfigError` thrown for unusable certificate or key material.
 * @internal
 */
export function tlsConfigError(context: string, cause?: unknown): PingoraError {
  return new PingoraError(ErrorType.Custom(TLS_CONFIG_ERROR), {
    source: 'internal',
    context,
    cause,
  })
}
