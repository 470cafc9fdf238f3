/** An HTTP version, as written on an HTTP/1 request or status line (`'HTTP/2'` for HTTP/2). */
export type HttpVersion = 'HTTP/0.9' | 'HTTP/1.0' | 'HTTP/1.1' | 'HTTP/2'

/**
 * Whether `value` is one of the {@link HttpVersion} strings.
 * @param value - the value to check
 */
export function isHttpVersion(value: unknown): value is HttpVersion {
  return value === 'HTTP/1.1' || value === 'HTTP/1.0' || value === 'HTTP/2' || value === 'HTTP/0.9'
}

/**
 * @internal The version to write on an HTTP/1 wire: HTTP/1.0 stays, everything else
 * (0.9, 2) is written as HTTP/1.1.
 */
export function h1VersionText(version: HttpVersion): string {
  return version === 'HTTP/1.0' ? 'HTTP/1.0' : 'HTTP/1.1'
}

/** @internal Throws a `TypeError` when `value` is not an {@link HttpVersion}. */
export function checkVersion(value: unknown): HttpVersion {
  if (!isHttpVersion(value)) {
    throw new TypeError(
      `Invalid HTTP version: ${String(value)} (expected 'HTTP/0.9', 'HTTP/1.0', 'HTTP/1.1' or 'HTTP/2')`,
    )
  }
  return value
}
