import type { HeaderMap, RequestHeader, ResponseHeader } from '@pingora-ts/http'
import type { Digest, SocketAddress } from '../digest.ts'
import type { HttpProtocol } from './common.ts'
import type { ReusedHttpStream } from './reused-http-stream.ts'

/**
 * The protocol-neutral downstream (client-facing) HTTP session: read one request, write one
 * response. Implemented by {@link Http1ServerSession} (`protocol: 'h1'`) and
 * {@link Http2ServerSession} (`protocol: 'h2'`, one stream of a connection). Port of the
 * `ServerSession` enum in `pingora-core/src/protocols/http/server.rs`.
 *
 * The contract every implementation keeps (callers such as `HttpProxy` and `HttpServer` rely
 * on it):
 *
 * 1. Order: `readRequest` first; then any number of 1xx headers, one final header, body
 *    pieces, and `finish` once; callers do not write after `finish`. Request body reads may
 *    interleave with response writes.
 * 2. Write-settled rule: `writeResponseHeader`, `writeResponseBody`, `writeResponse` and
 *    `writeResponseTrailers` return the shared `WRITE_SETTLED` (from `common.ts`) when the
 *    bytes were handed to the transport and nothing has to wait, never another settled promise;
 *    a write that waits (full socket buffer, HTTP/2 flow control) returns its own promise.
 *    Callers compare with `WRITE_SETTLED` to skip an `await` (see its TSDoc); awaiting it anyway
 *    is correct, only slower.
 * 3. Errors: failures reject with `PingoraError` whose `source` is `'downstream'` for client
 *    faults (`InvalidHTTPHeader`, `ReadError`, `ReadTimedout`, `ConnectionClosed`,
 *    `WriteError`...). A malformed request is answered by the session itself (400, 413, 414,
 *    431...) before the rejection.
 * 4. Connection: {@link ServerSession.connection} is the {@link ReusedHttpStream} shared by the
 *    requests of one connection; `finish` hands it back when the connection may serve another
 *    request (HTTP/1), and an HTTP/2 session never hands it back (the HTTP/2 engine owns the
 *    connection: `finish` resolves `undefined`).
 * 5. Protocol-specific members are no-ops where they mean nothing, never errors: on HTTP/2
 *    `setKeepalive`, `setKeepaliveMs`, `setKeepaliveReusesRemaining` and
 *    `setCloseOnResponseBeforeDownstreamFinish` do nothing, `isUpgradeRequest`/`wasUpgraded`
 *    are `false`, and `writeResponse` may write the header and body as two frames.
 * 6. Fast paths are a capability, not part of the contract: {@link ServerSession.fastPaths} is
 *    a {@link ServerSessionFastPaths} (HTTP/1: promise-free reads and finishes, freeing relayed
 *    buffers early; ADRs 0009 and 0010) or `undefined`. A caller reads it once per session and
 *    falls back to `readRequest`/`finish` without it, so a new implementation needs none of
 *    them. The keep-alive idle wait (`Http1ServerSession.waitForRequest`) stays on the HTTP/1
 *    class.
 */
