/**
 * Pingora's core for Node.js: the HTTP/1 protocol engine on raw sockets, listeners, services,
 * the `Server`, connectors and peers; and the L4 edge: `TcpProxy`, `UdpService`/`UdpProxy`,
 * the PROXY protocol and connection filters (see docs/l4.md and examples/tcp-proxy). Use it to
 * build HTTP servers and proxies that control every byte on the wire; `@pingora-ts/proxy`
 * builds the programmable proxy on top of it.
 *
 * @module @pingora-ts/core
 * @packageDocumentation
 */

export {
  type HttpServerApp,
  HttpServerAppDriver,
  type HttpServerOptions,
  httpProtocolOf,
  isHttpServerApp,
} from './apps/http-app.ts'
export { HttpServer, type ServeHttp, type ServeHttpResponse } from './apps/http-server.ts'
export type { ServerApp } from './apps/server-app.ts'
export { TcpProxy, type TcpProxyOptions, TcpProxySession } from './apps/tcp-proxy.ts'
export {
  DEFAULT_UDP_IDLE_TIMEOUT_MS,
  DEFAULT_UDP_MAX_QUEUED_DATAGRAMS,
  DEFAULT_UDP_MAX_SESSIONS,
  UdpProxy,
  type UdpProxyOptions,
  UdpProxySession,
  type UdpProxyStats,
} from './apps/udp-proxy.ts'
export {
  type CertKeyFiles,
  ConnectorOptions,
  type ConnectorOptionsInit,
  type ConnectorOptionsInput,
  type ConnectorServerConf,
  DEFAULT_POOL_SIZE,
} from './connectors/connector-options.ts'
export { DEFAULT_UPSTREAM_TIMEOUT_MS, HttpConnector } from './connectors/http-connector.ts'
export { DEFAULT_H2_WINDOW_SIZE, type H2PoolStats } from './connectors/http2-connector.ts'
export { type ConnectorStats, TransportConnector } from './connectors/transport-connector.ts'
export {
  CHANNEL_NAMES,
  type ConnectionErrorMessage,
  type ConnectionRejectedMessage,
  type ConnectionRejectReason,
  channels,
  type ServerErrorMessage,
  type ServerPhaseMessage,
  type WorkerExitMessage,
} from './diagnostics.ts'
export {
  type ConnectionFilter,
  IpConnectionFilter,
  type IpConnectionFilterOptions,
} from './listeners/connection-filter.ts'
export {
  type BindRetryOptions,
  DEFAULT_UDS_MODE,
  LISTENER_BACKLOG,
  REUSE_PORT_SUPPORTED,
  TCP_LISTENER_MAX_TRY,
  TCP_LISTENER_TRY_STEP_MS,
} from './listeners/l4.ts'
export {
  HANDSHAKE_TIMEOUT_MS,
  type ListenerConfig,
  Listeners,
  type PostAcceptHandshake,
} from './listeners/listeners.ts'
export { NetworkList } from './listeners/network-list.ts'
export {
  DEFAULT_PROXY_HEADER_TIMEOUT_MS,
  type ProxyProtocolOptions,
} from './listeners/proxy-protocol.ts'
export type {
  HostPort,
  ListeningAddress,
  ServerAddress,
  TcpKeepalive,
  TcpListeningAddress,
  TcpSocketOptions,
} from './listeners/server-address.ts'
export {
  type TlsListenerOptions,
  TlsSettings,
  tlsHandshake,
  tlsListenerConfig,
} from './listeners/tls.ts'
export { encodeTrailerFrame, GrpcWeb, GrpcWebBridge } from './modules/grpc-web.ts'
export {
  type HttpModule,
  type HttpModuleBuilder,
  HttpModuleCtx,
  HttpModules,
} from './modules/http-modules.ts'
export { Digest, type SocketAddress, type TlsDigest } from './protocols/digest.ts'
export type { ClientSession } from './protocols/http/client-session.ts'
export { type HttpProtocol, RETRY_BUFFER_LIMIT, WRITE_SETTLED } from './protocols/http/common.ts'
export { getCachedDate } from './protocols/http/date.ts'
export { generateErrorResponse, SERVER_NAME } from './protocols/http/error-resp.ts'
export { ReusedHttpStream } from './protocols/http/reused-http-stream.ts'
export type { ServerSession, ServerSessionFastPaths } from './protocols/http/server-session.ts'
export { type Http1ClientOptions, Http1ClientSession } from './protocols/http1/client.ts'
export {
  DEFAULT_MAX_HEADER_BYTES,
  DEFAULT_MAX_HEADERS,
  DEFAULT_MAX_REQUEST_LINE_BYTES,
  DEFAULT_MAX_RESPONSE_HEADER_BYTES,
} from './protocols/http1/parse.ts'
export {
  DEFAULT_HEADER_TIMEOUT_MS,
  DEFAULT_KEEPALIVE_TIMEOUT_MS,
  DEFAULT_MAX_DRAIN_BYTES,
  DEFAULT_READ_TIMEOUT_MS,
  DEFAULT_TOTAL_DRAIN_TIMEOUT_MS,
  type Http1ServerOptions,
  Http1ServerSession,
} from './protocols/http1/server.ts'
export { type Http2ClientOptions, Http2ClientSession } from './protocols/http2/client.ts'
export {
  DEFAULT_H2_OPTIONS,
  H2_PREFACE,
  type H2Engine,
  type H2Options,
  type H2StreamHandler,
  matchH2Preface,
  resolveH2Options,
  serveH2Connection,
} from './protocols/http2/connection.ts'
export { Http2ServerSession } from './protocols/http2/server.ts'
export {
  DEFAULT_CLIENT_HELLO_PEEK_BYTES,
  DEFAULT_CLIENT_HELLO_PEEK_TIMEOUT_MS,
  type PeekClientHelloOptions,
  peekClientHello,
} from './protocols/l4/peek-client-hello.ts'
export {
  SHUTDOWN_IDLE_LINGER_MS,
  STREAM_LINGER_MS,
  STREAM_READ_HIGH_WATER,
  Stream,
} from './protocols/l4/stream.ts'
export {
  crc32c,
  DEFAULT_PROXY_V2_MAX_BYTES,
  encodeProxyHeader,
  type ParsedProxyHeader,
  PROXY_HEADER_INCOMPLETE,
  PROXY_TLV,
  PROXY_V1_MAX_BYTES,
  PROXY_V2_HEADER_BYTES,
  type ProxyHeader,
  type ProxyHeaderInit,
  type ProxyHeaderParseOptions,
  type ProxyTlv,
  parseProxyHeader,
} from './protocols/proxy-protocol.ts'
export {
  ConfError,
  type ConfField,
  type ConfFieldKind,
  type ConfFields,
  type ConfSection,
  type ConfValues,
  confField,
  defineConfSection,
  type ParseConfOptions,
} from './server/conf-section.ts'
export {
  DEFAULT_DAEMON_READY_TIMEOUT_SECONDS,
  DEFAULT_GRACEFUL_SHUTDOWN_TIMEOUT_SECONDS,
  EXIT_TIMEOUT_SECONDS,
  IGNORED_SERVER_CONF_KEYS,
  type LoadConfOptions,
  type LoadedConf,
  SERVER_CONF_FIELDS,
  ServerConf,
  type ServerConfConstructor,
  type ServerConfFields,
} from './server/configuration.ts'
export {
  type CommandLine,
  type CommandLineOption,
  type CommandLineOptions,
  type CommandLineOutcome,
  type CommandLineSpec,
  type CommandLineValues,
  type ConfSections,
  checkHostPort,
  checkWholeNumber,
  exitCannotStart,
  type Opt,
  parseCommandLine,
  SHARED_OPTIONS,
  tryParseCommandLine,
  usageText,
} from './server/opt.ts'
export {
  type ExecutionPhase,
  type RunArgs,
  Server,
  type ServerOptions,
  type ShutdownOptions,
} from './server/server.ts'
export {
  type ShutdownSignal,
  type ShutdownSignalWatch,
  type ShutdownWatch,
  UnixShutdownSignalWatch,
} from './server/shutdown-watch.ts'
export {
  currentCommand,
  type SpawnSuccessorOptions,
  type Successor,
  UPGRADE_READY_TIMEOUT_MS,
  type UpgradeCommand,
} from './server/upgrade.ts'
export { WORKER_RESTART_MAX_MS, WORKER_RESTART_MIN_MS } from './server/workers.ts'
export {
  type BackgroundService,
  backgroundService,
  GenBackgroundService,
} from './services/background.ts'
export { ListeningService, type ListeningServiceOptions } from './services/listening.ts'
export { type Service, ServiceReadyNotifier } from './services/service.ts'
export { ServiceHandle } from './services/service-handle.ts'
export {
  UDP_SEND_QUEUE_LIMIT,
  UdpEndpoint,
  type UdpServerApp,
  UdpService,
  type UdpSocketOptions,
} from './services/udp.ts'
export { BasicPeer } from './upstreams/basic-peer.ts'
export { HttpPeer, type HttpPeerInit, type Scheme } from './upstreams/http-peer.ts'
export {
  formatPeerAddress,
  type Peer,
  type PeerAddress,
  type PeerAddressInput,
  parsePeerAddress,
} from './upstreams/peer.ts'
export {
  type BindTo,
  type CaCertificates,
  PeerOptions,
  type PeerOptionsInit,
  type ProxyProtocolSend,
  type Tracer,
} from './upstreams/peer-options.ts'
