// OCSP stapling support: just enough DER to build an OCSP request for a certificate (RFC 6960
// §4.1) and to check a response before it is stapled (status, certificate serial and issuer,
// validity window), plus the fetch from the certificate's responder. Signatures are checked by
// the client that receives the staple, as with any OCSP response.
import { createHash, X509Certificate } from 'node:crypto'
import http from 'node:http'
import https from 'node:https'

/** A DER element: its tag, where its content starts and ends, and where the element ends. */
interface Der {
  tag: number
  start: number
  end: number
  /** Start of the element (tag byte), for the raw bytes of a whole element. */
  at: number
}

function readDer(data: Uint8Array, at: number, limit = data.length): Der {
  if (at + 2 > limit) throw new Error('truncated DER')
  const tag = data[at] as number
  let length = data[at + 1] as number
  let start = at + 2
  if (length & 0x80) {
    const count = length & 0x7f
    if (count === 0 || count > 4 || start + count > limit) throw new Error('bad DER length')
    length = 0
    for (let i = 0; i < count; i++) length = length * 256 + (data[start + i] as number)
    start += count
  }
  const end = start + length
  if (end > limit) throw new Error('truncated DER')
  return { tag, start, end, at }
}

/** The child elements of a constructed element. */
function children(data: Uint8Array, parent: Der): Der[] {
  const list: Der[] = []
  for (let at = parent.start; at < parent.end; ) {
    const child = readDer(data, at, parent.end)
    list.push(child)
    at = child.end
  }
  return list
}

function expect(element: Der | undefined, tag: number, what: string): Der {
  if (element === undefined || element.tag !== tag) throw new Error(`OCSP: ${what} expected`)
  return element
}

const SEQUENCE = 0x30
const OCTET_STRING = 0x04
const INTEGER = 0x02
const ENUMERATED = 0x0a
const GENERALIZED_TIME = 0x18
const BIT_STRING = 0x03
const OID = 0x06
// id-pkix-ocsp-basic, 1.3.6.1.5.5.7.48.1.1
const OCSP_BASIC = Buffer.from('2b0601050507300101', 'hex')
// SHA-1 AlgorithmIdentifier (1.3.14.3.2.26, NULL): what responders expect in a CertID.
const SHA1_ALGORITHM = Buffer.from('300906052b0e03021a0500', 'hex')

function derOf(tag: number, content: Buffer): Buffer {
  const n = content.length
  const length =
    n < 0x80
      ? Buffer.from([n])
      : n < 0x100
        ? Buffer.from([0x81, n])
        : Buffer.from([0x82, n >> 8, n & 0xff])
  return Buffer.concat([Buffer.from([tag]), length, content])
}

function generalizedTime(data: Uint8Array, element: Der): number {
  // YYYYMMDDHHMMSS[.fff]Z (RFC 5280 §4.1.2.5.2: always UTC, with seconds)
  const text = Buffer.from(data.subarray(element.start, element.end)).toString('latin1')
  const match = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.\d+)?Z$/.exec(text)
  if (match === null) throw new Error(`OCSP: bad time ${text}`)
  const [, y, mo, d, h, mi, s] = match.map(Number) as number[]
  return Date.UTC(y as number, (mo as number) - 1, d, h, mi, s)
}

/** What identifies a certificate in OCSP: its serial and its issuer's name and key hashes. */
export interface OcspCertificateId {
  /** The certificate's serial number (DER INTEGER content bytes). */
  readonly serial: Buffer
  /** SHA-1 of the issuer's subject name (DER), or `undefined` when the issuer is unknown. */
  readonly issuerNameHash: Buffer | undefined
  /** SHA-1 of the issuer's public key bits, or `undefined` when the issuer is unknown. */
  readonly issuerKeyHash: Buffer | undefined
}

/** The fields of a TBSCertificate used here: serial, subject name and public key bits. */
function certificateParts(der: Buffer): { serial: Buffer; subject: Buffer; keyBits: Buffer } {
  const certificate = expect(readDer(der, 0), SEQUENCE, 'certificate')
  const tbs = expect(children(der, certificate)[0], SEQUENCE, 'tbsCertificate')
  const fields = children(der, tbs)
  // version [0] EXPLICIT is optional (absent for v1).
  const skip = fields[0]?.tag === 0xa0 ? 1 : 0
  const serial = expect(fields[skip], INTEGER, 'serial')
  const subject = expect(fields[skip + 4], SEQUENCE, 'subject')
  const spki = expect(fields[skip + 5], SEQUENCE, 'subjectPublicKeyInfo')
  const bits = expect(children(der, spki)[1], BIT_STRING, 'subjectPublicKey')
  return {
    serial: der.subarray(serial.start, serial.end),
    subject: der.subarray(subject.at, subject.end),
    // BIT STRING content starts with the count of unused bits (0 for keys).
    keyBits: der.subarray(bits.start + 1, bits.end),
  }
}

