import type { HeaderMap } from './header-map.ts'

/**
 * Plain-object HTTP/2 header fields as `node:http2` takes them: lower-case names, a string per
 * field, an array for a repeated name. Created without a prototype, so any token (even
 * `__proto__`) is a safe key.
 */
export type H2Headers = Record<string, string | string[]>

/** @internal A prototype-less object for HTTP/2 fields. */
export function emptyH2Headers(): H2Headers {
  return Object.create(null) as H2Headers
}

/**
 * Whether a (lower-case) field name is connection-specific and must not appear in HTTP/2
 * (RFC 9113 §8.2.2). `te` is handled by the caller: it may stay when its value is `trailers`.
 */
function isConnectionSpecific(lowerName: string): boolean {
  switch (lowerName) {
    case 'connection':
    case 'keep-alive':
    case 'proxy-connection':
    case 'transfer-encoding':
    case 'upgrade':
      return true
    default:
      return false
  }
}

/** The lower-cased option names listed in every `Connection` field (RFC 9110 §7.6.1). */
function connectionOptions(fields: HeaderMap): string[] | undefined {
  let out: string[] | undefined
  for (let i = 0; i < fields.size; i++) {
    if (!fields.nameEquals(i, 'connection')) continue
    const parts = fields.valueAt(i).split(',')
    for (let j = 0; j < parts.length; j++) {
      const option = (parts[j] as string).trim().toLowerCase()
      if (option === '') continue
      if (out === undefined) out = []
      out.push(option)
    }
  }
  return out
}

/**
 * @internal Copies `fields` into `out` as HTTP/2 fields: names lower-cased, repeated names
 * gathered into arrays, connection-specific fields dropped (RFC 9113 §8.2.2): `Connection`,
 * `Keep-Alive`, `Proxy-Connection`, `Transfer-Encoding`, `Upgrade`, `TE` unless it is exactly
 * `trailers`, and every field the `Connection` header nominates. `Host` is dropped too when
 * `dropHost` (the request carries `:authority` instead, RFC 9113 §8.3.1).
 */
export function copyH2Fields(fields: HeaderMap, out: H2Headers, dropHost: boolean): void {
  const nominated = connectionOptions(fields)
  for (let i = 0; i < fields.size; i++) {
    const name = fields.lowerNameAt(i)
    if (isConnectionSpecific(name)) continue
    const value = fields.valueAt(i)
    if (name === 'te' && value.trim().toLowerCase() !== 'trailers') continue
    if (dropHost && name === 'host') continue
    if (nominated?.includes(name)) continue
    const previous = out[name]
    if (previous === undefined) out[name] = value
    else if (typeof previous === 'string') out[name] = [previous, value]
    else previous.push(value)
  }
}

/**
 * @internal The regular (non-pseudo) fields of a received HTTP/2 header block as parallel
 * name/value arrays, in wire order when `rawHeaders` (Node's flat `[name, value, ...]` list)
 * is given, else in the object's key order.
 */
export function collectH2Fields(
  headers: Record<string, string | string[] | number | undefined>,
  rawHeaders: readonly string[] | undefined,
  names: string[],
  values: string[],
): void {
  if (rawHeaders !== undefined) {
    for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
      const name = rawHeaders[i] as string
      if (name.charCodeAt(0) === 0x3a /* ':' */) continue
      names.push(name)
      values.push(rawHeaders[i + 1] as string)
    }
    return
  }
  for (const name of Object.keys(headers)) {
    if (name.charCodeAt(0) === 0x3a) continue
    const value = headers[name]
    if (value === undefined) continue
    if (Array.isArray(value)) {
      for (let j = 0; j < value.length; j++) {
        names.push(name)
        values.push(value[j] as string)
      }
    } else {
      names.push(name)
      values.push(String(value))
    }
  }
}
