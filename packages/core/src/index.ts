/**
 * Pingora's core for Node.js: the HTTP/1 protocol engine on raw sockets, listeners, services,
 * the `Server`, connectors and peers. Use it to build HTTP servers and proxies that control
 * every byte on the wire; `@pingora-ts/proxy` builds the programmable proxy on top of it.
 *
 * @packageDocumentation
 */
export { Digest, type SocketAddress, type TlsDigest } from './protocols/digest.ts'
export type { ClientSession } from './protocols/http/client-session.ts'
export { getCachedDate } from './protocols/http/date.ts'
export { generateErrorResponse, SERVER_NAME } from './protocols/http/error-resp.ts'
export type { ServerSession } from './protocols/http/server-session.ts'
export { type Http1ClientOptions, Http1ClientSession } from './protocols/http1/client.ts'
export {
  DEFAULT_MAX_HEADER_BYTES,
  DEFAULT_MAX_HEADERS,
  DEFAULT_MAX_REQUEST_LINE_BYTES,
} from './protocols/http1/parse.ts'
export {
  DEFAULT_KEEPALIVE_TIMEOUT_MS,
  DEFAULT_MAX_DRAIN_BYTES,
  DEFAULT_READ_TIMEOUT_MS,
  DEFAULT_TOTAL_DRAIN_TIMEOUT_MS,
  type Http1ServerOptions,
  Http1ServerSession,
  RETRY_BUFFER_LIMIT,
} from './protocols/http1/server.ts'
export { STREAM_LINGER_MS, STREAM_READ_HIGH_WATER, Stream } from './protocols/l4/stream.ts'
