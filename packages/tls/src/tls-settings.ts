import { constants as cryptoConstants } from 'node:crypto'
import { type FSWatcher, readFileSync, watch } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { basename, dirname, resolve as resolvePath } from 'node:path'
import tls from 'node:tls'
import type { PingoraError } from '@pingora-ts/error'
import { ALPN, type AlpnProtocols, checkAlpn } from './alpn.ts'
import {
  certificateCallbackFailedChannel,
  reloadedChannel,
  reloadFailedChannel,
  ticketKeysRotatedChannel,
} from './diagnostics.ts'
import { checkOcspOptions, OcspStapler } from './ocsp-stapler.ts'
import {
  DEFAULT_MAX_VERSION,
  DEFAULT_MIN_VERSION,
  defaultGroups,
  FFDHE2048_PEM,
  MOZILLA_INTERMEDIATE_CIPHERS,
  resolveGroups,
  SERVER_SECURE_OPTIONS,
  TLS_HANDSHAKE_TIMEOUT_MS,
} from './profile.ts'
import { isIssuedUnder, newTicketKey, startTicketKeyRotation } from './session-ticket-keys.ts'
import {
  buildContexts,
  type CallbackFailed,
  type CertEntry,
  type ContextFactory,
  type ContextState,
  checkMaterial,
  type Material,
  type Materials,
  type SniCallback,
  selectContext,
} from './sni-selection.ts'
import { type TlsDigest, tlsDigest } from './tls-digest.ts'
import { tlsConfigError } from './tls-error.ts'
import type {
  CertificateCallback,
  CertKeyPair,
  ClientAuthOptions,
  HandshakeCompleteCallback,
  OcspStaplingOptions,
  PemSource,
  TlsSettingsOptions,
  WatchFilesOptions,
} from './tls-options.ts'
import {
  caList,
  checkCiphers,
  checkClientAuth,
  checkMs,
  checkName,
  checkPair,
  checkPath,
  checkVersion,
  isPath,
  VERSIONS,
} from './tls-validators.ts'

/**
 * TLS settings of a listening endpoint: certificates (a default plus SNI-selected ones and an
 * optional async callback), the Mozilla "intermediate" profile with post-quantum key exchange
 * when available, ALPN, client certificates (mTLS), session tickets with key rotation, and hot
 * reload of certificate files. Port of `pingora-core/src/listeners/tls/`.
 *
 * `toServerOptions()` gives `node:tls` options for `tls.createServer` or
 * `new tls.TLSSocket(socket, { isServer: true, ...})`. Handshakes always read the current
 * certificates, so a reload applies to new handshakes without a restart.
 *
 * @example
 * ```ts
 * const settings = TlsSettings.intermediate('/etc/certs/site.pem', '/etc/certs/site.key')
 * settings.enableH2()
 * settings.addCertificate('*.example.com', '/etc/certs/wild.pem', '/etc/certs/wild.key')
 * settings.watchFiles()
 * const server = tls.createServer(settings.toServerOptions(), onSecureConnection)
 * settings.attach(server)
 * ```
 */
