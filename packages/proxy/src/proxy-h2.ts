import type { Http2ClientSession, HttpConnector, HttpPeer } from '@pingora-ts/core'
import { ErrorType, PingoraError } from '@pingora-ts/error'
import type { ResponseHeader } from '@pingora-ts/http'
import type { DownstreamWriter } from './downstream-writer.ts'
import type { ProxyCache } from './proxy-cache.ts'
import type { ProxyHttp } from './proxy-trait.ts'
import type { Session } from './session.ts'
import {
  failedExchange,
  isFinalResponse,
  prepareUpstreamRequest,
  relayInformational,
  sendRequestBody,
  upstreamConnected,
  upstreamRequestFilter,
  upstreamResponded,
} from './upstream-request.ts'

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
  readonly #cache: ProxyCache<Ctx> | undefined

  /**
   * @param inner - the user's phases
   * @param connector - the upstream connector (its HTTP/2 pool owns the connection)
   * @param writer - the downstream writer
   * @param cache - the cache engine, when the app caches
   */
  constructor(
    inner: ProxyHttp<Ctx>,
    connector: HttpConnector,
    writer: DownstreamWriter<Ctx>,
    cache?: ProxyCache<Ctx>,
  ) {
    this.#inner = inner
    this.#connector = connector
    this.#writer = writer
    this.#cache = cache
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
    try {
      const connected = upstreamConnected(inner, session, ctx, peer, client, reused)
      if (connected !== undefined) await connected
      if (downstream.isUpgradeRequest()) {
        throw PingoraError.explain(
          ErrorType.InvalidHTTPHeader,
          'an HTTP/1.1 upgrade cannot be proxied to an HTTP/2 upstream',
        )
      }
      const hasBody = !downstream.isBodyEmpty()
      const request = prepareUpstreamRequest(inner, session, true)
      if (this.#cache !== undefined) this.#cache.upstreamRequestFilter(session, request)
      const filtering = upstreamRequestFilter(inner, session, request, ctx)
      if (filtering !== undefined) await filtering
      await client.writeRequestHeader(request, !hasBody)
      session.markUpstreamHeaderSent()
      if (hasBody) {
        bodyTask = sendRequestBody(inner, session, ctx, client).then(
          // The whole request is up; the response may stream on for long (gRPC server
          // streaming): watch for the client resetting its stream meanwhile.
          () => {
            if (downstream.isHttp2()) watchClient(session, client)
          },
          (error: unknown) => {
            bodyError = error
            client.shutdown()
          },
        )
      } else if (downstream.isHttp2()) {
        // Nothing to send: watch the client stream instead, and reset ours if it is reset.
        // (An HTTP/1 client that leaves is noticed when the response is written to it.)
        watchClient(session, client)
      }

      let response: ResponseHeader
      try {
        for (;;) {
          response = await client.readResponseHeader()
          if (isFinalResponse(client, response)) break
          const relayed = relayInformational(session, response)
          if (relayed !== undefined) await relayed
        }
      } catch (error) {
        if (bodyError !== undefined) throw bodyError
        throw error
      }
      upstreamResponded(session, peer, response)
      const cache = this.#cache
      const writing =
        cache?.involved(session) === true
          ? cache.writeFromUpstream(session, ctx, response, client)
          : this.#writer.write(session, ctx, request.method, response, client, true)
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
    } catch (error) {
      return failedExchange(inner, session, ctx, peer, client, reused, error)
    }
    this.#connector.releaseHttpSession(client, peer)
    return undefined
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
