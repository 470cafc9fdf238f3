// The OCSP staple of a TlsSettings' default certificate: loaded from a file (on build and
// reload) and/or fetched from the certificate's responder on a bounded schedule, checked before
// it is served, and re-checked for expiry at every handshake.
import { X509Certificate } from 'node:crypto'
import { resolve as resolvePath } from 'node:path'
import { ocspFailedChannel, ocspUpdatedChannel } from './diagnostics.ts'
import {
  checkOcspResponse,
  fetchOcspResponse,
  type OcspCertificateId,
  type OcspStaple,
  ocspCertificateId,
  ocspRequest,
  ocspResponderUrl,
} from './ocsp.ts'
import { tlsConfigError } from './tls-error.ts'
import type { OcspStaplingOptions, PemSource } from './tls-options.ts'
import { isPath } from './tls-validators.ts'

const DEFAULT_REFRESH_MS = 3_600_000
const MIN_REFRESH_MS = 1_000
const MAX_REFRESH_MS = 7 * 86_400_000
const DEFAULT_TIMEOUT_MS = 5_000
const MAX_TIMEOUT_MS = 60_000
/** Longest wait before retrying after a failed fetch. */
const RETRY_MS = 60_000
const CERTIFICATE_PEM = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g

/** What a build or reload prepared: the certificate's OCSP identity and the file's staple. */
export interface PreparedOcsp {
  readonly id: OcspCertificateId | undefined
  readonly leaf: Buffer | undefined
  readonly fileStaple: OcspStaple | undefined
}

