import { X509Certificate } from 'node:crypto'
import type { PeerCertificate } from 'node:tls'
import { readCert } from '@pingora-ts/test-utils'
import { describe, expect, it } from 'vitest'
import { peerIdentity } from './tls-digest.ts'

describe('peerIdentity', () => {
  it('returns undefined for the empty object Node gives when there is no certificate', () => {
    expect(peerIdentity({} as PeerCertificate)).toBeUndefined()
    expect(peerIdentity(undefined)).toBeUndefined()
  })

  it('extracts subject, SANs, fingerprint and serial', () => {
    const x509 = new X509Certificate(readCert('client.pem'))
    const identity = peerIdentity({
      subject: { O: 'pingora-ts test', CN: 'client.test' },
      issuer: { O: 'pingora-ts test', CN: 'pingora-ts Test Client CA' },
      subjectaltname: x509.subjectAltName,
      serialNumber: x509.serialNumber,
      fingerprint256: x509.fingerprint256,
      valid_from: x509.validFrom,
      valid_to: x509.validTo,
    } as unknown as PeerCertificate)
    expect(identity).toEqual({
      subject: 'O=pingora-ts test, CN=client.test',
      commonName: 'client.test',
      organization: 'pingora-ts test',
      subjectAltNames: [
        'DNS:client.test',
        'URI:spiffe://pingora-ts.test/client',
        'email:client@pingora-ts.test',
      ],
      issuer: 'O=pingora-ts test, CN=pingora-ts Test Client CA',
      serialNumber: x509.serialNumber,
      fingerprint256: x509.fingerprint256,
      validFrom: x509.validFrom,
      validTo: x509.validTo,
    })
  })

  it('keeps repeated subject attributes', () => {
    const identity = peerIdentity({
      subject: { OU: ['a', 'b'], CN: 'x' },
      issuer: {},
      fingerprint256: 'AA',
      serialNumber: '01',
    } as unknown as PeerCertificate)
    expect(identity?.subject).toBe('OU=a, OU=b, CN=x')
    expect(identity?.subjectAltNames).toEqual([])
  })
})
