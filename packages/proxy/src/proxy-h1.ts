import {
  type ClientSession,
  type HttpConnector,
  type HttpPeer,
  WRITE_SETTLED,
} from '@pingora-ts/core'
import { ErrorType, PingoraError } from '@pingora-ts/error'
import type { ResponseHeader } from '@pingora-ts/http'
import type { DownstreamWriter } from './downstream-writer.ts'
import { removeHopByHopHeaders } from './hop-by-hop.ts'
import type { ProxyCache } from './proxy-cache.ts'
import { ignoreClosed } from './proxy-common.ts'
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
 * The HTTP/1 upstream exchange of the proxy (Pingora's `proxy_h1.rs`): request header and body
 * up, 1xx and the final response down through the {@link DownstreamWriter}, the 101 tunnel,
 * and the upstream connection back to the pool when it may be reused.
 *
 * Writes that did not have to wait return `WRITE_SETTLED` and are not awaited, and body bytes
 * that arrived with the response head are taken synchronously: on a small response the only
 * awaits are for the upstream's response head.
 * @internal
 */
export class ProxyH1<Ctx> {
  readonly #inner: ProxyHttp<Ctx>
  readonly #connector: HttpConnector
  readonly #writer: DownstreamWriter<Ctx>
  readonly #cache: ProxyCache<Ctx> | undefined

  /**
   * @param inner - the user's phases
   * @param connector - the upstream connector (its pool takes reusable connections back)
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
   * Runs one exchange on a connected upstream session. Resolves the error of a failed exchange
   * (after `errorWhileProxy`), `undefined` on success.
   * @param session - the proxy session
   * @param ctx - the request's ctx
   * @param peer - the upstream peer
   * @param client - the upstream session
   * @param reused - whether the connection came from the pool
   */
  async proxy(
    session: Session,
    ctx: Ctx,
    peer: HttpPeer,
    client: ClientSession,
    reused: boolean,
  ): Promise<PingoraError | undefined> {
    const inner = this.#inner
    const options = peer.options
    let reusable: boolean
    try {
      const connected = upstreamConnected(inner, session, ctx, peer, client, reused)
      if (connected !== undefined) await connected
      const downstream = session.downstreamSession
      const isUpgrade = downstream.isUpgradeRequest()
      const hasBody = !downstream.isBodyEmpty()
      const request = prepareUpstreamRequest(inner, session, false)
      if (this.#cache !== undefined) this.#cache.upstreamRequestFilter(session, request)
      const filtering = upstreamRequestFilter(inner, session, request, ctx)
      if (filtering !== undefined) await filtering
      const written = client.writeRequestHeader(request)
      if (written !== WRITE_SETTLED) await written
      session.markUpstreamHeaderSent()

      // Request body: streamed up concurrently with reading the response (the origin may
      // answer early). A failure on the client side tears down the upstream exchange.
      let bodyError: unknown
      let bodyTask: Promise<void> | undefined
      if (hasBody && !isUpgrade) {
        bodyTask = sendRequestBody(inner, session, ctx, client).catch((error) => {
          bodyError = error
          client.shutdown()
        })
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

      if (response.status === 101) {
        if (!isUpgrade || !client.isUpgraded()) {
          throw PingoraError.upstream(
            ErrorType.H1Error,
            '101 response to a request without Upgrade',
          )
        }
        reusable = await this.#tunnel(session, ctx, client, response)
      } else {
        // The downstream writer: response phases, framing, modules and the body relay.
        const cache = this.#cache
        const writing =
          cache?.involved(session) === true
            ? cache.writeFromUpstream(session, ctx, response, client)
            : this.#writer.write(session, ctx, request.method, response, client, true)
        if (writing !== undefined) await writing
        if (bodyTask !== undefined) {
          // The response is complete; the request body may still be flowing (an early answer).
          // Reuse the upstream connection only if the request was fully sent.
          if (!downstream.isBodyDone() && downstream.getKeepalive() === undefined) {
            // The client connection closes after this response anyway: do not wait (up to the
            // read timeout) for a body that may never come. The upstream connection, left with
            // a partial request, is closed; the downstream one closes with a bounded linger.
            client.shutdown()
            bodyTask.catch(() => {})
            return undefined
          }
          await bodyTask
          if (bodyError !== undefined) throw bodyError
        }
        reusable = true
      }
    } catch (error) {
      return failedExchange(inner, session, ctx, peer, client, reused, error)
    }
    if (reusable) {
      this.#connector.releaseHttpSession(client, peer, options.idleTimeoutMs)
    } else {
      client.shutdown()
    }
    return undefined
  }

  /** After a 101: raw bytes both ways until either side closes; no reuse afterwards. */
  async #tunnel(
    session: Session,
    ctx: Ctx,
    client: ClientSession,
    response: ResponseHeader,
  ): Promise<boolean> {
    const downstream = session.downstreamSession
    const filtering = this.#writer.headerFilters(session, response, ctx, true)
    if (filtering !== undefined) await filtering
    removeHopByHopHeaders(response.headers, true)
    await session.writeResponseHeader(response, false)
    // Client → upstream. On the client's EOF, half-close the upstream so it sees the end too.
    // No filter sees tunnel bytes: each piece is freed once written (ADR 0009).
    const up = (async () => {
      for (;;) {
        const data = await downstream.readRequestBody()
        if (data === undefined) break
        await client.writeBody(data)
        client.releaseWrittenBody(data)
      }
      // Half-close only: the upstream may still answer what it received.
      client.shutdownWrite()
    })()
    // Upstream → client, until the upstream closes.
    const fast = downstream.fastPaths
    const down = (async () => {
      for (;;) {
        const data = await client.readResponseBody()
        await downstream.writeResponseBody(data, data === undefined)
        if (data === undefined) break
        if (fast !== undefined) fast.releaseWrittenBody(data)
      }
    })()
    let upDone = false
    const upSettled = up.then(
      () => {
        upDone = true
      },
      (error: unknown) => {
        upDone = true
        throw error
      },
    )
    // Either direction may end first. When the upstream ends, the tunnel is over: the client
    // connection is closed by finish(), which also ends the pending client read.
    upSettled.catch(() => {})
    await Promise.race([upSettled.catch(() => {}), down.catch(() => {})])
    if (upDone) {
      await down.catch(ignoreClosed)
      await upSettled.catch(ignoreClosed)
    } else {
      await down.catch(ignoreClosed)
    }
    return false
  }
}
