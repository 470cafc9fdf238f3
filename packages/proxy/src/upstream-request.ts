import type { ClientSession, HttpPeer } from '@pingora-ts/core'
import { ErrorType, PingoraError } from '@pingora-ts/error'
import type { RequestHeader, ResponseHeader } from '@pingora-ts/http'
import { channels, publishUpstreamFailed } from './diagnostics.ts'
import { removeHopByHopHeaders } from './hop-by-hop.ts'
import { isThenable, toError } from './proxy-common.ts'
import type { ProxyHttp } from './proxy-trait.ts'
import type { Session } from './session.ts'

/**
 * The steps of an upstream exchange that do not depend on the upstream's protocol, shared by
 * the HTTP/1 ({@link ProxyH1}) and HTTP/2 ({@link ProxyH2}) exchanges (Pingora keeps them in
 * `proxy_common.rs` and repeats the rest per protocol):
 *
 * ```text
 *  upstreamConnected ─► prepareUpstreamRequest ─► upstreamRequestFilter ─► (write header)
 *    ─► sendRequestBody (concurrently) and the read loop: isFinalResponse / relayInformational
 *    ─► upstreamResponded ─► DownstreamWriter
 *  any failure ─► failedExchange (errorWhileProxy or its default)
 * ```
 *
 * Each step returns `undefined` rather than a promise when it had nothing to wait for.
 * @internal
 */

/**
 * Publishes `pingora:upstream:connected` and runs `connectedToUpstream`; `undefined` when the
 * phase is not defined or did not return a promise.
 * @param inner - the user's phases
 * @param session - the proxy session
 * @param ctx - the request's ctx
 * @param peer - the upstream peer
 * @param client - the upstream session
 * @param reused - whether the connection was reused
 * @internal
 */
export function upstreamConnected<Ctx>(
  inner: ProxyHttp<Ctx>,
  session: Session,
  ctx: Ctx,
  peer: HttpPeer,
  client: ClientSession,
  reused: boolean,
): Promise<void> | undefined {
  if (channels.upstreamConnected.hasSubscribers) {
    channels.upstreamConnected.publish({ session, peer, reused, digest: client.digest })
  }
  if (inner.connectedToUpstream === undefined) return undefined
  const r = inner.connectedToUpstream(session, reused, peer, client.digest, ctx)
  return isThenable(r) ? r : undefined
}

/**
 * The request header sent upstream: a copy of the client's without its hop-by-hop fields
 * (RFC 9110 §7.6.1), framed for the upstream's protocol. HTTP/1 (`h2 = false`): version
 * HTTP/1.1, and a body whose length a filter may change (or that had none declared) goes
 * chunked. HTTP/2: `te: trailers` is kept (RFC 9113 §8.2.2, gRPC needs it), and a filtered
 * body loses its `Content-Length` (DATA frames end the body).
 * @param inner - the user's phases
 * @param session - the proxy session
 * @param h2 - whether the upstream speaks HTTP/2
 * @internal
 */
export function prepareUpstreamRequest<Ctx>(
  inner: ProxyHttp<Ctx>,
  session: Session,
  h2: boolean,
): RequestHeader {
  const downstream = session.downstreamSession
  const request: RequestHeader = downstream.requestHeader.clone()
  const hasBody = !downstream.isBodyEmpty()
  const filtersRequestBody =
    inner.requestBodyFilter !== undefined || session.downstreamModulesCtx.filtersRequestBody
  // A body the phases read whole has a known length, whatever framing the client used.
  const kept = session.keptRequestBody
  const knownLength = hasBody && !filtersRequestBody && kept?.complete ? kept.bytes : -1
  if (h2) {
    const te = request.getHeader('te')
    removeHopByHopHeaders(request.headers)
    if (te !== undefined && isTrailersOnly(te)) request.insertHeader('te', 'trailers')
    if (knownLength >= 0) request.insertHeader('Content-Length', String(knownLength))
    else if (hasBody && filtersRequestBody) request.removeHeader('Content-Length')
    return request
  }
  const isUpgrade = downstream.isUpgradeRequest()
  removeHopByHopHeaders(request.headers, isUpgrade)
  request.setVersion('HTTP/1.1')
  if (hasBody && !isUpgrade) {
    if (knownLength >= 0) {
      request.insertHeader('Content-Length', String(knownLength))
    } else if (filtersRequestBody || request.getHeader('Content-Length') === undefined) {
      request.removeHeader('Content-Length')
      request.insertHeader('Transfer-Encoding', 'chunked')
    }
  }
  return request
}

