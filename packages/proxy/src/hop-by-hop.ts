import type { HeaderMap, RequestHeader } from '@pingora-ts/http'
import type { Session } from './session.ts'

// RFC 9110 §7.6.1: connection-specific fields, plus the legacy Proxy-Connection and the
// framing fields each hop sets for itself (Transfer-Encoding) or per connection (TE, Trailer).
// One bit per name: the scan records which are present, so only those are removed.
const HOP_BY_HOP = [
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
] as const
const CONNECTION = 1
const UPGRADE = 1 << 6

/**
 * The bit of field `i` in {@link HOP_BY_HOP} (0 when it is not hop-by-hop): length first,
 * then an in-place case-insensitive compare, so no lower-cased copy of the name is made.
 */
function hopByHopBit(headers: HeaderMap, i: number): number {
  switch (headers.nameAt(i).length) {
    case 2:
      return headers.nameEquals(i, 'te') ? 1 << 3 : 0
    case 7:
      if (headers.nameEquals(i, 'upgrade')) return UPGRADE
      return headers.nameEquals(i, 'trailer') ? 1 << 4 : 0
    case 10:
      if (headers.nameEquals(i, 'connection')) return CONNECTION
      return headers.nameEquals(i, 'keep-alive') ? 1 << 1 : 0
    case 16:
      return headers.nameEquals(i, 'proxy-connection') ? 1 << 2 : 0
    case 17:
      return headers.nameEquals(i, 'transfer-encoding') ? 1 << 5 : 0
    default:
      return 0
  }
}

/**
 * Whether `value.slice(start, end)` is one of the fixed hop-by-hop names (ASCII case
 * ignored), compared in place: the usual `keep-alive`, `close` and `upgrade` tokens are
 * never copied.
 */
function isHopByHopToken(value: string, start: number, end: number): boolean {
  for (let i = 0; i < HOP_BY_HOP.length; i++) {
    const name = HOP_BY_HOP[i] as string
    if (name.length === end - start && equalsIgnoreCase(value, start, name)) return true
  }
  return false
}

/** Whether `value` at `start` equals the lower-case `lower`, ignoring ASCII case. */
function equalsIgnoreCase(value: string, start: number, lower: string): boolean {
  for (let i = 0; i < lower.length; i++) {
    let code = value.charCodeAt(start + i)
    if (code >= 0x41 && code <= 0x5a) code |= 0x20
    if (code !== lower.charCodeAt(i)) return false
  }
  return true
}

/**
 * Adds the field names listed in a `Connection` value (comma-separated tokens, trimmed and
 * lower-cased) to `listed`, skipping the fixed hop-by-hop names (removed anyway).
 */
function collectListed(value: string, listed: string[] | undefined): string[] | undefined {
  const length = value.length
  let i = 0
  while (i < length) {
    let start = i
    let end = value.indexOf(',', i)
    if (end === -1) end = length
    i = end + 1
    while (start < end && isOws(value.charCodeAt(start))) start++
    while (end > start && isOws(value.charCodeAt(end - 1))) end--
    if (start === end || isHopByHopToken(value, start, end)) continue
    const token = value.slice(start, end).toLowerCase()
    if (listed === undefined) listed = [token]
    else if (!listed.includes(token)) listed.push(token)
  }
  return listed
}

/** Whether `String.prototype.trim` would drop this char (its latin1 members). */
function isOws(code: number): boolean {
  return code === 0x20 || (code >= 0x09 && code <= 0x0d) || code === 0xa0
}

/**
 * Removes hop-by-hop headers (RFC 9110 §7.6.1) in place: `Connection` and every name it lists,
 * `Keep-Alive`, `Proxy-Connection`, `TE`, `Trailer`, `Transfer-Encoding` and `Upgrade`. With
 * `keepUpgrade`, `Upgrade` and `Connection: upgrade` survive (an upgrade being forwarded).
 *
 * Each side of a proxy manages its own connection: the proxy sets the framing and the
 * `Connection` header of each hop itself.
 *
 * @param headers - the header map to clean
 * @param keepUpgrade - keep `Upgrade` and a `Connection: upgrade` for a forwarded upgrade
 * @returns `true` when something was removed
 */
export function removeHopByHopHeaders(headers: HeaderMap, keepUpgrade = false): boolean {
  // Runs twice per proxied request: one scan without allocation when nothing matches (the
  // usual request), and one `remove` per name actually present otherwise.
  const size = headers.size
  let present = 0
  let listed: string[] | undefined
  for (let i = 0; i < size; i++) {
    const bit = hopByHopBit(headers, i)
    if (bit === 0) continue
    present |= bit
    if (bit === CONNECTION) listed = collectListed(headers.valueAt(i), listed)
  }
  if (present === 0) return false
  if (keepUpgrade) present &= ~UPGRADE
  for (let b = 0; b < HOP_BY_HOP.length; b++) {
    if ((present & (1 << b)) !== 0) headers.remove(HOP_BY_HOP[b] as string)
  }
  if (listed !== undefined) {
    for (let i = 0; i < listed.length; i++) {
      const name = listed[i] as string
      if (keepUpgrade && name === 'upgrade') continue
      // Never let Connection remove framing-critical or host headers the proxy relies on.
      if (name === 'host' || name === 'content-length') continue
      headers.remove(name)
    }
  }
  if (keepUpgrade) headers.insert('Connection', 'upgrade')
  return true
}

/**
 * Appends the client's address to `X-Forwarded-For` (creating it when absent) and, when
 * `via` is given, a `Via` entry such as `1.1 my-proxy`. The proxy adds neither by default:
 * call this from `upstreamRequestFilter` when your origins want them.
 *
 * @example
 * ```ts
 * upstreamRequestFilter(session, upstreamRequest) {
 *   addForwardedHeaders(session, upstreamRequest, { via: 'edge-1' })
 * }
 * ```
 * @param session - the proxy session (its client address is used)
 * @param upstreamRequest - the request going upstream
 * @param options - `via`: this proxy's pseudonym for a `Via` entry
 */
export function addForwardedHeaders(
  session: Session,
  upstreamRequest: RequestHeader,
  options: { via?: string } = {},
): void {
  const ip = session.clientAddr?.address
  if (ip !== undefined) {
    const prior = upstreamRequest.getHeaderAll('X-Forwarded-For')
    const value = prior.length > 0 ? `${prior.join(', ')}, ${ip}` : ip
    upstreamRequest.insertHeader('X-Forwarded-For', value)
  }
  if (options.via !== undefined) {
    const version = upstreamRequest.version === 'HTTP/1.0' ? '1.0' : '1.1'
    const entry = `${version} ${options.via}`
    const prior = upstreamRequest.getHeaderAll('Via')
    upstreamRequest.insertHeader('Via', prior.length > 0 ? `${prior.join(', ')}, ${entry}` : entry)
  }
}
