import { WRITE_SETTLED } from '@pingora-ts/core'
import type { HeaderMap, ResponseHeader } from '@pingora-ts/http'
import { removeHopByHopHeaders } from './hop-by-hop.ts'
import { isThenable } from './proxy-common.ts'
import type { ProxyHttp } from './proxy-trait.ts'
import type { Session } from './session.ts'

/**
 * Where the body of a response sent downstream comes from: the upstream `ClientSession` today
 * (it implements this), a cache hit later. Port of the body side of Pingora's
 * `HttpTask` stream that `proxy_common.rs` consumes.
 */
export interface ResponseBodySource {
  /**
   * Takes the next piece without waiting (bytes already received), or `undefined` when none is
   * there yet or the body is done ({@link ResponseBodySource.isBodyDone} tells which).
   */
  tryReadResponseBody(): Uint8Array | undefined
  /** Waits for the next piece; `undefined` at the end of the body. */
  readResponseBody(): Promise<Uint8Array | undefined>
  /** Whether the whole body has been read. */
  isBodyDone(): boolean
  /** Trailers that followed the body (HTTP/2 upstreams), read once the body is done. */
  readonly responseTrailers?: HeaderMap | undefined
}

/**
 * The one place a proxied response is written to the client (Pingora's downstream half of
 * `proxy_common.rs` and the response side of `proxy_h1.rs`): it runs `upstreamResponseFilter`
 * (upstream responses only) and `responseFilter`, strips hop-by-hop headers, fixes the framing
 * when a body filter may change the length, runs the downstream modules, and relays the body
 * through `upstreamResponseBodyFilter` (upstream only), `responseBodyFilter` and the modules.
 *
 * ```text
 *  upstream exchange ──┐                         ┌─► header filters, hop-by-hop, framing, modules
 *                      ├─► DownstreamWriter.write ┤
 *  cache hit (later) ──┘                         └─► body: fast path (one write) or relay loop
 * ```
 *
 * Hot path: when no phase, module or body filter is defined, a response whose body arrived with
 * its head leaves in one socket write and `write` returns `undefined` (no promise at all);
 * writes that did not wait return `WRITE_SETTLED` and are not awaited.
 * @internal
 */
export class DownstreamWriter<Ctx> {
  readonly #inner: ProxyHttp<Ctx>

  /** @param inner - the user's phases */
  constructor(inner: ProxyHttp<Ctx>) {
    this.#inner = inner
  }

  /**
   * Writes a final (non-1xx, non-101) response and its body to the client.
   * @param session - the proxy session
   * @param ctx - the request's ctx
   * @param method - the request method (a HEAD response keeps its `Content-Length`)
   * @param response - the response header; filtered and modified in place
   * @param source - the body
   * @param fromUpstream - whether the response comes from the upstream (runs the upstream phases)
   * @returns `undefined` when everything was written without waiting, else a promise
   */
  write(
    session: Session,
    ctx: Ctx,
    method: string,
    response: ResponseHeader,
    source: ResponseBodySource,
    fromUpstream: boolean,
  ): Promise<void> | undefined {
    const filtering = this.headerFilters(session, response, ctx, fromUpstream)
    if (filtering === undefined) {
      const filtersBody = this.#filtersBody(session, fromUpstream)
      this.#prepareHeader(session, method, response, filtersBody)
      if (!filtersBody && session.downstreamModulesCtx.modules.length === 0) {
        // The hot path: no phase, module or body filter.
        return this.#writeUnfiltered(session, ctx, response, source, noBodyIn(source), fromUpstream)
      }
    }
    return this.#writeFiltered(filtering, session, ctx, method, response, source, fromUpstream)
  }

  /**
   * Runs `upstreamResponseFilter` (when `fromUpstream`) then `responseFilter` on a response
   * header; `undefined` (no promise) when the app defines neither.
   * @param session - the proxy session
   * @param response - the header
   * @param ctx - the request's ctx
   * @param fromUpstream - whether the upstream phase applies
   */
  headerFilters(
    session: Session,
    response: ResponseHeader,
    ctx: Ctx,
    fromUpstream: boolean,
  ): Promise<void> | undefined {
    const inner = this.#inner
    if (
      (!fromUpstream || inner.upstreamResponseFilter === undefined) &&
      inner.responseFilter === undefined
    ) {
      return undefined
    }
    return this.#runHeaderFilters(session, response, ctx, fromUpstream)
  }

