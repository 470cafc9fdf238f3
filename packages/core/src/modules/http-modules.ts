import type { HeaderMap, RequestHeader, ResponseHeader } from '@pingora-ts/http'

/** A hook result that may be a promise; the caller awaits only promises. */
type MaybePromise<T> = T | Promise<T>

/**
 * A downstream HTTP module: per-request logic that runs on the client's request and on every
 * response sent to the client (proxied or written locally). Port of `HttpModule` in
 * `pingora-core/src/modules/http/mod.rs`; it lives in core, as in Pingora, so any HTTP app can
 * run modules (`@pingora-ts/proxy` runs them for every proxied request and re-exports these
 * names). A new instance is made per request by its
 * {@link HttpModuleBuilder}.
 */
export interface HttpModule {
  /** Sees the client's request header, before `requestFilter`. */
  requestHeaderFilter?(request: RequestHeader): MaybePromise<void>
  /**
   * Sees each request body chunk before `requestBodyFilter`; returns the bytes to keep.
   */
  requestBodyFilter?(body: Uint8Array | undefined, endOfStream: boolean): Uint8Array | undefined
  /** Sees the response header sent to the client, after `responseFilter`. */
  responseHeaderFilter?(response: ResponseHeader, endOfStream: boolean): MaybePromise<void>
  /** Sees each response body chunk sent to the client; returns the bytes to send. */
  responseBodyFilter?(body: Uint8Array | undefined, endOfStream: boolean): Uint8Array | undefined
  /**
   * Sees the response trailers (when the upstream sent some), after `responseTrailerFilter`;
   * may change them, and returns bytes to send as a last body piece (gRPC-web puts the
   * trailers in the body this way) or `undefined`.
   */
  responseTrailerFilter?(trailers: HeaderMap): Uint8Array | undefined
}

/** Makes one {@link HttpModule} instance per request. */
export interface HttpModuleBuilder {
  /** Higher runs first. @defaultValue 0 */
  readonly order?: number
  /** Creates the module instance for one request. */
  init(): HttpModule
}

/**
 * The downstream modules of an app, set up once (a proxy's in
 * `ProxyHttp.initDownstreamModules`). Port of `HttpModules`.
 */
export class HttpModules {
  readonly #builders: HttpModuleBuilder[] = []
  #frozen = false

  /**
   * Adds a module builder. Throws when the same builder is added twice or after the proxy
   * started.
   * @param builder - the builder
   */
  addModule(builder: HttpModuleBuilder): void {
    if (this.#frozen)
      throw new TypeError('HttpModules: cannot add a module after the proxy started')
    if (this.#builders.includes(builder)) throw new TypeError('HttpModules: module added twice')
    this.#builders.push(builder)
    this.#builders.sort((a, b) => (b.order ?? 0) - (a.order ?? 0))
  }

  /** The number of modules. */
  get size(): number {
    return this.#builders.length
  }

  /** @internal Builds the per-request module instances. */
  buildCtx(): HttpModuleCtx {
    this.#frozen = true
    // Without modules the context holds nothing per request: share one.
    if (this.#builders.length === 0) return EMPTY_MODULE_CTX
    const modules: HttpModule[] = new Array(this.#builders.length)
    for (let i = 0; i < this.#builders.length; i++) {
      modules[i] = (this.#builders[i] as HttpModuleBuilder).init()
    }
    return new HttpModuleCtx(modules)
  }
}

/** The module instances of one request. Port of `HttpModuleCtx`. */
export class HttpModuleCtx {
  /** The modules in run order. */
  readonly modules: readonly HttpModule[]

  /** @internal */
  constructor(modules: HttpModule[]) {
    this.modules = modules
  }

  /**
   * The module instance of a class, to configure it for this request.
   * @param type - the module's class
   */
  get<T extends HttpModule>(type: abstract new (...args: never[]) => T): T | undefined {
    for (const m of this.modules) if (m instanceof type) return m
    return undefined
  }

  /** @internal */
  async requestHeaderFilter(request: RequestHeader): Promise<void> {
    for (const m of this.modules) {
      if (m.requestHeaderFilter) await m.requestHeaderFilter(request)
    }
  }

  /**
   * @internal Runs every module's trailer filter; their bytes are joined in run order.
   */
  responseTrailerFilter(trailers: HeaderMap): Uint8Array | undefined {
    let out: Uint8Array | undefined
    for (const m of this.modules) {
      if (m.responseTrailerFilter === undefined) continue
      const bytes = m.responseTrailerFilter(trailers)
      if (bytes === undefined || bytes.length === 0) continue
      out = out === undefined ? bytes : Buffer.concat([out, bytes])
    }
    return out
  }

  /** @internal */
  requestBodyFilter(body: Uint8Array | undefined, endOfStream: boolean): Uint8Array | undefined {
    let out = body
    for (const m of this.modules) {
      if (m.requestBodyFilter) out = m.requestBodyFilter(out, endOfStream)
    }
    return out
  }

  /** @internal */
  async responseHeaderFilter(response: ResponseHeader, endOfStream: boolean): Promise<void> {
    for (const m of this.modules) {
      if (m.responseHeaderFilter) await m.responseHeaderFilter(response, endOfStream)
    }
  }

  /** @internal */
  responseBodyFilter(body: Uint8Array | undefined, endOfStream: boolean): Uint8Array | undefined {
    let out = body
    for (const m of this.modules) {
      if (m.responseBodyFilter) out = m.responseBodyFilter(out, endOfStream)
    }
    return out
  }

  /** Whether any module filters response bodies (their length may change). */
  get filtersResponseBody(): boolean {
    for (const m of this.modules) if (m.responseBodyFilter) return true
    return false
  }

  /** Whether any module filters request bodies. */
  get filtersRequestBody(): boolean {
    for (const m of this.modules) if (m.requestBodyFilter) return true
    return false
  }
}

const EMPTY_MODULE_CTX = new HttpModuleCtx([])
