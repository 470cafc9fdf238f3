import type { Http2ClientSession, HttpConnector, HttpPeer } from '@pingora-ts/core'
import { ErrorType, PingoraError } from '@pingora-ts/error'
import type { RequestHeader, ResponseHeader } from '@pingora-ts/http'
import { channels, publishUpstreamFailed } from './diagnostics.ts'
import type { DownstreamWriter } from './downstream-writer.ts'
import { removeHopByHopHeaders } from './hop-by-hop.ts'
import { isThenable, toError } from './proxy-common.ts'
import { defaultErrorWhileProxy } from './proxy-h1.ts'
import type { ProxyHttp } from './proxy-trait.ts'
import type { Session } from './session.ts'

/**
 * The HTTP/2 upstream exchange of the proxy (Pingora's `proxy_h2.rs`), for HTTP/1.x and
 * HTTP/2 clients alike: the request header becomes a HEADERS frame (`Host` gives
 * `:authority`, hop-by-hop fields are dropped but `te: trailers` is kept for gRPC), the body
 * goes up as DATA, 1xx and the final response come down through the {@link DownstreamWriter},
 * and the response trailers reach the client through the trailer phases. A client that goes
 * away (HTTP/1 disconnect, HTTP/2 RST_STREAM) resets the upstream stream.
 * @internal
 */
export class ProxyH2<Ctx> {
  readonly #inner: ProxyHttp<Ctx>
  readonly #connector: HttpConnector
  readonly #writer: DownstreamWriter<Ctx>

  /**
   * @param inner - the user's phases
   * @param connector - the upstream connector (its HTTP/2 pool owns the connection)
   * @param writer - the downstream writer
   */
  constructor(inner: ProxyHttp<Ctx>, connector: HttpConnector, writer: DownstreamWriter<Ctx>) {
    this.#inner = inner
    this.#connector = connector
    this.#writer = writer
  }

  /**
   * Runs one exchange on an upstream HTTP/2 stream. Resolves the error of a failed exchange
   * (after `errorWhileProxy`), `undefined` on success.
   * @param session - the proxy session
   * @param ctx - the request's ctx
   * @param peer - the upstream peer
   * @param client - the upstream stream
   * @param reused - whether the connection carried earlier streams
   */
  async proxy(
    session: Session,
    ctx: Ctx,
    peer: HttpPeer,
    client: Http2ClientSession,
    reused: boolean,
  ): Promise<PingoraError | undefined> {
    const inner = this.#inner
    const downstream = session.downstreamSession
    let bodyTask: Promise<void> | undefined
    let bodyError: unknown
    if (channels.upstreamConnected.hasSubscribers) {
      channels.upstreamConnected.publish({ session, peer, reused, digest: client.digest })
    }
    try {
      if (inner.connectedToUpstream !== undefined) {
        const r = inner.connectedToUpstream(session, reused, peer, client.digest, ctx)
        if (isThenable(r)) await r
      }
      if (downstream.isUpgradeRequest()) {
        throw PingoraError.explain(
          ErrorType.InvalidHTTPHeader,
          'an HTTP/1.1 upgrade cannot be proxied to an HTTP/2 upstream',
        )
      }
      const modules = session.downstreamModulesCtx
      const request: RequestHeader = downstream.requestHeader.clone()
      const hasBody = !downstream.isBodyEmpty()
      const te = request.getHeader('te')
      removeHopByHopHeaders(request.headers)
      // RFC 9113 §8.2.2: `te: trailers` is the one TE an HTTP/2 request may carry; gRPC needs it.
      if (te !== undefined && isTrailersOnly(te)) request.insertHeader('te', 'trailers')
      if (hasBody && (inner.requestBodyFilter !== undefined || modules.filtersRequestBody)) {
        request.removeHeader('Content-Length')
      }
      if (inner.upstreamRequestFilter !== undefined) {
        const r = inner.upstreamRequestFilter(session, request, ctx)
        if (isThenable(r)) await r
      }
      await client.writeRequestHeader(request, !hasBody)
      session.markUpstreamHeaderSent()
      if (hasBody) {
        bodyTask = this.#sendRequestBody(session, ctx, client).catch((e: unknown) => {
          bodyError = e
          client.shutdown()
        })
      } else if (downstream.isHttp2()) {
        // Nothing to send: watch the client stream instead, and reset ours if it is reset.
        // (An HTTP/1 client that leaves is noticed when the response is written to it.)
        watchClient(session, client)
      }