/**
 * The OCSP identity of a certificate.
 * @param leaf - the certificate (DER)
 * @param issuer - its issuer's certificate (DER), when known
 */
export function ocspCertificateId(leaf: Buffer, issuer: Buffer | undefined): OcspCertificateId {
  const { serial } = certificateParts(leaf)
  if (issuer === undefined) {
    return { serial, issuerNameHash: undefined, issuerKeyHash: undefined }
  }
  const parts = certificateParts(issuer)
  return {
    serial,
    issuerNameHash: createHash('sha1').update(parts.subject).digest(),
    issuerKeyHash: createHash('sha1').update(parts.keyBits).digest(),
  }
}

/**
 * Builds a DER OCSP request (RFC 6960 §4.1.1, no nonce, so responders can cache) for one
 * certificate. The issuer must be known.
 * @param id - from {@link ocspCertificateId} with an issuer
 */
export function ocspRequest(id: OcspCertificateId): Buffer {
  if (id.issuerNameHash === undefined || id.issuerKeyHash === undefined) {
    throw new Error('OCSP: the issuer certificate is needed to build a request')
  }
  const certId = derOf(
    SEQUENCE,
    Buffer.concat([
      SHA1_ALGORITHM,
      derOf(OCTET_STRING, id.issuerNameHash),
      derOf(OCTET_STRING, id.issuerKeyHash),
      derOf(INTEGER, id.serial),
    ]),
  )
  const request = derOf(SEQUENCE, certId)
  const requestList = derOf(SEQUENCE, request)
  const tbsRequest = derOf(SEQUENCE, requestList)
  return derOf(SEQUENCE, tbsRequest)
}

/** A checked OCSP response, ready to staple. */
export interface OcspStaple {
  /** The DER response, as served. */
  readonly response: Buffer
  /** When the response was made (`thisUpdate`), ms since the epoch. */
  readonly thisUpdateMs: number
  /** When it stops being valid (`nextUpdate`), ms since the epoch; `undefined`: no end given. */
  readonly nextUpdateMs: number | undefined
  /** The certificate serial it answers for (hex). */
  readonly serial: string
}

/** How much clock skew is tolerated on `thisUpdate` (a responder slightly ahead of us). */
const SKEW_MS = 5 * 60_000

/**
 * Checks a DER OCSP response for stapling: a successful basic response with a single response
 * for this certificate (serial, and issuer hashes when the issuer is known) whose status is
 * `good` and which is valid now (`thisUpdate` not in the future beyond 5 min of skew,
 * `nextUpdate` not past). The signature is not checked here (the client checks it).
 * @param response - DER OCSPResponse
 * @param id - the certificate it must be for
 * @param nowMs - the current time
 * @throws Error naming what is wrong
 */
