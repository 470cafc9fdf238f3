import type { Stream } from '../protocols/l4/stream.ts'
import type { ShutdownWatch } from '../server/shutdown-watch.ts'

/**
 * An application that serves raw connections (Pingora's `ServerApp`): a listening service calls
 * {@link ServerApp.processNew} once per accepted connection. Implement it for L4 apps (echo,
 * TCP proxy); HTTP apps implement {@link HttpServerApp} instead. Port of
 * `pingora-core/src/apps/mod.rs`.
 *
 * An exception or rejection from the app is contained: it is published on
 * `pingora:connection:error` and only that connection is destroyed.
 *
 * @example
 * ```ts
 * const echo: ServerApp = {
 *   async processNew(stream) {
 *     for (let chunk = await stream.read(); chunk !== undefined; chunk = await stream.read()) {
 *       await stream.writeAll(chunk)
 *     }
 *     return undefined
 *   },
 * }
 * const service = new ListeningService('echo', echo)
 * service.addTcp('127.0.0.1:6142')
 * ```
 */
export interface ServerApp {
  /**
   * Serves a new (or reused) connection. Runs once per accepted connection, after the
   * post-accept handshake.
   *
   * Return the stream when the connection is in a reusable state: it is passed to
   * `processNew` again. Return `undefined` when done with it: the service then closes it.
   * @param stream - the connection
   * @param shutdown - aborted when the server starts to shut down
   */
  processNew(stream: Stream, shutdown: ShutdownWatch): Promise<Stream | undefined>
  /** Runs once after the service stopped listening on its endpoints. Default: nothing. */
  cleanup?(): Promise<void> | void
}
