/**
 * What the HTTP sessions of every protocol share: the write-settled rule and the protocol names.
 * Port of the protocol-neutral parts of `pingora-core/src/protocols/http/mod.rs`.
 */

/** The HTTP version a connection or session speaks. */
export type HttpProtocol = 'h1' | 'h2'

/**
 * The one settled promise a session write returns when its bytes were handed to the socket and
 * nothing has to wait (the write-settled rule of {@link ServerSession} and {@link ClientSession}).
 *
 * Every session implementation returns exactly this object, never another settled promise, from
 * `writeResponseHeader`, `writeResponseBody` and `writeResponse` (server) and
 * `writeRequestHeader` (client) when the write did not wait; a write that has to wait (a full
 * socket buffer, HTTP/2 flow control) returns its own promise. A caller on a hot path compares
 * with it and skips the `await`:
 *
 * ```ts
 * const written = session.writeResponseHeader(response, false)
 * if (written !== WRITE_SETTLED) await written
 * ```
 *
 * An `await` of a settled promise still costs a microtask hop (about 0.6 us per request each);
 * awaiting it anyway is always correct, only slower.
 */
export const WRITE_SETTLED: Promise<void> = Promise.resolve()

/** How much of a request body a session keeps for a retry (Pingora's `BODY_BUF_LIMIT`). */
export const RETRY_BUFFER_LIMIT = 64 * 1024

/**
 * The start of a request body kept so a retried upstream attempt can send it again: the
 * pieces read since {@link ServerSession.enableRetryBuffering}, copied, up to
 * {@link RETRY_BUFFER_LIMIT} bytes. Once the body outgrows the limit the buffer is dropped and
 * stays truncated (a retry then cannot replay the body). Shared by the HTTP/1 and HTTP/2
 * server sessions, which create one only when buffering is enabled.
 * @internal
 */
export class RetryBuffer {
  #chunks: Buffer[]
  #bytes: number
  #truncated: boolean

  constructor() {
    this.#chunks = []
    this.#bytes = 0
    this.#truncated = false
  }

  /**
   * Keeps a copy of a body piece (the caller may reuse or release its memory), or marks the
   * buffer truncated when the piece would pass the limit.
   * @param data - the bytes read
   */
  push(data: Uint8Array): void {
    if (this.#truncated) return
    if (this.#bytes + data.length > RETRY_BUFFER_LIMIT) {
      this.#truncated = true
      this.#chunks.length = 0
      this.#bytes = 0
      return
    }
    this.#chunks.push(Buffer.from(data))
    this.#bytes += data.length
  }

  /** The buffered body start in one piece, or `undefined` once truncated. */
  get(): Buffer | undefined {
    if (this.#truncated) return undefined
    const chunks = this.#chunks
    return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, this.#bytes)
  }

  /** Whether the body outgrew the limit. */
  get truncated(): boolean {
    return this.#truncated
  }
}