/**
 * Runs `upstreamRequestFilter` on the prepared request; `undefined` when the phase is not
 * defined or did not return a promise.
 * @param inner - the user's phases
 * @param session - the proxy session
 * @param request - the request header to send
 * @param ctx - the request's ctx
 * @internal
 */
export function upstreamRequestFilter<Ctx>(
  inner: ProxyHttp<Ctx>,
  session: Session,
  request: RequestHeader,
  ctx: Ctx,
): Promise<void> | undefined {
  if (inner.upstreamRequestFilter === undefined) return undefined
  const r = inner.upstreamRequestFilter(session, request, ctx)
  return isThenable(r) ? r : undefined
}

/**
 * Whether a response header read from the upstream ends the 1xx sequence: any non-1xx, and a
 * `101` on HTTP/1 (the upgrade; over HTTP/2 it is an error, see {@link relayInformational}).
 * @param client - the upstream session
 * @param response - the response header read
 * @internal
 */
export function isFinalResponse(client: ClientSession, response: ResponseHeader): boolean {
  const status = response.status
  return status < 100 || status >= 200 || (status === 101 && client.protocol === 'h1')
}

/**
 * Passes an informational (1xx) response on to the client: a `100 Continue` only when it sent
 * `Expect`, others (103 Early Hints) always. The caller reads again afterwards. Kept out of the
 * callers' read loop (rather than an `async` helper owning the loop) so a response without 1xx
 * costs no extra promise.
 * @param session - the proxy session
 * @param response - the 1xx response header
 * @returns a promise when the write to the client has to be awaited, else `undefined`
 * @throws PingoraError `H2Error` for a `101` over HTTP/2
 * @internal
 */
export function relayInformational(
  session: Session,
  response: ResponseHeader,
): Promise<void> | undefined {
  const status = response.status
  if (status === 101) throw PingoraError.upstream(ErrorType.H2Error, '101 response over HTTP/2')
  const downstream = session.downstreamSession
  if (status === 100 && downstream.getHeader('Expect') === undefined) return undefined
  removeHopByHopHeaders(response.headers)
  return downstream.writeResponseHeader(response)
}

/**
 * Records the final response header: `timing.upstreamHeaders` and
 * `pingora:upstream:responded`.
 * @param session - the proxy session
 * @param peer - the upstream peer
 * @param response - the final response header
 * @internal
 */
export function upstreamResponded(
  session: Session,
  peer: HttpPeer,
  response: ResponseHeader,
): void {
  session.timing.upstreamHeaders = performance.now()
  if (channels.upstreamResponded.hasSubscribers) {
    channels.upstreamResponded.publish({ session, peer, response })
  }
}

/**
 * Sends the request body up: on a retried attempt the buffered start first, then what the
 * client sends, each piece through the modules' and the app's `requestBodyFilter`, then the
 * end of the body.
 * @param inner - the user's phases
 * @param session - the proxy session
 * @param ctx - the request's ctx
 * @param client - the upstream session
 * @internal
 */
