import type { PeerCertificate, TLSSocket } from 'node:tls'

/** Identity of the peer's (leaf) certificate, as verified or presented during the handshake. */
export interface PeerCertificateIdentity {
  /** Subject as `key=value` pairs joined with `, `, e.g. `O=acme, CN=client.acme`. */
  readonly subject: string
  /** Subject common name (CN), if any. */
  readonly commonName: string | undefined
  /** Subject organization (O), if any (Pingora's `SslDigest.organization`). */
  readonly organization: string | undefined
  /** Subject alternative names as Node prints them: `DNS:a.test`, `IP Address:127.0.0.1`, `URI:...`, `email:...`. */
  readonly subjectAltNames: readonly string[]
  /** Issuer, formatted like `subject`. */
  readonly issuer: string
  /** Serial number in upper-case hex (Pingora's `serial_number`). */
  readonly serialNumber: string
  /** SHA-256 fingerprint, colon-separated upper-case hex (Pingora's `cert_digest`). */
  readonly fingerprint256: string
  /** Start of validity, as in the certificate. */
  readonly validFrom: string
  /** End of validity, as in the certificate. */
  readonly validTo: string
}

/**
 * What a TLS connection negotiated (Pingora's `SslDigest`), read once after the handshake and
 * kept with the connection.
 */
export interface TlsDigest {
  /** Protocol version, e.g. `'TLSv1.3'`. */
  readonly version: string | undefined
  /** Cipher, OpenSSL name (`'TLS_AES_256_GCM_SHA384'`, `'ECDHE-ECDSA-AES128-GCM-SHA256'`). */
  readonly cipher: string | undefined
  /** SNI server name the client sent (server side) or asked for (client side). */
  readonly servername: string | undefined
  /** Negotiated ALPN protocol, e.g. `'h2'`. */
  readonly alpn: string | undefined
  /**
   * Negotiated key exchange group (`'X25519MLKEM768'`, `'X25519'`...). Node exposes it on
   * client sockets only (`getEphemeralKeyInfo`), so it is `undefined` on the server side; Node 22
   * names (EC)DH groups only, so a post-quantum hybrid group is `undefined` there too.
   */
  readonly group: string | undefined
  /** Whether the session was resumed (ticket) rather than fully negotiated. */
  readonly sessionReused: boolean
  /** Whether the peer's certificate was verified against the trusted CAs. */
  readonly peerVerified: boolean
  /** Why verification failed (`'CERT_HAS_EXPIRED'`...), when it did. */
  readonly verifyError: string | undefined
  /** The peer's certificate identity; `undefined` when the peer sent none. */
  readonly peerCertificate: PeerCertificateIdentity | undefined
  /**
   * What the listener's handshake-complete callback returned (Pingora's
   * `SslDigest.extension`), e.g. an identity derived from the client certificate.
   */
  readonly extension: unknown
}

/**
 * Reads the {@link TlsDigest} of a connected TLS socket (either side). Call it once, after
 * `secure`/`secureConnect`; it allocates.
 * @param socket - the TLS socket after its handshake
 * @param extension - user data to carry in {@link TlsDigest.extension}
 */
export function tlsDigest(socket: TLSSocket, extension?: unknown): TlsDigest {
  const cipher = socket.getCipher() as { name?: string } | undefined
  const alpn = socket.alpnProtocol
  const servername = (socket as { servername?: unknown }).servername
  const keyInfo = socket.getEphemeralKeyInfo() as { name?: string } | null | object
  const group =
    keyInfo !== null && typeof (keyInfo as { name?: unknown }).name === 'string'
      ? (keyInfo as { name: string }).name
      : undefined
  const raw = socket.getPeerCertificate()
  const peerCertificate = peerIdentity(raw)
  let peerVerified = socket.authorized
  let error = socket.authorizationError as unknown
  if (!peerVerified && (error === undefined || error === null) && peerCertificate !== undefined) {
    // A server socket made with `new tls.TLSSocket` (not by tls.Server) never fills
    // authorized/authorizationError; the result sits on the native handle, which tls.Server reads.
    const handle = (socket as unknown as { _handle?: { verifyError?: () => Error | null } | null })
      ._handle
    if (typeof handle?.verifyError === 'function') {
      const verifyError = handle.verifyError()
      if (verifyError === null || verifyError === undefined) peerVerified = true
      else error = (verifyError as Error & { code?: string }).code ?? verifyError.message
    }
  }
  return {
    version: socket.getProtocol() ?? undefined,
    cipher: cipher?.name,
    servername: typeof servername === 'string' && servername !== '' ? servername : undefined,
    alpn: typeof alpn === 'string' ? alpn : undefined,
    group,
    sessionReused: socket.isSessionReused(),
    peerVerified,
    verifyError:
      error === undefined || error === null
        ? undefined
        : typeof error === 'string'
          ? error
          : String((error as { code?: unknown }).code ?? error),
    peerCertificate,
    extension,
  }
}

/**
 * Extracts the identity fields of a peer certificate as returned by `getPeerCertificate()`.
 * @param cert - the certificate object; an empty object means "none"
 */
export function peerIdentity(
  cert: PeerCertificate | undefined,
): PeerCertificateIdentity | undefined {
  if (cert === undefined || cert === null || cert.fingerprint256 === undefined) return undefined
  const subject = (cert.subject ?? {}) as unknown as Record<string, string | string[]>
  const issuer = (cert.issuer ?? {}) as unknown as Record<string, string | string[]>
  return {
    subject: formatName(subject),
    commonName: first(subject.CN),
    organization: first(subject.O),
    subjectAltNames: cert.subjectaltname ? cert.subjectaltname.split(', ') : [],
    issuer: formatName(issuer),
    serialNumber: cert.serialNumber,
    fingerprint256: cert.fingerprint256,
    validFrom: cert.valid_from,
    validTo: cert.valid_to,
  }
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value
}

function formatName(name: Record<string, string | string[]>): string {
  const parts: string[] = []
  for (const key of Object.keys(name)) {
    const value = name[key]
    if (Array.isArray(value)) for (const v of value) parts.push(`${key}=${v}`)
    else if (value !== undefined) parts.push(`${key}=${value}`)
  }
  return parts.join(', ')
}