      let response: ResponseHeader
      try {
        for (;;) {
          response = await client.readResponseHeader()
          const status = response.status
          if (status >= 100 && status < 200) {
            if (status === 101) {
              throw PingoraError.upstream(ErrorType.H2Error, '101 response over HTTP/2')
            }
            if (status === 100 && downstream.getHeader('Expect') === undefined) continue
            removeHopByHopHeaders(response.headers)
            await downstream.writeResponseHeader(response)
            continue
          }
          break
        }
      } catch (e) {
        if (bodyError !== undefined) throw bodyError
        throw e
      }
      session.timing.upstreamHeaders = performance.now()
      if (channels.upstreamResponded.hasSubscribers) {
        channels.upstreamResponded.publish({ session, peer, response })
      }
      const writing = this.#writer.write(session, ctx, request.method, response, client, true)
      if (writing !== undefined) await writing
      if (bodyTask !== undefined) {
        if (!downstream.isBodyDone()) {
          // The response is complete before the request body (an early answer): stop the upload.
          client.shutdown()
          bodyTask.catch(() => {})
        } else {
          await bodyTask
          if (bodyError !== undefined) throw bodyError
        }
      }
    } catch (e) {
      client.shutdown()
      let error = toError(e, ErrorType.InternalError, 'while proxying', 'internal')
      if (inner.errorWhileProxy !== undefined) {
        error = inner.errorWhileProxy(peer, session, error, ctx, reused)
      } else {
        error = defaultErrorWhileProxy(peer, session, error, reused)
      }
      publishUpstreamFailed(session, peer, error, reused)
      return error
    }
    this.#connector.releaseHttpSession(client, peer)
    return undefined
  }

  async #sendRequestBody(session: Session, ctx: Ctx, client: Http2ClientSession): Promise<void> {
    const inner = this.#inner
    const downstream = session.downstreamSession
    const modules = session.downstreamModulesCtx
    const hasModules = modules.modules.length > 0
    if (session.retries > 1) {
      const replay = downstream.getRetryBuffer()
      if (replay !== undefined && replay.length > 0) {
        let out: Uint8Array | undefined = replay
        if (hasModules) out = modules.requestBodyFilter(out, false)
        if (inner.requestBodyFilter !== undefined) {
          const r = inner.requestBodyFilter(session, out, false, ctx)
          out = isThenable(r) ? await r : r
        }
        if (out !== undefined && out.length > 0) await client.writeBody(out)
      }
    }
    for (;;) {
      let data: Uint8Array | undefined
      try {
        data = await downstream.readRequestBody()
      } catch (e) {
        throw toError(e, ErrorType.ReadError, 'reading the request body', 'downstream')
      }
      const eos = data === undefined
      if (hasModules) data = modules.requestBodyFilter(data, eos)
      if (inner.requestBodyFilter !== undefined) {
        const r = inner.requestBodyFilter(session, data, eos, ctx)
        data = isThenable(r) ? await r : r
      }
      if (data !== undefined && data.length > 0) await client.writeBody(data)
      if (eos) break
    }
    await client.finishBody()
    // The whole request is up; the response may stream on for long (gRPC server streaming):
    // watch for the client resetting its stream meanwhile.
    if (downstream.isHttp2()) watchClient(session, client)
  }
}

/**
 * Resets the upstream stream when the HTTP/2 client resets its stream while the proxy waits
 * for the upstream (Pingora's downstream-closed check in `proxy_h2.rs`).
 */
function watchClient(session: Session, client: Http2ClientSession): void {
  const reset = (): void => {
    if (!client.isBodyDone()) client.shutdown()
  }
  session.downstreamSession.readBodyOrIdle(true).then(reset, reset)
}

/** Whether a `TE` value is exactly `trailers` (the only value HTTP/2 allows). */
function isTrailersOnly(value: string): boolean {
  return value.trim().toLowerCase() === 'trailers'
}
