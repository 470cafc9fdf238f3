import { createHash, createPrivateKey, X509Certificate } from 'node:crypto'
import type tls from 'node:tls'
import { SERVER_SECURE_OPTIONS } from './profile.ts'
import { tlsConfigError } from './tls-error.ts'
import type { CertificateCallback, CertificateResult, CertKeyPair } from './tls-options.ts'
import { isPath, pemOf } from './tls-validators.ts'

/**
 * Certificate selection by server name for {@link TlsSettings} (Pingora's SNI handling in
 * `pingora-core/src/listeners/tls/`): one `SecureContext` per certificate, found by exact
 * name, then by wildcard (`*.example.com` matches one leftmost label), then through the
 * certificate callback (its results cached, at most {@link CALLBACK_CACHE_SIZE}), then the
 * default. The settings own the state and rebuild it on reload and ticket key rotation.
 *
 * ```text
 *  servername ─► exact map ─► wildcard map (name minus its first label) ─► callback ─► default
 * ```
 * @internal
 */

/** A certificate chain and key, read and checked. @internal */
export interface Material {
  readonly cert: Buffer
  readonly key: Buffer
}

/** A certificate for a list of names, as configured. @internal */
export interface CertEntry {
  readonly names: readonly string[]
  readonly pair: CertKeyPair
}

/** Certificate material as read and checked, kept to rebuild contexts with a new ticket key. @internal */
export interface Materials {
  readonly defaultMaterial: Material | undefined
  readonly clientCa: Buffer[] | undefined
  readonly entries: readonly { readonly names: readonly string[]; readonly material: Material }[]
}

/**
 * Everything the handshake path reads, for one ticket key; replaced as a whole (only the
 * callback cache fills in place).
 * @internal
 */
export interface ContextState {
  readonly materials: Materials
  readonly ticketKey: Buffer
  readonly baseContext: tls.SecureContext
  readonly exact: ReadonlyMap<string, tls.SecureContext>
  readonly wildcard: ReadonlyMap<string, tls.SecureContext>
  readonly callbackCache: Map<string, tls.SecureContext>
}

/** `node:tls`'s `SNICallback`. @internal */
export type SniCallback = (
  servername: string,
  cb: (error: Error | null, ctx?: tls.SecureContext) => void,
) => void

/** Builds a context for material (the settings' profile, client CA and ticket key). @internal */
export type ContextFactory = (
  material: Material | undefined,
  clientCa: Buffer[] | undefined,
  ticketKey: Buffer,
) => tls.SecureContext

/** Reports a failed certificate callback and fails the handshake through `cb`. @internal */
export type CallbackFailed = (
  servername: string,
  error: unknown,
  cb: (error: Error | null, ctx?: tls.SecureContext) => void,
) => void

/** Bound on contexts built from certificate-callback results. @internal */
export const CALLBACK_CACHE_SIZE = 1024

/**
 * Builds the contexts of one ticket key: the default, and one per distinct material, indexed by
 * exact and wildcard names.
 * @param materials - the checked material
 * @param ticketKey - the session ticket key
 * @param create - builds one context
 * @internal
 */
export function buildContexts(
  materials: Materials,
  ticketKey: Buffer,
  create: ContextFactory,
): ContextState {
  const { defaultMaterial, clientCa } = materials
  const baseContext = create(defaultMaterial, clientCa, ticketKey)
  const exact = new Map<string, tls.SecureContext>()
  const wildcard = new Map<string, tls.SecureContext>()
  const byMaterial = new Map<Material, tls.SecureContext>()
  for (const entry of materials.entries) {
    let ctx = byMaterial.get(entry.material)
    if (ctx === undefined) {
      ctx = create(entry.material, clientCa, ticketKey)
      byMaterial.set(entry.material, ctx)
    }
    for (const name of entry.names) {
      if (name.startsWith('*.')) wildcard.set(name.slice(2), ctx)
      else exact.set(name, ctx)
    }
  }
  return { materials, ticketKey, baseContext, exact, wildcard, callbackCache: new Map() }
}

