import type { HeaderMap, RequestHeader, ResponseHeader } from '@pingora-ts/http'
import type { Digest } from '../digest.ts'
import type { HttpProtocol } from './common.ts'

/**
 * The protocol-neutral upstream (origin-facing) HTTP session: write one request, read one
 * response. Implemented by {@link Http1ClientSession} (`protocol: 'h1'`) and
 * {@link Http2ClientSession} (`protocol: 'h2'`). Port of the `HttpSession` enum in
 * `pingora-core/src/protocols/http/client.rs`. Get one from `HttpConnector` and give it back
 * with `HttpConnector.releaseHttpSession`: the connection underneath belongs to the connector,
 * so callers never touch it directly.
 *
 * Contract every implementation keeps:
 * - Failures reject with `PingoraError` whose `source` is `'upstream'`; a failure on a reused
 *   connection before any response byte has `retry: 'reused-only'`.
 * - {@link ClientSession.writeRequestHeader} returns `WRITE_SETTLED` (from `common.ts`) when it
 *   did not wait, so a hot path can skip the `await`.
 * - {@link ClientSession.tryReadResponseBody} never waits: it takes only bytes already received.
 */
export interface ClientSession {
  /** The HTTP version this session speaks; tells the implementations apart. */
  readonly protocol: HttpProtocol
  /**
   * Writes the request header; its framing headers decide how the body is sent. Returns
   * `WRITE_SETTLED` when nothing had to wait.
   * @param request - the request header
   */
  writeRequestHeader(request: RequestHeader): Promise<void>
  /**
   * Writes a piece of the request body.
   * @param data - the bytes
   */
  writeBody(data: Uint8Array): Promise<void>
  /**
   * Frees the memory of a body piece already written with {@link ClientSession.writeBody} now
   * rather than at the next garbage collection. Call it only when nothing reads `data` (or
   * another view of its memory) again, such as a piece relayed unchanged from the client; it
   * does nothing when the bytes may still be in use (writes queued, `data` shares its buffer)
   * or the runtime cannot (Node 20).
   * @param data - the bytes written
   */
  releaseWrittenBody(data: Uint8Array): void
  /** Finishes the request body (the last chunk for chunked encoding). */
  finishBody(): Promise<void>
  /**
   * Ends the request direction only (a half-close): after an upgrade (`101`) the origin sees
   * the end of the client's bytes and may still answer; on HTTP/2 it ends the stream's request
   * side.
   */
  shutdownWrite(): void
  /**
   * Reads the next response header: a 1xx (the caller reads again unless it is a 101) or the
   * final response.
   */
  readResponseHeader(): Promise<ResponseHeader>
  /** Reads the next piece of the response body; `undefined` at its end. */
  readResponseBody(): Promise<Buffer | undefined>
  /**
   * Takes the next piece of the response body without waiting (bytes already received), or
   * `undefined` when none is there yet or the body is done ({@link ClientSession.isBodyDone}
   * tells which). Lets a caller skip a promise per piece that arrived with the head.
   */
  tryReadResponseBody(): Buffer | undefined
  /** The latest response header read. */
  readonly responseHeader: ResponseHeader | undefined
  /**
   * The response trailers once the body has ended (an HTTP/2 HEADERS frame after the DATA);
   * `undefined` when there are none. HTTP/1 responses never carry them here (chunked
   * trailers are read and discarded, as in Pingora).
   */
  readonly responseTrailers: HeaderMap | undefined
  /** Whether the response was a `101` and the connection is now a raw byte stream. */
  isUpgraded(): boolean
  /** Whether the whole response body has been read. */
  isBodyDone(): boolean
  /** Whether the connection was reused from a pool. */
  readonly reused: boolean
  /** Connection facts (addresses, timing, TLS). */
  readonly digest: Digest
  /**
   * Sets the read timeout.
   * @param ms - the timeout, `undefined` for none
   */
  setReadTimeout(ms: number | undefined): void
  /**
   * Sets the write timeout.
   * @param ms - the timeout, `undefined` for none
   */
  setWriteTimeout(ms: number | undefined): void
  /** Closes the connection now (on HTTP/2: resets this stream). */
  shutdown(): void
  /** Whether this is an HTTP/2 session (`protocol === 'h2'`). */
  isHttp2(): boolean
}