export class TlsSettings {
  #defaultPair: CertKeyPair | undefined
  #entries: CertEntry[]
  #minVersion: tls.SecureVersion
  #maxVersion: tls.SecureVersion
  #ciphers: string
  #groups: string[]
  #alpn: string[]
  #clientAuth: ClientAuthOptions | undefined
  #sessionTickets: boolean
  #sessionTimeoutMs: number
  #ticketKeyRotationMs: number
  #handshakeTimeoutMs: number
  #certificateCallback: CertificateCallback | undefined
  #handshakeCompleteCallback: HandshakeCompleteCallback | undefined
  #onReloadError: ((error: PingoraError) => void) | undefined
  #state: ContextState | undefined
  /** The state of the previous ticket key, kept one rotation period to resume its tickets. */
  #previousState: ContextState | undefined
  #ticketKey: Buffer
  #rotationTimer: NodeJS.Timeout | undefined
  #servers: Set<tls.Server>
  #watchers: FSWatcher[]
  #watchTimer: NodeJS.Timeout | undefined
  #reloadSeq: number
  #ocsp: OcspStapler | undefined
  readonly #ocspListener: (
    certificate: Buffer,
    issuer: Buffer,
    callback: (error: Error | null, response?: Buffer) => void,
  ) => void
  readonly #sniCallback: SniCallback
  readonly #createContextFn: ContextFactory
  readonly #callbackFailedFn: CallbackFailed

  /**
   * Creates settings; certificate files are read when the settings are first used
   * ({@link TlsSettings.toServerOptions}) or built ({@link TlsSettings.build}).
   * @param options - see {@link TlsSettingsOptions}
   */
  constructor(options: TlsSettingsOptions = {}) {
    this.#defaultPair = undefined
    this.#entries = []
    this.#minVersion = DEFAULT_MIN_VERSION
    this.#maxVersion = DEFAULT_MAX_VERSION
    this.#ciphers = MOZILLA_INTERMEDIATE_CIPHERS
    this.#groups = defaultGroups()
    this.#alpn = [...ALPN.H1]
    this.#clientAuth = undefined
    this.#sessionTickets = options.sessionTickets ?? true
    this.#sessionTimeoutMs = 3_600_000
    this.#ticketKeyRotationMs = 43_200_000
    this.#handshakeTimeoutMs = TLS_HANDSHAKE_TIMEOUT_MS
    this.#certificateCallback = undefined
    this.#handshakeCompleteCallback = undefined
    this.#onReloadError = options.onReloadError
    this.#state = undefined
    this.#previousState = undefined
    this.#ticketKey = newTicketKey()
    this.#rotationTimer = undefined
    this.#servers = new Set()
    this.#watchers = []
    this.#watchTimer = undefined
    this.#reloadSeq = 0
    this.#ocsp = undefined
    // tls.Server's 'OCSPRequest' event (servers given to attach()); core's listener, which
    // wraps bare sockets, asks ocspResponseFor() instead.
    this.#ocspListener = (certificate, _issuer, callback) => {
      callback(null, this.#ocsp?.staple(certificate))
    }
    this.#createContextFn = (material, clientCa, ticketKey) =>
      this.#createContext(material, clientCa, ticketKey)
    this.#callbackFailedFn = (servername, error, cb) => {
      if (certificateCallbackFailedChannel.hasSubscribers) {
        certificateCallbackFailedChannel.publish({ settings: this, servername, error })
      }
      cb(error instanceof Error ? error : new Error(String(error)))
    }
    const select = (
      servername: string,
      socket: tls.TLSSocket | undefined,
      cb: (error: Error | null, ctx?: tls.SecureContext) => void,
    ) => this.#select(this.#ensureState(), servername, socket, cb)
    // node:tls calls SNICallback as a method of the server socket; keep that `this`.
    this.#sniCallback = function (this: unknown, servername, cb) {
      select(servername, this instanceof tls.TLSSocket ? this : undefined, cb)
    }

    if (options.cert !== undefined || options.key !== undefined) {
      if (options.cert === undefined || options.key === undefined) {
        throw new TypeError('cert and key must be given together')
      }
      this.#defaultPair = checkPair(options.cert, options.key)
    }
    if (options.minVersion !== undefined) this.#minVersion = checkVersion(options.minVersion)
    if (options.maxVersion !== undefined) this.#maxVersion = checkVersion(options.maxVersion)
    if (options.ciphers !== undefined) this.#ciphers = checkCiphers(options.ciphers)
    if (options.groups !== undefined) this.#groups = resolveGroups(options.groups)
    if (options.alpn !== undefined) this.#alpn = checkAlpn(options.alpn)
    if (options.clientAuth !== undefined) this.#clientAuth = checkClientAuth(options.clientAuth)
    this.#sessionTimeoutMs = checkMs(
      'sessionTimeoutMs',
      options.sessionTimeoutMs,
      1000,
      this.#sessionTimeoutMs,
    )
    this.#ticketKeyRotationMs = checkMs(
      'ticketKeyRotationMs',
      options.ticketKeyRotationMs,
      0,
      this.#ticketKeyRotationMs,
    )
    this.#handshakeTimeoutMs = checkMs(
      'handshakeTimeoutMs',
      options.handshakeTimeoutMs,
      1,
      this.#handshakeTimeoutMs,
    )
    if (options.certificateCallback !== undefined) {
      this.setCertificateCallback(options.certificateCallback)
    }
    if (options.handshakeCompleteCallback !== undefined) {
      this.setHandshakeCompleteCallback(options.handshakeCompleteCallback)
    }
    if (options.ocspStapling !== undefined) {
      this.#ocsp = new OcspStapler(checkOcspOptions(options.ocspStapling), this)
    }
  }

  /**
   * Creates settings with the Mozilla "intermediate" profile and one certificate chain file and
   * key file (Pingora's `TlsSettings::intermediate`). Reads and checks both files now.
   * @param certPath - PEM file: leaf certificate followed by intermediates
   * @param keyPath - PEM private key file
   * @throws PingoraError `TLSConfigError` when a file is unreadable or the pair does not match
   */
  static intermediate(certPath: string, keyPath: string): TlsSettings {
    const settings = new TlsSettings({ cert: checkPath(certPath), key: checkPath(keyPath) })
    settings.build()
    return settings
  }

  /**
   * Creates settings whose certificates come from a callback (Pingora's
   * `TlsSettings::with_callbacks`).
   * @param callback - picks a certificate per handshake
   */
  static withCallbacks(callback: CertificateCallback): TlsSettings {
    return new TlsSettings({ certificateCallback: callback })
  }

  /** The negotiated-protocol preference, in order. */
  get alpn(): readonly string[] {
    return this.#alpn
  }

  /** The key exchange groups offered, in order (unsupported post-quantum groups removed). */
  get groups(): readonly string[] {
    return this.#groups
  }

  /** The current ticket key rotation interval in ms (`0`: never rotated). */
  get ticketKeyRotationMs(): number {
    return this.#ticketKeyRotationMs
  }

  /**
   * The current base `SecureContext` (default certificate, profile, ticket keys). Read it per
   * connection; it changes on reload.
   */
  get secureContext(): tls.SecureContext {
    return this.#ensureState().baseContext
  }

  /**
   * Sets the default certificate, used when the client sends no SNI or a name that matches no
   * other certificate.
   * @param cert - certificate chain (PEM or path)
   * @param key - private key (PEM or path)
   */
  setDefaultCertificate(cert: PemSource, key: PemSource): this {
    this.#defaultPair = checkPair(cert, key)
    return this.#changed()
  }

  /**
   * Adds a certificate served for some SNI names: exact names (`a.example`) or wildcards
   * (`*.example`, one label). An exact name wins over a wildcard; later additions replace
   * earlier ones for the same name.
   * @param names - one name or several
   * @param cert - certificate chain (PEM or path)
   * @param key - private key (PEM or path)
   */
  addCertificate(names: string | readonly string[], cert: PemSource, key: PemSource): this {
    const list = typeof names === 'string' ? [names] : [...names]
    if (list.length === 0) throw new TypeError('names must not be empty')
    const checked = list.map(checkName)
    this.#entries.push({ names: checked, pair: checkPair(cert, key) })
    return this.#changed()
  }

  /**
   * Sets the async certificate callback (Pingora's `certificate_callback`), consulted for names
   * no added certificate matches; its built contexts are cached.
   * @param callback - picks a certificate per handshake, or `undefined` to remove it
   */
  setCertificateCallback(callback: CertificateCallback | undefined): this {
    if (callback !== undefined && typeof callback !== 'function') {
      throw new TypeError('certificateCallback must be a function')
    }
    this.#certificateCallback = callback
    this.#state?.callbackCache.clear()
    this.#previousState?.callbackCache.clear()
    return this
  }

  /**
   * Sets the handshake-complete callback (Pingora's `handshake_complete_callback`), whose
   * result {@link TlsSettings.handshakeComplete} stores in the digest's `extension`.
   * @param callback - derives per-connection data, or `undefined` to remove it
   */
  setHandshakeCompleteCallback(callback: HandshakeCompleteCallback | undefined): this {
    if (callback !== undefined && typeof callback !== 'function') {
      throw new TypeError('handshakeCompleteCallback must be a function')
    }
    this.#handshakeCompleteCallback = callback
    return this
  }

  /**
   * Builds the digest of a server socket whose handshake just completed and runs the
   * handshake-complete callback, if any, into its `extension`. Listeners call it once per
   * connection; it is synchronous unless the callback returns a promise.
   * @param socket - the server socket, after `secure`
   * @throws whatever the callback throws (synchronously, or as a rejection)
   */
  handshakeComplete(socket: tls.TLSSocket): TlsDigest | Promise<TlsDigest> {
    const callback = this.#handshakeCompleteCallback
    const digest = tlsDigest(socket)
    if (callback === undefined) return digest
    const extension = callback(socket, digest)
    if (isPromise(extension)) {
      // Always a native promise, whatever thenable the callback returned.
      return Promise.resolve(extension).then((value) => ({ ...digest, extension: value }))
    }
    return { ...digest, extension }
  }

  /**
   * Sets the lowest TLS version accepted.
   * @param version - e.g. `'TLSv1.2'`
   */
  setMinVersion(version: tls.SecureVersion): this {
    this.#minVersion = checkVersion(version)
    return this.#changed()
  }

  /**
   * Sets the highest TLS version accepted.
   * @param version - e.g. `'TLSv1.3'`
   */
  setMaxVersion(version: tls.SecureVersion): this {
    this.#maxVersion = checkVersion(version)
    return this.#changed()
  }

  /**
   * Sets the OpenSSL cipher string (TLS 1.3 suites `TLS_*` and TLS 1.2 ciphers).
   * @param ciphers - colon-separated list
   */
  setCiphers(ciphers: string): this {
    this.#ciphers = checkCiphers(ciphers)
    return this.#changed()
  }

  /**
   * Sets the key exchange groups in preference order, e.g.
   * `['X25519MLKEM768', 'X25519', 'P-256']`. Post-quantum groups the runtime lacks are dropped;
   * other unknown names throw `RangeError`.
   * @param groups - OpenSSL group names
   */
  setGroups(groups: readonly string[]): this {
    this.#groups = resolveGroups(groups)
    return this.#changed()
  }

  /**
   * Sets the ALPN preference (Pingora's `set_alpn`).
   * @param alpn - `ALPN.H1`, `ALPN.H2`, `ALPN.H2H1` or a custom list
   */
  setAlpn(alpn: AlpnProtocols): this {
    this.#alpn = checkAlpn(alpn)
    return this
  }

  /** Offers HTTP/2 with HTTP/1.1 as fallback (Pingora's `enable_h2`, same as `setAlpn(ALPN.H2H1)`). */
  enableH2(): this {
    return this.setAlpn(ALPN.H2H1)
  }

  /**
   * Requests or requires client certificates issued by a CA bundle (mTLS). The verified identity
   * is in {@link tlsDigest}'s `peerCertificate`.
   * @param options - CA bundle and mode, or `undefined` to stop asking for client certificates
   */
  setClientAuth(options: ClientAuthOptions | undefined): this {
    this.#clientAuth = options === undefined ? undefined : checkClientAuth(options)
    return this.#changed()
  }

  /**
   * Turns OCSP stapling of the default certificate on (or off with `undefined`): a checked
   * response from a file and/or fetched from the certificate's responder is sent to clients
   * that ask for one. See {@link OcspStaplingOptions}.
   * @param options - where responses come from, or `undefined` to staple nothing
   * @throws TypeError / RangeError for bad options
   */
  setOcspStapling(options: OcspStaplingOptions | undefined): this {
    const stapler =
      options === undefined ? undefined : new OcspStapler(checkOcspOptions(options), this)
    const wasStarted = this.#rotationTimer !== undefined || this.#state !== undefined
    this.#ocsp?.stop()
    this.#ocsp = stapler
    this.#changed()
    if (stapler !== undefined && wasStarted) stapler.start()
    for (const server of this.#servers) this.#listenOcsp(server)
    return this
  }

  /**
   * The OCSP response to staple in a handshake served with `context`, or `undefined`. A
   * listener that wraps accepted sockets itself (core's does) calls it per handshake with the
   * context it picked ({@link TlsSettings.contextFor}); only the default certificate's
   * contexts get a staple, and only while the response is valid.
   * @param context - the `SecureContext` of the handshake
   */
  ocspResponseFor(context: tls.SecureContext): Buffer | undefined {
    const stapler = this.#ocsp
    if (stapler === undefined) return undefined
    if (context !== this.#state?.baseContext && context !== this.#previousState?.baseContext) {
      return undefined
    }
    return stapler.staple()
  }

  /**
   * Fetches the OCSP response from the responder now (with `ocspStapling.fetch`), instead of
   * waiting for the next scheduled refresh.
   * @throws Error when stapling is off, or the fetch or its checks fail (the previous response
   *   stays in use while valid)
   */
  refreshOcsp(): Promise<void> {
    const stapler = this.#ocsp
    if (stapler === undefined) return Promise.reject(new Error('OCSP stapling is not configured'))
    this.#ensureState()
    return stapler.refresh()
  }

  /**
   * Reads certificate files and builds every `SecureContext` now, so configuration errors
   * surface at startup rather than on the first handshake.
   * @throws PingoraError `TLSConfigError`
   */
  build(): this {
    this.#apply(readFileSync)
    return this
  }

  /**
   * Returns `node:tls` server options: pass them to `tls.createServer(options)` or to
   * `new tls.TLSSocket(socket, { isServer: true, ...options })`. The `secureContext` property is
   * a getter that returns the current context, so read it per connection (do not cache a
   * spread copy when hot reload matters). Starts ticket key rotation.
   */
  toServerOptions(): tls.TlsOptions {
    const state = this.#ensureState()
    this.#startRotation()
    this.#ocsp?.start()
    const clientAuth = this.#clientAuth
    const options: tls.TlsOptions = {
      ...this.#contextOptions(
        state.materials.defaultMaterial,
        state.materials.clientCa,
        state.ticketKey,
      ),
      ALPNProtocols: [...this.#alpn],
      SNICallback: this.#sniCallback,
      requestCert: clientAuth !== undefined,
      rejectUnauthorized: clientAuth !== undefined && clientAuth.mode !== 'request',
      handshakeTimeout: this.#handshakeTimeoutMs,
    }
    Object.defineProperty(options, 'secureContext', {
      enumerable: true,
      configurable: true,
      get: () => this.#ensureState().baseContext,
    })
    return options
  }

  /**
   * Keeps a `tls.Server` made from {@link TlsSettings.toServerOptions} in step: reloads and
   * ticket key rotations also update the server's own base context, which handshakes without
   * SNI use.
   * @param server - the server to update
   * @returns a function that detaches it
   */
  attach(server: tls.Server): () => void {
    this.#servers.add(server)
    this.#listenOcsp(server)
    return () => {
      this.#servers.delete(server)
      server.off('OCSPRequest', this.#ocspListener)
    }
  }

  /**
   * Re-reads every certificate, key and CA file, builds all contexts, then swaps them in at
   * once: handshakes in progress finish with the old certificates, new ones get the new
   * certificates, and none fails during the swap. On failure the old certificates stay in use,
   * the error goes to `onReloadError` and the `pingora:tls:reload-failed` channel, and the
   * returned promise rejects.
   * @throws PingoraError `TLSConfigError`
   */
  async reload(): Promise<void> {
    const seq = ++this.#reloadSeq
    let state: ContextState | undefined
    try {
      const files = new Map<string, Buffer>()
      await Promise.all(
        this.#paths().map(async (path) => {
          files.set(path, await readFile(path))
        }),
      )
      if (seq !== this.#reloadSeq) return // a newer reload started; let it win
      state = this.#apply((path) => {
        const data = files.get(path)
        if (data === undefined) throw new Error(`not read: ${path}`)
        return data
      })
    } catch (error) {
      const failure = tlsConfigError('reloading TLS certificates', error)
      if (reloadFailedChannel.hasSubscribers) {
        reloadFailedChannel.publish({ settings: this, error: failure })
      }
      this.#onReloadError?.(failure)
      throw failure
    }
    for (const server of this.#servers) this.#updateServer(server, state)
    if (reloadedChannel.hasSubscribers)
      reloadedChannel.publish({ settings: this, error: undefined })
  }

  /**
   * Watches the certificate, key and CA files and reloads after they change (debounced).
   * Watches their directories, so renames and symlink swaps (certbot, Kubernetes secrets) are
   * seen. Reload failures are reported, never thrown.
   * @param options - debounce
   * @returns a function that stops watching
   */
  watchFiles(options: WatchFilesOptions = {}): () => void {
    const debounceMs = checkMs('debounceMs', options.debounceMs, 0, 200)
    const byDir = new Map<string, Set<string>>()
    for (const path of this.#paths()) {
      const dir = dirname(path)
      let names = byDir.get(dir)
      if (names === undefined) {
        names = new Set()
        byDir.set(dir, names)
      }
      names.add(basename(path))
    }
    const schedule = () => {
      if (this.#watchTimer !== undefined) clearTimeout(this.#watchTimer)
      this.#watchTimer = setTimeout(() => {
        this.#watchTimer = undefined
        // Failures were reported to onReloadError and the diagnostics channel.
        this.reload().catch(() => undefined)
      }, debounceMs)
      this.#watchTimer.unref()
    }
    const started: FSWatcher[] = []
    for (const [dir, names] of byDir) {
      const watcher = watch(dir, { persistent: false }, (_event, filename) => {
        const name = filename === null ? undefined : basename(filename.toString())
        // Kubernetes mounts swap a `..data` symlink (and `..<timestamp>` dirs), not the files.
        if (name === undefined || names.has(name) || name.startsWith('..')) schedule()
      })
      watcher.on('error', () => undefined)
      started.push(watcher)
    }
    this.#watchers.push(...started)
    return () => {
      for (const watcher of started) watcher.close()
      this.#watchers = this.#watchers.filter((w) => !started.includes(w))
    }
  }

  /**
   * Replaces the session ticket key now, keeping the previous key's contexts for one more
   * period: {@link TlsSettings.contextFor} still resumes tickets issued under it, while plain
   * `tls.createServer` handshakes (Node keeps one key per context) do not. Runs by itself every
   * `ticketKeyRotationMs`.
   */
  rotateTicketKeys(): void {
    const key = newTicketKey()
    const state = this.#state
    // Build first: if that throws, nothing has changed.
    const next = state === undefined ? undefined : this.#buildContexts(state.materials, key)
    this.#ticketKey = key
    if (next !== undefined) {
      this.#previousState = state
      this.#state = next
    }
    for (const server of this.#servers) server.setTicketKeys(key)
    if (ticketKeysRotatedChannel.hasSubscribers)
      ticketKeysRotatedChannel.publish({ settings: this })
  }

  /**
   * The `SecureContext` for a server name, chosen the way handshakes choose it: exact name,
   * then wildcard, then the certificate callback, then the default. A listener that reads the
   * ClientHello first ({@link readClientHello}) passes the result as the TLSSocket's
   * `secureContext`, which gets the certificate right even when RSA and ECDSA certificates are
   * mixed (see the README). Given the ClientHello's session `ticket`, it also picks the
   * previous ticket key's contexts when the ticket was issued under that key, so tickets keep
   * resuming for one rotation period. Synchronous unless the certificate callback runs.
   * @param servername - SNI from the ClientHello, or `undefined` when the client sent none
   * @param ticket - the session ticket the client offers (`ClientHelloInfo.ticket`)
   * @throws the certificate callback's error (synchronously, or as a rejection)
   */
  contextFor(
    servername: string | undefined,
    ticket?: Uint8Array,
  ): tls.SecureContext | Promise<tls.SecureContext> {
    let state = this.#ensureState()
    const previous = this.#previousState
    if (
      ticket !== undefined &&
      previous !== undefined &&
      isIssuedUnder(ticket, previous.ticketKey)
    ) {
      state = previous
    }
    if (servername === undefined || servername === '') return state.baseContext
    let inCall = true
    let syncError: Error | undefined
    let syncContext: tls.SecureContext | undefined
    let settle: ((error: Error | null, ctx?: tls.SecureContext) => void) | undefined
    this.#select(state, servername, undefined, (error, ctx) => {
      if (inCall) {
        syncError = error ?? undefined
        syncContext = ctx ?? state.baseContext
      } else settle?.(error, ctx)
    })
    inCall = false
    if (syncError !== undefined) throw syncError
    if (syncContext !== undefined) return syncContext
    return new Promise((resolve, reject) => {
      settle = (error, ctx) => {
        if (error !== null) reject(error)
        else resolve(ctx ?? state.baseContext)
      }
    })
  }

  /** Stops file watching and ticket key rotation. The settings stay usable. */
  close(): void {
    for (const watcher of this.#watchers) watcher.close()
    this.#watchers = []
    if (this.#watchTimer !== undefined) clearTimeout(this.#watchTimer)
    this.#watchTimer = undefined
    if (this.#rotationTimer !== undefined) clearInterval(this.#rotationTimer)
    this.#rotationTimer = undefined
    this.#ocsp?.stop()
  }

  #changed(): this {
    // Before first use, building is deferred; afterwards, rebuild now so errors surface here.
    if (this.#state !== undefined) {
      const state = this.#apply(readFileSync)
      for (const server of this.#servers) this.#updateServer(server, state)
    }
    return this
  }

  #ensureState(): ContextState {
    return this.#state ?? this.#apply(readFileSync)
  }

  /** Loads certificate material (and the OCSP staple), builds every context, then swaps. */
  #apply(read: (path: string) => Buffer): ContextState {
    const materials = this.#loadMaterials(read)
    const ocsp = this.#ocsp?.prepare(materials.defaultMaterial?.cert, read)
    const state = this.#swap(materials)
    if (ocsp !== undefined) this.#ocsp?.commit(ocsp)
    return state
  }

  #listenOcsp(server: tls.Server): void {
    server.off('OCSPRequest', this.#ocspListener)
    if (this.#ocsp !== undefined) server.on('OCSPRequest', this.#ocspListener)
  }

  #startRotation(): void {
    if (this.#rotationTimer !== undefined || this.#ticketKeyRotationMs === 0) return
    if (!this.#sessionTickets) return
    this.#rotationTimer = startTicketKeyRotation(this.#ticketKeyRotationMs, () =>
      this.rotateTicketKeys(),
    )
  }

  #paths(): string[] {
    const paths = new Set<string>()
    const add = (source: PemSource) => {
      if (isPath(source)) paths.add(resolvePath(source))
    }
    if (this.#defaultPair !== undefined) {
      add(this.#defaultPair.cert)
      add(this.#defaultPair.key)
    }
    for (const entry of this.#entries) {
      add(entry.pair.cert)
      add(entry.pair.key)
    }
    if (this.#clientAuth !== undefined) for (const ca of caList(this.#clientAuth.ca)) add(ca)
    for (const path of this.#ocsp?.paths() ?? []) paths.add(path)
    return [...paths]
  }

  #loadMaterials(read: (path: string) => Buffer): Materials {
    if (VERSIONS.indexOf(this.#minVersion) > VERSIONS.indexOf(this.#maxVersion)) {
      throw new RangeError(`minVersion ${this.#minVersion} is above maxVersion ${this.#maxVersion}`)
    }
    const load = (source: PemSource, what: string): Buffer => {
      if (!isPath(source)) return typeof source === 'string' ? Buffer.from(source) : source
      try {
        return read(resolvePath(source))
      } catch (error) {
        throw tlsConfigError(`failed to read ${what} file ${source}`, error)
      }
    }
    const loaded = new Map<CertKeyPair, Material>()
    const loadPair = (pair: CertKeyPair): Material => {
      let material = loaded.get(pair)
      if (material === undefined) {
        material = { cert: load(pair.cert, 'cert'), key: load(pair.key, 'key') }
        checkMaterial(material, pair)
        loaded.set(pair, material)
      }
      return material
    }
    const clientCa =
      this.#clientAuth === undefined
        ? undefined
        : caList(this.#clientAuth.ca).map((ca) => load(ca, 'CA'))
    const defaultMaterial = this.#defaultPair && loadPair(this.#defaultPair)
    const entries = this.#entries.map((entry) => ({
      names: entry.names,
      material: loadPair(entry.pair),
    }))
    return { defaultMaterial, clientCa, entries }
  }

  #buildContexts(materials: Materials, ticketKey: Buffer): ContextState {
    return buildContexts(materials, ticketKey, this.#createContextFn)
  }

  /** Builds every context for new material (and for the previous ticket key), then swaps. */
  #swap(materials: Materials): ContextState {
    const state = this.#buildContexts(materials, this.#ticketKey)
    const previous = this.#previousState
    const rebuiltPrevious =
      previous === undefined ? undefined : this.#buildContexts(materials, previous.ticketKey)
    this.#state = state
    this.#previousState = rebuiltPrevious
    return state
  }

  #contextOptions(
    material: Material | undefined,
    clientCa: Buffer[] | undefined,
    ticketKey: Buffer,
  ) {
    return {
      cert: material?.cert,
      key: material?.key,
      ca: clientCa,
      ciphers: this.#ciphers,
      ecdhCurve: this.#groups.join(':'),
      minVersion: this.#minVersion,
      maxVersion: this.#maxVersion,
      dhparam: FFDHE2048_PEM,
      honorCipherOrder: false,
      sessionTimeout: Math.max(1, Math.floor(this.#sessionTimeoutMs / 1000)),
      ticketKeys: ticketKey,
      secureOptions:
        SERVER_SECURE_OPTIONS | (this.#sessionTickets ? 0 : cryptoConstants.SSL_OP_NO_TICKET),
    }
  }

  #createContext(
    material: Material | undefined,
    clientCa: Buffer[] | undefined,
    ticketKey: Buffer,
  ): tls.SecureContext {
    try {
      return tls.createSecureContext(this.#contextOptions(material, clientCa, ticketKey))
    } catch (error) {
      throw tlsConfigError('failed to build TLS context', error)
    }
  }

  #updateServer(server: tls.Server, state: ContextState): void {
    const { defaultMaterial, clientCa } = state.materials
    server.setSecureContext(this.#contextOptions(defaultMaterial, clientCa, state.ticketKey))
    server.setTicketKeys(state.ticketKey)
  }

  #select(
    state: ContextState,
    servername: string,
    socket: tls.TLSSocket | undefined,
    cb: (error: Error | null, ctx?: tls.SecureContext) => void,
  ): void {
    selectContext(
      state,
      servername,
      socket,
      this.#certificateCallback,
      this.#createContextFn,
      this.#callbackFailedFn,
      cb,
    )
  }
}

function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | undefined)?.then === 'function'
}
