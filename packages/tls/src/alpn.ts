/**
 * ALPN protocol lists, in preference order (Pingora's `ALPN` enum). A custom list is any
 * readonly array of protocol ids.
 *
 * The server picks the first protocol of its list that the client also offers. A client that
 * offers ALPN but none of the server's protocols gets a fatal `no_application_protocol` alert
 * (OpenSSL's behaviour through `node:tls`); a client that offers no ALPN at all is served
 * without it, which means HTTP/1.1.
 */
export const ALPN = {
  /** HTTP/1.1 only (Pingora's default). */
  H1: ['http/1.1'],
  /** HTTP/2 only. */
  H2: ['h2'],
  /** HTTP/2 preferred, HTTP/1.1 allowed (what `enableH2()` sets). */
  H2H1: ['h2', 'http/1.1'],
} as const satisfies Record<string, readonly string[]>

/** An ALPN preference: one of {@link ALPN}'s lists or a custom list of protocol ids. */
export type AlpnProtocols = readonly string[]

/**
 * Checks an ALPN list and returns a mutable copy for `node:tls` options.
 * @param protocols - protocol ids in preference order
 * @internal
 */
export function checkAlpn(protocols: AlpnProtocols): string[] {
  if (!Array.isArray(protocols) || protocols.length === 0) {
    throw new TypeError('alpn must be a non-empty array of protocol ids')
  }
  for (const id of protocols) {
    // RFC 7301 §3.1: protocol ids are 1 to 255 bytes.
    if (typeof id !== 'string' || id.length === 0 || Buffer.byteLength(id) > 255) {
      throw new TypeError(`invalid ALPN protocol id: ${String(id)}`)
    }
  }
  return [...protocols]
}