export async function sendRequestBody<Ctx>(
  inner: ProxyHttp<Ctx>,
  session: Session,
  ctx: Ctx,
  client: ClientSession,
): Promise<void> {
  const downstream = session.downstreamSession
  const modules = session.downstreamModulesCtx
  const hasModules = modules.modules.length > 0
  // Unfiltered, the proxy is the only user of each body piece (the retry buffer keeps a copy):
  // its read buffer is freed once written instead of waiting for a GC (ADR 0009).
  const owned = !hasModules && inner.requestBodyFilter === undefined
  // What the phases read before the upstream request goes first (every attempt), then on a
  // retried attempt what the retry buffer holds beyond it. The end of the body is signalled by
  // the read loop below (it reads `undefined`).
  const kept = session.keptRequestBody
  let skip = 0
  if (kept !== undefined) {
    if (kept.overflowed) throw requestBodyLost()
    for (const chunk of kept.chunks) await sendBodyPiece(inner, session, ctx, client, chunk)
    skip = kept.inRetryBuffer
  }
  if (session.retries > 1 && (kept === undefined || !kept.complete)) {
    const replay = downstream.getRetryBuffer()
    if (replay !== undefined && replay.length > skip) {
      await sendBodyPiece(inner, session, ctx, client, skip > 0 ? replay.subarray(skip) : replay)
    }
  }
  for (;;) {
    let data: Uint8Array | undefined
    try {
      data = await downstream.readRequestBody()
    } catch (error) {
      throw toError(error, ErrorType.ReadError, 'reading the request body', 'downstream')
    }
    const eos = data === undefined
    if (hasModules) data = modules.requestBodyFilter(data, eos)
    if (inner.requestBodyFilter !== undefined) {
      const r = inner.requestBodyFilter(session, data, eos, ctx)
      data = isThenable(r) ? await r : r
    }
    if (data !== undefined && data.length > 0) {
      await client.writeBody(data)
      if (owned) client.releaseWrittenBody(data)
    }
    if (eos) break
  }
  await client.finishBody()
}

/** One piece of the request body through the modules and `requestBodyFilter`, then up. */
async function sendBodyPiece<Ctx>(
  inner: ProxyHttp<Ctx>,
  session: Session,
  ctx: Ctx,
  client: ClientSession,
  piece: Uint8Array,
): Promise<void> {
  let out: Uint8Array | undefined = piece
  const modules = session.downstreamModulesCtx
  if (modules.modules.length > 0) out = modules.requestBodyFilter(out, false)
  if (inner.requestBodyFilter !== undefined) {
    const r = inner.requestBodyFilter(session, out, false, ctx)
    out = isThenable(r) ? await r : r
  }
  if (out !== undefined && out.length > 0) await client.writeBody(out)
}

/**
 * The error of a request whose phases read more of the body than the proxy keeps
 * (`HTTPStatus(413)`, source `downstream`): what was read cannot reach the upstream.
 * @internal
 */
export function requestBodyLost(): PingoraError {
  return PingoraError.downstream(
    ErrorType.HTTPStatus(413),
    'a phase read more of the request body than the proxy keeps (requestBodyBufferLimit)',
  )
}

/**
 * The end of a failed exchange: closes the upstream session, runs `errorWhileProxy` (or
 * {@link defaultErrorWhileProxy}) and publishes `pingora:upstream:failed`; returns the error it
 * decided on.
 * @param inner - the user's phases
 * @param session - the proxy session
 * @param ctx - the request's ctx
 * @param peer - the upstream peer
 * @param client - the upstream session
 * @param reused - whether the connection was reused
 * @param thrown - what was thrown
 * @internal
 */
export function failedExchange<Ctx>(
  inner: ProxyHttp<Ctx>,
  session: Session,
  ctx: Ctx,
  peer: HttpPeer,
  client: ClientSession,
  reused: boolean,
  thrown: unknown,
): PingoraError {
  client.shutdown()
  let error = toError(thrown, ErrorType.InternalError, 'while proxying', 'internal')
  if (inner.errorWhileProxy !== undefined) {
    error = inner.errorWhileProxy(peer, session, error, ctx, reused)
  } else {
    error = defaultErrorWhileProxy(peer, session, error, reused)
  }
  publishUpstreamFailed(session, peer, error, reused)
  return error
}

/**
 * The default `errorWhileProxy`: names the peer in the context and resolves a
 * `'reused-only'` retry: retry only when the upstream connection was reused, the request body
 * is still fully buffered and nothing was sent to the client yet.
 * @param peer - the peer
 * @param session - the proxy session
 * @param error - the error
 * @param reused - whether the upstream connection came from the pool
 */
export function defaultErrorWhileProxy(
  peer: HttpPeer,
  session: Session,
  error: PingoraError,
  reused: boolean,
): PingoraError {
  error.withContext(`Peer: ${peer}`)
  if (error.retry === 'reused-only') {
    error.setRetry(
      reused && session.canReplayRequestBody() && session.responseWritten === undefined,
    )
  }
  return error
}

/** Whether a `TE` value is exactly `trailers` (the only value HTTP/2 allows). */
function isTrailersOnly(value: string): boolean {
  return value.trim().toLowerCase() === 'trailers'
}
