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
