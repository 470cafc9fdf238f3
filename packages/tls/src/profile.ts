import { constants as cryptoConstants } from 'node:crypto'
import tls from 'node:tls'

/**
 * TLS 1.3 cipher suites and TLS 1.2 ciphers of Mozilla's "intermediate" profile (server side
 * TLS guidelines v5.7), in OpenSSL syntax. The DHE suites use the RFC 7919 group
 * {@link FFDHE2048_PEM}, as Mozilla's profile recommends.
 */
export const MOZILLA_INTERMEDIATE_CIPHERS = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
  'DHE-RSA-AES128-GCM-SHA256',
  'DHE-RSA-AES256-GCM-SHA384',
  'DHE-RSA-CHACHA20-POLY1305',
].join(':')

/**
 * The RFC 7919 `ffdhe2048` group as PEM DH parameters (what `openssl genpkey -genparam
 * -algorithm DH -pkeyopt group:ffdhe2048` prints, and Mozilla's `ffdhe2048.txt`): the group of
 * the TLS 1.2 DHE suites. Node's `dhparam: 'auto'` would pick OpenSSL's built-in RFC 3526
 * group instead; a named, published group lets scanners recognise it.
 */
export const FFDHE2048_PEM = `-----BEGIN DH PARAMETERS-----
MIIBCAKCAQEA//////////+t+FRYortKmq/cViAnPTzx2LnFg84tNpWp4TZBFGQz
+8yTnc4kmz75fS/jY2MMddj2gbICrsRhetPfHtXV/WVhJDP1H18GbtCFY2VVPe0a
87VXE15/V8k1mE8McODmi3fipona8+/och3xWKE2rec1MKzKT0g6eXq8CrGCsyT7
YdEIqUuyyOP7uWrat2DX9GgdT0Kj3jlN9K5W7edjcrsZCwenyO4KbXCeAvzhzffi
7MA0BM0oNC9hkXL+nOmFg/+OTxIy7vKBg8P+OxtMb61zO7X8vC7CIAXFjvGDfRaD
ssbzSibBsu/6iGtCOGEoXJf//////////wIBAg==
-----END DH PARAMETERS-----
`

/**
 * The TLS options every server context gets beyond those chosen by settings:
 * `SSL_OP_NO_RENEGOTIATION` refuses client-initiated renegotiation (TLS 1.2), a cheap CPU
 * denial of service (each one costs the server a full handshake), as nginx does. The
 * renegotiation_info extension of RFC 5746 is still sent, so clients see a server that
 * signals secure renegotiation.
 */
export const SERVER_SECURE_OPTIONS: number = cryptoConstants.SSL_OP_NO_RENEGOTIATION

/** Lowest TLS version of the intermediate profile. */
export const DEFAULT_MIN_VERSION: tls.SecureVersion = 'TLSv1.2'
/** Highest TLS version of the intermediate profile. */
export const DEFAULT_MAX_VERSION: tls.SecureVersion = 'TLSv1.3'

/** The hybrid post-quantum key exchange group offered first when the runtime supports it. */
export const POST_QUANTUM_GROUP = 'X25519MLKEM768'

/** Classical key exchange groups (Mozilla intermediate): the fallback without post-quantum support. */
export const CLASSICAL_GROUPS: readonly string[] = ['X25519', 'P-256', 'P-384']

/**
 * How long a TLS handshake may take before the connection is dropped (Pingora's 60 s, set at
 * the service level). Core's listener applies it to each accepted socket.
 */
export const TLS_HANDSHAKE_TIMEOUT_MS = 60_000

const groupSupport = new Map<string, boolean>()

/**
 * Whether this runtime's OpenSSL can use a key exchange group, tested once per name by building
 * a throwaway `SecureContext` with it.
 * @param group - an OpenSSL group name such as `'X25519'` or `'X25519MLKEM768'`
 */
export function supportsGroup(group: string): boolean {
  let ok = groupSupport.get(group)
  if (ok === undefined) {
    try {
      tls.createSecureContext({ ecdhCurve: group })
      ok = true
    } catch {
      ok = false
    }
    groupSupport.set(group, ok)
  }
  return ok
}

/**
 * Whether the runtime supports the hybrid post-quantum group `X25519MLKEM768` (OpenSSL 3.5+,
 * shipped with Node 24; not Node 20).
 */
export function supportsPostQuantum(): boolean {
  return supportsGroup(POST_QUANTUM_GROUP)
}

/**
 * The default key exchange groups: `X25519MLKEM768` first when supported, then
 * {@link CLASSICAL_GROUPS}.
 */
export function defaultGroups(): string[] {
  return supportsPostQuantum() ? [POST_QUANTUM_GROUP, ...CLASSICAL_GROUPS] : [...CLASSICAL_GROUPS]
}

const POST_QUANTUM_NAME = /MLKEM|KYBER/i

/**
 * Checks a group list: unknown names throw; post-quantum groups the runtime lacks are dropped,
 * so one configuration works on Node 20 and Node 24.
 * @param groups - OpenSSL group names in preference order
 * @internal
 */
export function resolveGroups(groups: readonly string[]): string[] {
  if (!Array.isArray(groups) || groups.length === 0) {
    throw new TypeError('groups must be a non-empty array of group names')
  }
  const out: string[] = []
  for (const group of groups) {
    if (typeof group !== 'string' || group.length === 0 || group.includes(':')) {
      throw new TypeError(`invalid key exchange group: ${String(group)}`)
    }
    if (supportsGroup(group)) out.push(group)
    else if (!POST_QUANTUM_NAME.test(group)) {
      throw new RangeError(`unsupported key exchange group: ${group}`)
    }
  }
  if (out.length === 0)
    throw new RangeError(`no supported key exchange group in: ${groups.join(':')}`)
  return out
}