/**
 * Chooses the context for a server name and hands it to `cb` (synchronously unless the
 * certificate callback returns a promise).
 * @param state - the contexts of the current (or previous) ticket key
 * @param servername - the SNI the client sent
 * @param socket - the socket being handshaken, when known
 * @param callback - the certificate callback, if any
 * @param create - builds a context for a callback's certificate
 * @param failed - reports a failed callback
 * @param cb - receives the context or the error
 * @internal
 */
export function selectContext(
  state: ContextState,
  servername: string,
  socket: tls.TLSSocket | undefined,
  callback: CertificateCallback | undefined,
  create: ContextFactory,
  failed: CallbackFailed,
  cb: (error: Error | null, ctx?: tls.SecureContext) => void,
): void {
  const name = servername.toLowerCase()
  const exact = state.exact.get(name)
  if (exact !== undefined) {
    cb(null, exact)
    return
  }
  const dot = name.indexOf('.')
  if (dot > 0) {
    const wild = state.wildcard.get(name.slice(dot + 1))
    if (wild !== undefined) {
      cb(null, wild)
      return
    }
  }
  if (callback === undefined) {
    cb(null, state.baseContext)
    return
  }
  let result: CertificateResult | Promise<CertificateResult>
  try {
    result = callback(name, { servername: name, socket })
  } catch (error) {
    failed(name, error, cb)
    return
  }
  if (isPromise(result)) {
    result.then(
      (value) => useResult(state, name, value, create, failed, cb),
      (error: unknown) => failed(name, error, cb),
    )
  } else {
    useResult(state, name, result, create, failed, cb)
  }
}

function useResult(
  state: ContextState,
  name: string,
  result: CertificateResult,
  create: ContextFactory,
  failed: CallbackFailed,
  cb: (error: Error | null, ctx?: tls.SecureContext) => void,
): void {
  let ctx: tls.SecureContext
  try {
    ctx = result === undefined ? state.baseContext : contextFromResult(state, result, create)
  } catch (error) {
    failed(name, error, cb)
    return
  }
  cb(null, ctx)
}

function contextFromResult(
  state: ContextState,
  result: tls.SecureContext | CertKeyPair,
  create: ContextFactory,
): tls.SecureContext {
  // A caller-built context: node:tls installs its certificate on the connection and keeps the
  // base context's ticket key, so sessions resume without touching the caller's object. It
  // still gets the renegotiation refusal (setting an option twice is harmless).
  if (!('cert' in result)) {
    refuseRenegotiation(result)
    return result
  }
  const cert = pemOf(result.cert)
  const key = pemOf(result.key)
  const cacheKey = createHash('sha256').update(cert).update('\0').update(key).digest('base64')
  const cached = state.callbackCache.get(cacheKey)
  if (cached !== undefined) {
    // Refresh its LRU position.
    state.callbackCache.delete(cacheKey)
    state.callbackCache.set(cacheKey, cached)
    return cached
  }
  const material = { cert, key }
  checkMaterial(material, result)
  const ctx = create(material, state.materials.clientCa, state.ticketKey)
  if (state.callbackCache.size >= CALLBACK_CACHE_SIZE) {
    const oldest = state.callbackCache.keys().next()
    if (oldest.done !== true) state.callbackCache.delete(oldest.value)
  }
  state.callbackCache.set(cacheKey, ctx)
  return ctx
}

/**
 * Checks that a certificate and key belong together.
 * @throws PingoraError `TLSConfigError`
 * @internal
 */
export function checkMaterial(material: Material, pair: CertKeyPair): void {
  const label = isPath(pair.cert) ? pair.cert : 'PEM certificate'
  let matches: boolean
  try {
    matches = new X509Certificate(material.cert).checkPrivateKey(createPrivateKey(material.key))
  } catch (error) {
    throw tlsConfigError(`invalid certificate or key for ${label}`, error)
  }
  if (!matches) throw tlsConfigError(`certificate and private key do not match for ${label}`)
}

/** Adds {@link SERVER_SECURE_OPTIONS} to a context built elsewhere (its native handle). */
function refuseRenegotiation(context: tls.SecureContext): void {
  const native = (context as { context?: { setOptions?: (options: number) => void } }).context
  if (typeof native?.setOptions === 'function') native.setOptions(SERVER_SECURE_OPTIONS)
}

function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | undefined)?.then === 'function'
}
