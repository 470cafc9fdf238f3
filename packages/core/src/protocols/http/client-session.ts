import type { RequestHeader, ResponseHeader } from '@pingora-ts/http'
import type { Digest } from '../digest.ts'

/**
 * The protocol-neutral upstream (origin-facing) HTTP session: write one request, read one
 * response. Implemented by {@link Http1ClientSession} (HTTP/2 later). Port of the `HttpSession`
 * enum in `pingora-core/src/protocols/http/client.rs`.
 *
 * Failures reject with `PingoraError` whose `source` is `'upstream'`; a failure on a reused
 * connection before any response byte has `retry: 'reused-only'`.
 */
export interface ClientSession {
  /**
   * Writes the request header; its framing headers decide how the body is sent.
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
   * Reads the next response header: a 1xx (the caller reads again unless it is a 101) or the
   * final response.
   */
  readResponseHeader(): Promise<ResponseHeader>
  /** Reads the next piece of the response body; `undefined` at its end. */
  readResponseBody(): Promise<Buffer | undefined>
  /** The latest response header read. */
  readonly responseHeader: ResponseHeader | undefined
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
  /** Closes the connection now. */
  shutdown(): void
  /** Whether this is an HTTP/2 session. */
  isHttp2(): boolean
}