export function checkOcspResponse(
  response: Buffer,
  id: OcspCertificateId,
  nowMs: number,
): OcspStaple {
  const top = expect(readDer(response, 0), SEQUENCE, 'OCSPResponse')
  if (top.end !== response.length) throw new Error('OCSP: trailing bytes after the response')
  const [status, bytes] = children(response, top)
  const statusElement = expect(status, ENUMERATED, 'responseStatus')
  const code = response[statusElement.start]
  if (statusElement.end - statusElement.start !== 1 || code !== 0) {
    throw new Error(`OCSP: response status ${String(code)} (not successful)`)
  }
  const wrapper = expect(bytes, 0xa0, 'responseBytes')
  const responseBytes = expect(children(response, wrapper)[0], SEQUENCE, 'responseBytes')
  const [type, octets] = children(response, responseBytes)
  const oid = expect(type, OID, 'responseType')
  if (!response.subarray(oid.start, oid.end).equals(OCSP_BASIC)) {
    throw new Error('OCSP: not a basic OCSP response')
  }
  const inner = expect(octets, OCTET_STRING, 'response')
  const basic = expect(readDer(response, inner.start, inner.end), SEQUENCE, 'BasicOCSPResponse')
  const tbs = expect(children(response, basic)[0], SEQUENCE, 'tbsResponseData')
  const fields = children(response, tbs)
  const skip = fields[0]?.tag === 0xa0 ? 1 : 0
  // responderID, producedAt, responses
  const responses = expect(fields[skip + 2], SEQUENCE, 'responses')
  const serialHex = id.serial.toString('hex')
  for (const single of children(response, responses)) {
    const [certId, certStatus, thisUpdate, next] = children(
      response,
      expect(single, SEQUENCE, 'SingleResponse'),
    )
    const idFields = children(response, expect(certId, SEQUENCE, 'CertID'))
    const nameHash = expect(idFields[1], OCTET_STRING, 'issuerNameHash')
    const keyHash = expect(idFields[2], OCTET_STRING, 'issuerKeyHash')
    const serial = expect(idFields[3], INTEGER, 'serialNumber')
    if (!response.subarray(serial.start, serial.end).equals(id.serial)) continue
    const hashAlgorithm = response.subarray(idFields[0]?.at ?? 0, idFields[0]?.end ?? 0)
    // Issuer hashes can only be compared when they are SHA-1 ones (what we and most ask for).
    if (id.issuerNameHash !== undefined && hashAlgorithm.equals(SHA1_ALGORITHM)) {
      const sameIssuer =
        response.subarray(nameHash.start, nameHash.end).equals(id.issuerNameHash) &&
        response.subarray(keyHash.start, keyHash.end).equals(id.issuerKeyHash as Buffer)
      if (!sameIssuer) continue
    }
    // certStatus: good [0] IMPLICIT NULL, revoked [1], unknown [2].
    if (certStatus === undefined || certStatus.tag !== 0x80) {
      const what = certStatus?.tag === 0xa1 ? 'revoked' : 'unknown'
      throw new Error(`OCSP: certificate status is ${what}`)
    }
    const thisUpdateMs = generalizedTime(
      response,
      expect(thisUpdate, GENERALIZED_TIME, 'thisUpdate'),
    )
    let nextUpdateMs: number | undefined
    if (next?.tag === 0xa0) {
      const time = expect(children(response, next)[0], GENERALIZED_TIME, 'nextUpdate')
      nextUpdateMs = generalizedTime(response, time)
    }
    if (thisUpdateMs > nowMs + SKEW_MS) throw new Error('OCSP: response is not valid yet')
    if (nextUpdateMs !== undefined && nextUpdateMs <= nowMs) {
      throw new Error('OCSP: response has expired (nextUpdate is past)')
    }
    return { response, thisUpdateMs, nextUpdateMs, serial: serialHex }
  }
  throw new Error(`OCSP: no response for certificate serial ${serialHex}`)
}

/**
 * The OCSP responder URL of a certificate (its Authority Information Access), if any.
 * @param leaf - the certificate (DER)
 */
export function ocspResponderUrl(leaf: Buffer): string | undefined {
  const access = new X509Certificate(leaf).infoAccess
  if (access === undefined) return undefined
  for (const line of access.split('\n')) {
    const match = /^OCSP - URI:(https?:\/\/\S+)$/.exec(line.trim())
    if (match !== null) return match[1]
  }
  return undefined
}

/** Largest OCSP response accepted from a responder (real ones are 1 to 4 KiB). */
const MAX_OCSP_RESPONSE_BYTES = 65_536

/**
 * POSTs an OCSP request to a responder and returns the DER body (RFC 6960 appendix A.1).
 * @param url - the responder (`http:` or `https:`)
 * @param request - DER OCSPRequest
 * @param timeoutMs - for the whole exchange
 * @throws Error on a non-200 answer, a body above {@link MAX_OCSP_RESPONSE_BYTES}, a timeout
 */
export function fetchOcspResponse(
  url: string,
  request: Buffer,
  timeoutMs: number,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const target = new URL(url)
    const client = target.protocol === 'https:' ? https : http
    const req = client.request(target, {
      method: 'POST',
      headers: {
        'content-type': 'application/ocsp-request',
        'content-length': request.length,
        accept: 'application/ocsp-response',
      },
      signal: AbortSignal.timeout(timeoutMs),
    })
    req.on('error', reject)
    req.on('response', (res) => {
      if (res.statusCode !== 200) {
        res.resume()
        reject(new Error(`OCSP responder ${url} answered ${String(res.statusCode)}`))
        return
      }
      const parts: Buffer[] = []
      let size = 0
      res.on('data', (chunk: Buffer) => {
        size += chunk.length
        if (size > MAX_OCSP_RESPONSE_BYTES) {
          req.destroy(
            new Error(`OCSP response from ${url} is larger than ${MAX_OCSP_RESPONSE_BYTES} bytes`),
          )
          return
        }
        parts.push(chunk)
      })
      res.on('error', reject)
      res.on('end', () => resolve(Buffer.concat(parts)))
    })
    req.end(request)
  })
}