export interface ServerSession {
  /** The HTTP version this session speaks; tells the implementations apart. */
  readonly protocol: HttpProtocol
  /**
   * The session's fast paths, or `undefined` when it has none (HTTP/2). Constant for the
   * session's life: read it once.
   */
  readonly fastPaths: ServerSessionFastPaths | undefined
  /**
   * Reads the request header. Resolves `true` when a header was read, `false` when the
   * client closed (or the idle/keep-alive timeout or a shutdown hit) before sending any byte.
   * A malformed request is answered with the RFC status, the connection closed and the promise
   * rejected with `InvalidHTTPHeader` (the error's `status` is the status sent).
   */
  readRequest(): Promise<boolean>
  /** The request header read by {@link ServerSession.readRequest}; mutable. */
  readonly requestHeader: RequestHeader
  /**
   * The first value of a request header (case-insensitive), or `undefined`.
   * @param name - the header name
   */
  getHeader(name: string): string | undefined
  /** Reads the next piece of the request body; `undefined` at its end. */
  readRequestBody(): Promise<Buffer | undefined>
  /** Reads and discards the rest of the request body. */
  drainRequestBody(): Promise<void>
  /** Whether the whole request body has been read. */
  isBodyDone(): boolean
  /** Whether the request has no body at all. */
  isBodyEmpty(): boolean
  /**
   * Writes the response header (a 1xx may precede the final one).
   * @param response - the header; its `Connection` and `Date` may be set by the session
   * @param endOfStream - `true` when no body follows
   */
  writeResponseHeader(response: ResponseHeader, endOfStream?: boolean): Promise<void>
  /**
   * Writes a piece of the response body.
   * @param data - the bytes, or `undefined` for none
   * @param endOfStream - `true` on the last piece: the body is finished
   */
  writeResponseBody(data: Uint8Array | undefined, endOfStream: boolean): Promise<void>
  /**
   * Writes a final response header and its whole body at once (one socket write on HTTP/1):
   * `writeResponseHeader(response, false)` then `writeResponseBody(body, true)` in one call.
   * Resolves at once when the bytes were handed to the socket, else after it drained.
   * @param response - the header; modified as by `writeResponseHeader`
   * @param body - the whole body; empty or `undefined` writes the header as a complete
   *   bodiless response
   */
  writeResponse(response: ResponseHeader, body: Uint8Array | undefined): Promise<void>
  /**
   * Writes response trailers where the protocol and the client allow them: on HTTP/2 a HEADERS
   * frame after the body; on HTTP/1.1 the last chunk of a chunked body carries them when the
   * client sent `TE: trailers` (else they are dropped). Call it before the last body write
   * (`writeResponseBody(..., true)`), which then ends the stream.
   * @param trailers - the trailer fields; `undefined` for none
   */
  writeResponseTrailers(trailers?: HeaderMap): Promise<void>
  /** Finishes the response body (the last chunk for chunked encoding). */
  finishBody(): Promise<void>
  /**
   * Finishes the exchange: completes the response, drains the request body (bounded), and
   * returns the {@link ServerSession.connection} when it may serve another request, else closes
   * it and resolves `undefined`.
   */
  finish(): Promise<ReusedHttpStream | undefined>
  /** Sends `100 Continue` unless a response was already written. */
  writeContinueResponse(): Promise<void>
  /**
   * Sends a complete error response with an empty body (see `generateErrorResponse`).
   * @param status - the status code
   */
  respondError(status: number): Promise<void>
  /**
   * Sends a complete response with a small body in one write.
   * @param response - the header
   * @param body - the body, or `undefined` for none
   */
  writeErrorResponse(response: ResponseHeader, body: Uint8Array | undefined): Promise<void>
  /**
   * Sets the keep-alive timeout in seconds (Pingora's `set_keepalive`): `undefined` disables
   * reuse, `0` means no idle timeout. Ignored (stays off) when the client asked to close.
   * @param seconds - idle seconds allowed between requests
   * @see {@link ServerSession.setKeepaliveMs} for the same in milliseconds
   */
  setKeepalive(seconds: number | undefined): void
  /**
   * Sets the keep-alive timeout in milliseconds, the unit of every other timeout; otherwise as
   * {@link ServerSession.setKeepalive}.
   * @param ms - idle time allowed between requests
   */
  setKeepaliveMs(ms: number | undefined): void
  /** The keep-alive timeout in seconds (`0` = no timeout), or `undefined` when reuse is off. */
  getKeepalive(): number | undefined
  /**
   * Limits how many more requests this connection may serve after this one.
   * @param remaining - the count, `undefined` for no limit
   */
  setKeepaliveReusesRemaining(remaining: number | undefined): void
  /**
   * Sets the read timeout for header and body reads.
   * @param ms - the timeout, `undefined` for none
   */
  setReadTimeout(ms: number | undefined): void
  /**
   * Sets the write timeout.
   * @param ms - the timeout, `undefined` for none
   */
  setWriteTimeout(ms: number | undefined): void
  /**
   * Sets how long {@link ServerSession.finish} may spend draining an unread request body.
   * @param ms - the timeout, `undefined` for the default
   */
  setTotalDrainTimeout(ms: number | undefined): void
  /**
   * Sets whether a response written before the request body was fully read closes the
   * connection instead of draining the body for reuse.
   * @param close - the choice (default `true`)
   */
  setCloseOnResponseBeforeDownstreamFinish(close: boolean): void
  /**
   * Sets whether 1xx responses (except 101, and a 100 the client asked for) are dropped.
   * @param ignore - the choice (default `false`)
   */
  setIgnoreInfoResp(ignore: boolean): void
  /**
   * Sets whether {@link ServerSession.readBodyOrIdle} rejects when the client closes (`true`)
   * or stays pending so the response can still be delivered (`false`).
   * @param abort - the choice (default `true`)
   */
  setAbortOnClose(abort: boolean): void
  /**
   * Sets a minimum send rate in bytes per second that bounds how long a write may wait.
   * @param bytesPerSecond - the rate, `0` or `undefined` for none
   */
  setMinSendRate(bytesPerSecond: number | undefined): void
  /** Whether the request asks for a protocol upgrade (`Upgrade` header on HTTP/1.1). */
  isUpgradeRequest(): boolean
  /** Whether a `101` was sent for an upgrade request: the connection is now a raw byte stream. */
  wasUpgraded(): boolean
  /** Response body bytes sent (application bytes, not wire bytes). */
  readonly bodyBytesSent: number
  /** Request body bytes read (application bytes, not wire bytes). */
  readonly bodyBytesRead: number
  /** The client's address. */
  readonly clientAddr: SocketAddress | undefined
  /** The local address the client connected to. */
  readonly serverAddr: SocketAddress | undefined
  /** Connection facts (addresses, timing, TLS). */
  readonly digest: Digest
  /**
   * The connection this request arrived on, with what persists between its requests
   * (keep-alive state, the app's per-connection context); shared by the requests of one
   * connection.
   */
  readonly connection: ReusedHttpStream
  /** A one-line summary of the request for logs: `GET /path, Host: example.com`. */
  requestSummary(): string
  /** The final (or latest 1xx) response header written, if any. */
  readonly responseWritten: ResponseHeader | undefined
  /** Closes the connection now. */
  shutdown(): void
  /** Whether this is an HTTP/2 session. */
  isHttp2(): boolean
  /** Starts keeping the first 64 KiB of the request body for a retry. */
  enableRetryBuffering(): void
  /** The buffered start of the request body, when retry buffering is on and not truncated. */
  getRetryBuffer(): Buffer | undefined
  /** Whether the request body outgrew the retry buffer. */
  retryBufferTruncated(): boolean
  /**
   * Reads the request body; once it is done (or none is expected) waits instead until the
   * client goes away and then rejects with `ConnectionClosed`. Lets a proxy notice a client
   * that disconnects while waiting for the upstream.
   * @param noBodyExpected - treat the body as done
   */
  readBodyOrIdle(noBodyExpected: boolean): Promise<Buffer | undefined>
}

