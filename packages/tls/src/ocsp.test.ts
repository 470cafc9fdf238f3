import { describe, expect, it } from 'vitest'
import { checkOcspResponse, ocspRequest } from './ocsp.ts'

const id = { serial: Buffer.from([0x17]), issuerNameHash: undefined, issuerKeyHash: undefined }

describe('checkOcspResponse', () => {
  it('refuses DER that is not an OCSPResponse', () => {
    expect(() => checkOcspResponse(Buffer.from('0400', 'hex'), id, Date.now())).toThrow(
      'OCSP: OCSPResponse expected',
    )
  })

  it('refuses a response whose status is not successful (tryLater)', () => {
    // OCSPResponse { responseStatus tryLater(3) }, without responseBytes.
    const tryLater = Buffer.from('30030a0103', 'hex')
    expect(() => checkOcspResponse(tryLater, id, Date.now())).toThrow(
      'OCSP: response status 3 (not successful)',
    )
  })

  it('refuses a truncated response', () => {
    expect(() => checkOcspResponse(Buffer.from('3010', 'hex'), id, Date.now())).toThrow(
      'truncated DER',
    )
  })
})

describe('ocspRequest', () => {
  it('needs the issuer', () => {
    expect(() => ocspRequest(id)).toThrow('OCSP: the issuer certificate is needed')
  })

  it('encodes one SHA-1 CertID for the serial', () => {
    const request = ocspRequest({
      serial: Buffer.from([0x17]),
      issuerNameHash: Buffer.alloc(20, 1),
      issuerKeyHash: Buffer.alloc(20, 2),
    })
    // SEQUENCE { SEQUENCE { SEQUENCE { SEQUENCE { CertID } } } }, CertID = 11 + 22 + 22 + 3 bytes.
    expect(request.subarray(0, 10).toString('hex')).toBe('30423040303e303c303a')
    expect(request.subarray(-3).toString('hex')).toBe('020117')
  })
})
