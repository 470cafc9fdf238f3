import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const dir = fileURLToPath(new URL('../certs/', import.meta.url))

/** A certificate and its private key, as absolute file paths. */
export interface CertPaths {
  /** PEM certificate; for server certs the leaf followed by the intermediate CA. */
  readonly cert: string
  /** PEM private key (PKCS#8). */
  readonly key: string
}

function pair(name: string): CertPaths {
  return { cert: `${dir}${name}.pem`, key: `${dir}${name}.key` }
}

/**
 * The checked-in test PKI (made by `scripts/gen-certs.sh`), as absolute paths. Test-only: the
 * private keys are public.
 *
 * Trust `ca` to verify every server cert; they are issued by `intermediate`, which each server
 * `.pem` carries after the leaf. Client certs are issued by `clientCa` (trusted) or
 * `untrustedCa`.
 */
export const certs = {
  /** Directory holding every file. */
  dir,
  /** Root CA that (through the intermediate) issued every server cert. */
  ca: `${dir}ca.pem`,
  /** Intermediate CA between `ca` and the server certs. */
  intermediate: pair('intermediate'),
  /** ECDSA P-256; `localhost`, `127.0.0.1`, `::1`. */
  localhost: pair('localhost'),
  /** RSA 2048; `localhost`, `127.0.0.1`, `::1`. */
  rsaLocalhost: pair('rsa-localhost'),
  /** ECDSA P-256; `a.test`. */
  aTest: pair('a.test'),
  /** ECDSA P-256; `b.test`. */
  bTest: pair('b.test'),
  /** ECDSA P-256; `*.wild.test`. */
  wildcard: pair('wild.test'),
  /** ECDSA P-256; `wrong.test` only. */
  wrongHost: pair('wrong-host'),
  /** ECDSA P-256; `expired.test`, `localhost`, `127.0.0.1`; valid in 2020 only. */
  expired: pair('expired'),
  /** CA for client certificates (mTLS). */
  clientCa: `${dir}client-ca.pem`,
  /** Client cert issued by `clientCa`: CN `client.test`, DNS, URI and email SANs. */
  client: pair('client'),
  /** A CA nobody trusts. */
  untrustedCa: `${dir}untrusted-ca.pem`,
  /** Client cert issued by `untrustedCa`. */
  untrustedClient: pair('untrusted-client'),
} as const

/**
 * Reads one file of the test PKI by its base name, e.g. `readCert('localhost.pem')` or
 * `readCert('localhost.key')`.
 * @param name - file name inside `certs/`
 */
export function readCert(name: string): Buffer {
  if (name.includes('/') || name.includes('\\'))
    throw new TypeError(`not a cert file name: ${name}`)
  return readFileSync(`${dir}${name}`)
}
