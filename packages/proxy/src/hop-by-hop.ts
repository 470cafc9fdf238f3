import type { HeaderMap, RequestHeader } from '@pingora-ts/http'
import type { Session } from './session.ts'

// RFC 9110 §7.6.1: connection-specific fields, plus the legacy Proxy-Connection and the
// framing fields each hop sets for itself (Transfer-Encoding) or per connection (TE, Trailer).
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
])

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
  const size = headers.size
  let listed: Set<string> | undefined
  let found = false
  for (let i = 0; i < size; i++) {
    const name = headers.lowerNameAt(i)
    if (HOP_BY_HOP.has(name)) {
      found = true
      if (name === 'connection') {
        for (const token of headers.valueAt(i).split(',')) {
          const t = token.trim().toLowerCase()
          if (t.length > 0) {
            listed ??= new Set()
            listed.add(t)
          }
        }
      }
    }
  }
  if (!found) return false
  for (const name of HOP_BY_HOP) {
    if (keepUpgrade && name === 'upgrade') continue
    headers.remove(name)
  }
  if (listed) {
    for (const name of listed) {
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