/**
 * Optional fast paths of a {@link ServerSession} (HTTP/1 has them; see rule 6 of its contract):
 * variants that skip a promise or free memory early when the transport allows it. Each has a
 * plain equivalent on {@link ServerSession}, which a caller uses when
 * {@link ServerSession.fastPaths} is `undefined`.
 *
 * ```ts
 * const fast = session.fastPaths
 * const read = fast !== undefined ? fast.readRequestNow() : session.readRequest()
 * if (read !== true && !(await read)) return
 * ```
 */
export interface ServerSessionFastPaths {
  /**
   * Like {@link ServerSession.readRequest}, but may return `true` directly (no promise, no
   * microtask) when the request head is already buffered; otherwise the same promise. Await
   * the result only when it is a promise (a hot-path rule: an `await` costs a microtask).
   */
  readRequestNow(): boolean | Promise<boolean>
  /**
   * Like {@link ServerSession.finish}, but returns the result directly when nothing has to be
   * waited for; otherwise the same promise. Never throws or rejects.
   */
  finishNow(): ReusedHttpStream | undefined | Promise<ReusedHttpStream | undefined>
  /**
   * Frees the memory of a body piece already written with
   * {@link ServerSession.writeResponseBody} now rather than at the next garbage collection.
   * Call it only when nothing reads `data` (or another view of its memory) again, such as a
   * piece relayed unchanged from an upstream; it does nothing when the bytes may still be in use
   * (writes queued, `data` shares its buffer) or the runtime cannot (Node 20).
   * @param data - the bytes written
   */
  releaseWrittenBody(data: Uint8Array): void
}
