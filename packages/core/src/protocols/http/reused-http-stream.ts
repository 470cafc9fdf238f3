import type { Stream } from '../l4/stream.ts'

/**
 * One downstream connection between its requests: the {@link Stream} plus the settings and state
 * that persist from one request to the next (Pingora's `ReusedHttpStream { stream,
 * persistent_settings }`). A server session is built on it and hands it back from `finish()`
 * when the connection may serve another request; the keep-alive loop passes it to the next
 * session. Times are in milliseconds end to end.
 *
 * One object lives as long as its connection (the same object comes back from every
 * `finish()`), so a keep-alive request allocates nothing for it. On HTTP/2 the requests of a
 * connection share it.
 */
export class ReusedHttpStream {
  /** The connection. */
  readonly stream: Stream
  /** How many requests this connection served before the current one. */
  reuseCount: number
  /**
   * How long the next request may take to start on this connection (set when the previous
   * exchange hands the connection over); `undefined` = the next session's default.
   */
  keepaliveTimeoutMs: number | undefined
  /** How many more requests this connection may serve; `undefined` = no limit. */
  keepaliveReusesRemaining: number | undefined
  /**
   * What the app carries from one request of this connection to the next (the proxy keeps
   * `ProxyHttp.persistConnectionContext`'s value here); `undefined` when nothing.
   */
  context: unknown

  /**
   * Wraps a connection that has served no request yet.
   * @param stream - the connection
   */
  constructor(stream: Stream) {
    this.stream = stream
    this.reuseCount = 0
    this.keepaliveTimeoutMs = undefined
    this.keepaliveReusesRemaining = undefined
    this.context = undefined
  }
}