function checkRange(
  name: string,
  value: number | undefined,
  min: number,
  max: number,
  fallback: number,
): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer from ${min} to ${max}, got ${String(value)}`)
  }
  return value
}

/** Checks {@link OcspStaplingOptions}. @throws TypeError / RangeError */
export function checkOcspOptions(options: OcspStaplingOptions): OcspStaplingOptions {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('ocspStapling must be an object')
  }
  const { responseFile, fetch, responderUrl, now } = options
  if (responseFile !== undefined && (typeof responseFile !== 'string' || responseFile === '')) {
    throw new TypeError('ocspStapling.responseFile must be a non-empty path')
  }
  if (fetch !== undefined && typeof fetch !== 'boolean') {
    throw new TypeError('ocspStapling.fetch must be a boolean')
  }
  if (responseFile === undefined && fetch !== true) {
    throw new TypeError('ocspStapling needs a responseFile or fetch: true')
  }
  if (responderUrl !== undefined && !/^https?:\/\/[^/]/.test(String(responderUrl))) {
    throw new TypeError('ocspStapling.responderUrl must be an http: or https: URL')
  }
  if (now !== undefined && typeof now !== 'function') {
    throw new TypeError('ocspStapling.now must be a function')
  }
  return {
    ...options,
    refreshMs: checkRange(
      'ocspStapling.refreshMs',
      options.refreshMs,
      MIN_REFRESH_MS,
      MAX_REFRESH_MS,
      DEFAULT_REFRESH_MS,
    ),
    timeoutMs: checkRange(
      'ocspStapling.timeoutMs',
      options.timeoutMs,
      1,
      MAX_TIMEOUT_MS,
      DEFAULT_TIMEOUT_MS,
    ),
  }
}

/**
 * The staple of one certificate. Not exported from the package: {@link TlsSettings} drives it.
 * @internal
 */
export class OcspStapler {
  readonly #options: OcspStaplingOptions
  readonly #now: () => number
  readonly #owner: object
  #id: OcspCertificateId | undefined
  #leaf: Buffer | undefined
  #fileStaple: OcspStaple | undefined
  #fetchedStaple: OcspStaple | undefined
  #timer: NodeJS.Timeout | undefined
  #inFlight: Promise<void> | undefined
  #started: boolean

  constructor(options: OcspStaplingOptions, owner: object) {
    this.#options = options
    this.#now = options.now ?? Date.now
    this.#owner = owner
    this.#id = undefined
    this.#leaf = undefined
    this.#fileStaple = undefined
    this.#fetchedStaple = undefined
    this.#timer = undefined
    this.#inFlight = undefined
    this.#started = false
  }

  /** The files to read on reload (the response file and an issuer given as a path). */
  paths(): string[] {
    const paths: string[] = []
    if (this.#options.responseFile !== undefined)
      paths.push(resolvePath(this.#options.responseFile))
    if (this.#options.issuer !== undefined && isPath(this.#options.issuer)) {
      paths.push(resolvePath(this.#options.issuer))
    }
    return paths
  }

  /**
   * Reads what a build or reload needs, without changing anything yet.
   * @param chain - the default certificate chain (PEM), if any
   * @param read - reads a file (resolved path)
   * @throws PingoraError `TLSConfigError` when the response or issuer file cannot be read
   */
  prepare(chain: Buffer | undefined, read: (path: string) => Buffer): PreparedOcsp {
    if (chain === undefined) return { id: undefined, leaf: undefined, fileStaple: undefined }
    const load = (source: PemSource, what: string): Buffer => {
      if (!isPath(source)) return typeof source === 'string' ? Buffer.from(source) : source
      try {
        return read(resolvePath(source))
      } catch (error) {
        throw tlsConfigError(`failed to read OCSP ${what} file ${source}`, error)
      }
    }
    const pems = chain.toString('latin1').match(CERTIFICATE_PEM) ?? []
    const leaf = pems[0] === undefined ? undefined : new X509Certificate(pems[0]).raw
    if (leaf === undefined) return { id: undefined, leaf: undefined, fileStaple: undefined }
    let issuerPem: string | Buffer | undefined = pems[1]
    if (this.#options.issuer !== undefined) issuerPem = load(this.#options.issuer, 'issuer')
    let issuer: Buffer | undefined
    try {
      issuer = issuerPem === undefined ? undefined : new X509Certificate(issuerPem).raw
    } catch (error) {
      throw tlsConfigError('the OCSP issuer is not a certificate', error)
    }
    if (
      issuer !== undefined &&
      !new X509Certificate(leaf).checkIssued(new X509Certificate(issuer))
    ) {
      throw tlsConfigError('the OCSP issuer did not issue the default certificate', undefined)
    }
    const id = ocspCertificateId(leaf, issuer)
    let fileStaple: OcspStaple | undefined
    const file = this.#options.responseFile
    if (file !== undefined) {
      const response = load(file, 'response')
      try {
        fileStaple = checkOcspResponse(response, id, this.#now())
      } catch (error) {
        this.#failed('file', error)
      }
    }
    return { id, leaf, fileStaple }
  }

  /** Applies what {@link OcspStapler.prepare} read (after the new contexts are swapped in). */
  commit(prepared: PreparedOcsp): void {
    const changed =
      this.#leaf === undefined || prepared.leaf === undefined || !this.#leaf.equals(prepared.leaf)
    this.#id = prepared.id
    this.#leaf = prepared.leaf
    this.#fileStaple = prepared.fileStaple
    if (prepared.fileStaple !== undefined) this.#updated('file', prepared.fileStaple)
    if (changed) {
      this.#fetchedStaple = undefined
      // A new certificate needs a new response at once.
      if (this.#started) this.#schedule(0)
    }
  }

  /**
   * The response to staple now, or `undefined`: the fetched one, else the file's, when still
   * valid for the current certificate.
   * @param certificate - the certificate being served (DER), when the caller knows it
   */
  staple(certificate?: Buffer): Buffer | undefined {
    const id = this.#id
    if (id === undefined) return undefined
    if (certificate !== undefined && !(this.#leaf as Buffer).equals(certificate)) return undefined
    const now = this.#now()
    const fetched = this.#fetchedStaple
    if (
      fetched !== undefined &&
      (fetched.nextUpdateMs === undefined || now < fetched.nextUpdateMs)
    ) {
      return fetched.response
    }
    const file = this.#fileStaple
    if (file !== undefined && (file.nextUpdateMs === undefined || now < file.nextUpdateMs)) {
      return file.response
    }
    return undefined
  }

  /** Starts fetching (when `fetch` is on): a first fetch now, then on schedule. */
  start(): void {
    if (this.#started || this.#options.fetch !== true) return
    this.#started = true
    this.#schedule(0)
  }

  /**
   * Fetches a response now (one at a time: a call during a fetch joins it).
   * @throws the fetch or check failure (also published on `pingora:tls:ocsp-failed`)
   */
  refresh(): Promise<void> {
    if (this.#inFlight !== undefined) return this.#inFlight
    const run = this.#fetch().finally(() => {
      this.#inFlight = undefined
    })
    this.#inFlight = run
    return run
  }

  /** Stops the refresh timer. */
  stop(): void {
    this.#started = false
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
  }

  async #fetch(): Promise<void> {
    const id = this.#id
    const leaf = this.#leaf
    try {
      if (id === undefined || leaf === undefined) throw new Error('OCSP: no default certificate')
      const url = this.#options.responderUrl ?? ocspResponderUrl(leaf)
      if (url === undefined) throw new Error('OCSP: the certificate names no OCSP responder')
      const body = await fetchOcspResponse(
        url,
        ocspRequest(id),
        this.#options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      )
      // The certificate may have changed during the fetch: check against the one it was for.
      const staple = checkOcspResponse(body, id, this.#now())
      if (this.#id !== id) return
      this.#fetchedStaple = staple
      this.#updated('fetch', staple)
      if (this.#started) this.#schedule(this.#nextDelay(staple))
    } catch (error) {
      this.#failed('fetch', error)
      if (this.#started)
        this.#schedule(Math.min(this.#options.refreshMs ?? DEFAULT_REFRESH_MS, RETRY_MS))
      throw error
    }
  }

  #nextDelay(staple: OcspStaple): number {
    const refreshMs = this.#options.refreshMs ?? DEFAULT_REFRESH_MS
    if (staple.nextUpdateMs === undefined) return refreshMs
    const half = Math.floor((staple.nextUpdateMs - this.#now()) / 2)
    return Math.max(MIN_REFRESH_MS, Math.min(refreshMs, half))
  }

  #schedule(delayMs: number): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      // Failures were published on pingora:tls:ocsp-failed and rescheduled.
      this.refresh().catch(() => undefined)
    }, delayMs)
    this.#timer.unref()
  }

  #updated(source: 'file' | 'fetch', staple: OcspStaple): void {
    if (ocspUpdatedChannel.hasSubscribers) {
      ocspUpdatedChannel.publish({
        settings: this.#owner,
        source,
        nextUpdateMs: staple.nextUpdateMs,
        error: undefined,
      })
    }
  }

  #failed(source: 'file' | 'fetch', error: unknown): void {
    if (ocspFailedChannel.hasSubscribers) {
      ocspFailedChannel.publish({
        settings: this.#owner,
        source,
        nextUpdateMs: undefined,
        error: error instanceof Error ? error : new Error(String(error)),
      })
    }
  }
}
