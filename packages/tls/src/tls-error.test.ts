import { describe, expect, it } from 'vitest'
import { tlsErrorToPingora } from './tls-error.ts'

const withCode = (code: string) => Object.assign(new Error(code), { code })

describe('tlsErrorToPingora', () => {
  it.each([
    'CERT_HAS_EXPIRED',
    'ERR_TLS_CERT_ALTNAME_INVALID',
    'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    'DEPTH_ZERO_SELF_SIGNED_CERT',
    'SELF_SIGNED_CERT_IN_CHAIN',
    'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
    'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE',
  ])('maps %s to InvalidCert', (code) => {
    const error = tlsErrorToPingora(withCode(code))
    expect(error.type).toBe('InvalidCert')
    expect(error.source).toBe('upstream')
    expect(error.retry).toBe(false)
  })

  it('maps other TLS errors to TLSHandshakeFailure with the cause and code', () => {
    const cause = withCode('ERR_SSL_WRONG_VERSION_NUMBER')
    const error = tlsErrorToPingora(cause, 'downstream', 'TLS handshake with 10.0.0.1:443')
    expect(error.type).toBe('TLSHandshakeFailure')
    expect(error.source).toBe('downstream')
    expect(error.cause).toBe(cause)
    expect(error.context).toBe('TLS handshake with 10.0.0.1:443: ERR_SSL_WRONG_VERSION_NUMBER')
  })

  it('maps errors without a code and non-errors to TLSHandshakeFailure', () => {
    expect(tlsErrorToPingora(new Error('socket hang up')).type).toBe('TLSHandshakeFailure')
    expect(tlsErrorToPingora('weird').type).toBe('TLSHandshakeFailure')
    expect(tlsErrorToPingora(undefined).context).toBe('TLS handshake')
  })

  it.each([
    'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA',
    'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED',
    'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE',
  ])('maps the alert %s from the peer to TLSHandshakeFailure, as Pingora does', (code) => {
    expect(tlsErrorToPingora(withCode(code)).type).toBe('TLSHandshakeFailure')
  })

  it('maps handshake timeouts to TLSHandshakeTimedout', () => {
    expect(tlsErrorToPingora(withCode('ERR_TLS_HANDSHAKE_TIMEOUT')).type).toBe(
      'TLSHandshakeTimedout',
    )
  })
})
