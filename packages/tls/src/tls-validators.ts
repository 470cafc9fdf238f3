// The validators of TLS settings: each checks one option and throws the TypeError or RangeError
// the settings' constructors and setters document. Split out of tls-settings.ts.
import tls from 'node:tls'
import type { CertKeyPair, ClientAuthOptions, PemSource } from './tls-options.ts'

/** The TLS versions `minVersion`/`maxVersion` accept. */
export const VERSIONS: readonly tls.SecureVersion[] = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3']
const PEM_PREFIX = '-----BEGIN'
const HOSTNAME =
  /^(\*\.)?[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$/

/** Whether a PEM source is a file path (any string not starting with `-----BEGIN`). */
export function isPath(source: PemSource): source is string {
  return typeof source === 'string' && !source.trimStart().startsWith(PEM_PREFIX)
}

/** The PEM bytes of a certificate-callback result; paths are refused there. */
export function pemOf(source: PemSource): Buffer {
  if (typeof source !== 'string') return source
  if (isPath(source)) throw new TypeError('certificate callback results must be PEM, not paths')
  return Buffer.from(source)
}

/** One CA or several, as a list. */
export function caList(ca: PemSource | readonly PemSource[]): readonly PemSource[] {
  return Array.isArray(ca) ? ca : [ca as PemSource]
}

/** Checks PEM material (non-empty string or Buffer). @throws TypeError otherwise */
export function checkPem(value: unknown, what: string): PemSource {
  if (typeof value === 'string' ? value.length === 0 : !Buffer.isBuffer(value)) {
    throw new TypeError(`${what} must be a PEM string, a Buffer or a file path`)
  }
  return value as PemSource
}

/** Checks a certificate and its key. @throws TypeError when either is not PEM material */
export function checkPair(cert: PemSource, key: PemSource): CertKeyPair {
  return { cert: checkPem(cert, 'cert'), key: checkPem(key, 'key') }
}

/** Checks a file path. @throws TypeError when empty */
export function checkPath(path: string): string {
  if (typeof path !== 'string' || path.length === 0)
    throw new TypeError('path must be a non-empty string')
  return path
}

/** Checks and lower-cases a server name (`*.` prefix allowed). @throws TypeError otherwise */
export function checkName(name: string): string {
  const lower = typeof name === 'string' ? name.toLowerCase() : ''
  if (lower.length > 253 || !HOSTNAME.test(lower)) {
    throw new TypeError(`invalid server name: ${String(name)}`)
  }
  return lower
}

/** Checks a TLS version name. @throws RangeError for an unknown one */
export function checkVersion(version: tls.SecureVersion): tls.SecureVersion {
  if (!VERSIONS.includes(version)) throw new RangeError(`unknown TLS version: ${String(version)}`)
  return version
}

/** Checks an OpenSSL cipher list has a usable cipher. @throws TypeError, RangeError */
export function checkCiphers(ciphers: string): string {
  if (typeof ciphers !== 'string' || ciphers.length === 0) {
    throw new TypeError('ciphers must be a non-empty string')
  }
  try {
    tls.createSecureContext({ ciphers })
  } catch {
    throw new RangeError(`no usable cipher in: ${ciphers}`)
  }
  return ciphers
}

/** Checks and normalizes mTLS options (mode defaults to `require`). @throws TypeError, RangeError */
export function checkClientAuth(options: ClientAuthOptions): ClientAuthOptions {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('clientAuth must be an object')
  }
  const mode = options.mode ?? 'require'
  if (mode !== 'request' && mode !== 'require') {
    throw new RangeError(`clientAuth.mode must be 'request' or 'require', got ${String(mode)}`)
  }
  const cas = caList(options.ca)
  if (cas.length === 0) throw new TypeError('clientAuth.ca must not be empty')
  for (const ca of cas) checkPem(ca, 'clientAuth.ca')
  return { ca: [...cas], mode }
}

/** Largest delay Node timers accept; beyond it they fire after 1 ms. */
export const MAX_TIMER_MS = 2_147_483_647

/**
 * Checks a timer delay in ms, an integer from `min` to {@link MAX_TIMER_MS}. As core's option
 * checks, `undefined` means "not set" and gives `fallback`.
 * @throws RangeError
 */
export function checkMs(
  name: string,
  value: number | undefined,
  min: number,
  fallback: number,
): number {
  if (value === undefined) return fallback
  if (
    typeof value !== 'number' ||
    !Number.isInteger(value) ||
    value < min ||
    value > MAX_TIMER_MS
  ) {
    throw new RangeError(
      `${name} must be an integer from ${min} to ${MAX_TIMER_MS}, got ${String(value)}`,
    )
  }
  return value
}