  async #runHeaderFilters(
    session: Session,
    response: ResponseHeader,
    ctx: Ctx,
    fromUpstream: boolean,
  ): Promise<void> {
    const inner = this.#inner
    if (fromUpstream && inner.upstreamResponseFilter !== undefined) {
      const r = inner.upstreamResponseFilter(session, response, ctx)
      if (isThenable(r)) await r
    }
    if (inner.responseFilter !== undefined) {
      const r = inner.responseFilter(session, response, ctx)
      if (isThenable(r)) await r
    }
  }

  /** Whether a body phase or module may change the body (and so its length). */
  #filtersBody(session: Session, fromUpstream: boolean): boolean {
    const inner = this.#inner
    return (
      inner.responseBodyFilter !== undefined ||
      (fromUpstream && inner.upstreamResponseBodyFilter !== undefined) ||
      session.downstreamModulesCtx.filtersResponseBody
    )
  }

  /** After the header phases: hop-by-hop fields, framing, and a shutdown in progress. */
  #prepareHeader(
    session: Session,
    method: string,
    response: ResponseHeader,
    filtersBody: boolean,
  ): void {
    removeHopByHopHeaders(response.headers)
    // A filter may change the length; HEAD, 204 and 304 keep theirs (it describes no body here).
    if (filtersBody && method !== 'HEAD' && response.status !== 204 && response.status !== 304) {
      response.removeHeader('Content-Length')
    }
    // A graceful shutdown started while this request was in flight: tell the client.
    if (session.isProcessShuttingDown()) session.downstreamSession.setKeepalive(undefined)
  }

  /**
   * The path that may wait on a phase: the header phases (when `filtering` is their promise),
   * the modules' header filters, then the body, filtered or not.
   */
  async #writeFiltered(
    filtering: Promise<void> | undefined,
    session: Session,
    ctx: Ctx,
    method: string,
    response: ResponseHeader,
    source: ResponseBodySource,
    fromUpstream: boolean,
  ): Promise<void> {
    const filtersBody = this.#filtersBody(session, fromUpstream)
    if (filtering !== undefined) {
      await filtering
      this.#prepareHeader(session, method, response, filtersBody)
    }
    const noBody = noBodyIn(source)
    const modules = session.downstreamModulesCtx
    let filters = filtersBody
    if (modules.modules.length > 0) {
      await modules.responseHeaderFilter(response, noBody)
      // A module may start filtering the body from its header filter (compression decides
      // there, and removes Content-Length itself when it changes the body).
      if (!filters) filters = modules.filtersResponseBody
    }
    if (filters) {
      const written = session.downstreamSession.writeResponseHeader(response, false)
      if (written !== WRITE_SETTLED) await written
      await this.relayBody(session, ctx, source, noBody, undefined, fromUpstream)
      return
    }
    const written = this.#writeUnfiltered(session, ctx, response, source, noBody, fromUpstream)
    if (written !== undefined) await written
  }

  /**
   * No body filter: body bytes that came with the head are taken synchronously, so a small
   * response (head and body in one read) leaves in one write, with no await and no tick.
   */
  #writeUnfiltered(
    session: Session,
    ctx: Ctx,
    response: ResponseHeader,
    source: ResponseBodySource,
    noBody: boolean,
    fromUpstream: boolean,
  ): Promise<void> | undefined {
    const downstream = session.downstreamSession
    let first: Uint8Array | undefined
    let firstError: unknown
    if (!noBody) {
      try {
        first = source.tryReadResponseBody()
      } catch (error) {
        firstError = error
      }
    }
    if (first !== undefined && noBodyIn(source)) {
      session.addUpstreamBodyBytes(first.length)
      const written = downstream.writeResponse(response, first)
      return written === WRITE_SETTLED ? undefined : written
    }
    const written = downstream.writeResponseHeader(response, noBody)
    if (firstError === undefined && noBody) {
      return written === WRITE_SETTLED ? undefined : written
    }
    return this.#relayAfterHeader(session, ctx, source, written, first, firstError, fromUpstream)
  }

  async #relayAfterHeader(
    session: Session,
    ctx: Ctx,
    source: ResponseBodySource,
    written: Promise<void>,
    first: Uint8Array | undefined,
    firstError: unknown,
    fromUpstream: boolean,
  ): Promise<void> {
    if (written !== WRITE_SETTLED) await written
    // A framing error in those bytes surfaces after the header, as on any later read.
    if (firstError !== undefined) throw firstError
    // Unfiltered by construction: no body phase applies here (`fromUpstream` only selects the
    // upstream trailer phase, if trailers come).
    await this.relayBody(session, ctx, source, false, first, fromUpstream)
  }

  /**
   * The end of a body that came with trailers: `upstreamResponseTrailerFilter` (upstream
   * only), `responseTrailerFilter` and the modules' trailer filters, whose bytes go out as a
   * last body piece; then the trailers themselves (HTTP/2 HEADERS, or the HTTP/1.1 last chunk
   * when the client sent `TE: trailers`).
   */
  async #writeTrailers(
    session: Session,
    ctx: Ctx,
    trailers: HeaderMap,
    fromUpstream: boolean,
  ): Promise<void> {
    const inner = this.#inner
    const downstream = session.downstreamSession
    if (fromUpstream && inner.upstreamResponseTrailerFilter !== undefined) {
      inner.upstreamResponseTrailerFilter(session, trailers, ctx)
    }
    let extra: Uint8Array | undefined
    if (inner.responseTrailerFilter !== undefined) {
      extra = inner.responseTrailerFilter(session, trailers, ctx)
    }
    const modules = session.downstreamModulesCtx
    if (modules.modules.length > 0) {
      const more = modules.responseTrailerFilter(trailers)
      if (more !== undefined) extra = extra === undefined ? more : Buffer.concat([extra, more])
    }
    if (extra !== undefined && extra.length > 0) {
      const written = downstream.writeResponseBody(extra, false)
      if (written !== WRITE_SETTLED) await written
    }
    const written = downstream.writeResponseTrailers(trailers)
    if (written !== WRITE_SETTLED) await written
  }

  /**
   * Relays the rest of the body: pieces already received are taken synchronously, and only a
   * write that has to wait (or a read of bytes not yet received) is awaited.
   * @param session - the proxy session
   * @param ctx - the request's ctx
   * @param source - the body
   * @param alreadyDone - the body is known to be complete (only the end is written)
   * @param first - a piece the caller already took (unfiltered relay only)
   * @param fromUpstream - whether `upstreamResponseBodyFilter` applies
   */
  async relayBody(
    session: Session,
    ctx: Ctx,
    source: ResponseBodySource,
    alreadyDone: boolean,
    first: Uint8Array | undefined,
    fromUpstream: boolean,
  ): Promise<void> {
    const inner = this.#inner
    const downstream = session.downstreamSession
    const modules = session.downstreamModulesCtx
    const hasModules = modules.modules.length > 0
    const upstreamFilter = fromUpstream ? inner.upstreamResponseBodyFilter : undefined
    const filter = inner.responseBodyFilter
    const filtered = upstreamFilter !== undefined || filter !== undefined || hasModules
    // Freeing relayed buffers early is an HTTP/1 fast path (ADR 0009); HTTP/2 copies them.
    const fast = filtered ? undefined : downstream.fastPaths
    let pending = first
    for (;;) {
      let data: Uint8Array | undefined
      if (pending !== undefined) {
        data = pending
        pending = undefined
      } else if (!alreadyDone) {
        data = source.tryReadResponseBody()
        if (data === undefined && !source.isBodyDone()) data = await source.readResponseBody()
      }
      let written: Promise<void>
      if (data !== undefined) {
        session.addUpstreamBodyBytes(data.length)
        if (!filtered && noBodyIn(source)) {
          // The last piece: it and the end of the body leave in one write, one pass fewer.
          written = downstream.writeResponseBody(data, true)
          if (written !== WRITE_SETTLED) await written
          if (fast !== undefined) fast.releaseWrittenBody(data)
          break
        }
      }
      const eos = data === undefined
      // `call`: the phases are often class methods that use `this`.
      if (upstreamFilter !== undefined) data = upstreamFilter.call(inner, session, data, eos, ctx)
      if (filter !== undefined) data = filter.call(inner, session, data, eos, ctx)
      if (hasModules) data = modules.responseBodyFilter(data, eos)
      if (eos) {
        const trailers = source.responseTrailers
        if (trailers !== undefined) {
          if (data !== undefined) {
            written = downstream.writeResponseBody(data, false)
            if (written !== WRITE_SETTLED) await written
            data = undefined
          }
          await this.#writeTrailers(session, ctx, trailers, fromUpstream)
        }
      }
      written = downstream.writeResponseBody(data, eos)
      if (written !== WRITE_SETTLED) await written
      // Unfiltered, the proxy is the only user of each piece: free its read buffer (ADR 0009).
      if (fast !== undefined && data !== undefined) fast.releaseWrittenBody(data)
      if (eos) break
    }
  }
}

/**
 * Whether there is nothing of the body left to send: it already ended, and with no trailers to
 * deliver (an HTTP/2 upstream's HEADERS, trailers, END_STREAM with no DATA is a gRPC error
 * that still has its trailers to pass on).
 */
function noBodyIn(source: ResponseBodySource): boolean {
  return source.isBodyDone() && source.responseTrailers === undefined
}
