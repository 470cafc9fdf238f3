/**
 * The programmable HTTP proxy of pingora-ts: implement the {@link ProxyHttp} phases you need
 * (route with `upstreamPeer`, filter with `requestFilter`, rewrite with
 * `upstreamRequestFilter`/`responseFilter`, log with `logging`...) and run them with
 * {@link httpProxyService}. The framework owns connection pooling, parsing, framing, retries
 * and timeouts. Port of `pingora-proxy`.
 *
 * Compose it with `@pingora-ts/load-balancing` for upstream selection; see
 * `examples/load-balancer`.
 *
 * @module @pingora-ts/proxy
 * @packageDocumentation
 */

// Downstream modules live in core (as in Pingora); re-exported for compatibility.
export {
  type HttpModule,
  type HttpModuleBuilder,
  HttpModuleCtx,
  HttpModules,
} from '@pingora-ts/core'
export {
  CHANNEL_NAMES,
  channels,
  type ProxyErrorMessage,
  type ProxyErrorPhase,
  type RequestFinishedMessage,
  type RequestStartedMessage,
  type UpstreamConnectedMessage,
  type UpstreamFailedMessage,
  type UpstreamRespondedMessage,
} from './diagnostics.ts'
export { defaultFailToProxy, errorStatus, failedRequestLine } from './fail-to-proxy.ts'
export { addForwardedHeaders, removeHopByHopHeaders } from './hop-by-hop.ts'
export {
  DEFAULT_UPSTREAM_TIMEOUT_MS,
  defaultErrorWhileProxy,
  HttpProxy,
  type HttpProxyOptions,
  httpProxy,
  httpProxyService,
  proxyErrorChannel,
} from './http-proxy.ts'
export {
  acceptEncodingQuality,
  type CompressionAlgorithm,
  type CompressionLevels,
  ResponseCompression,
  ResponseCompressionBuilder,
  type ResponseCompressionOptions,
} from './modules/response-compression.ts'
export {
  defaultCacheKey,
  defaultCacheVaryFilter,
  defaultResponseCacheFilter,
} from './proxy-cache.ts'
export type {
  FailToProxy,
  ForcedFreshness,
  MaybePromise,
  ProxyHttp,
  PurgeStatus,
} from './proxy-trait.ts'
export {
  type BufferRequestBodyOptions,
  type CacheStatus,
  DEFAULT_REQUEST_BODY_BUFFER_LIMIT,
  Session,
  SessionTiming,
} from './session.ts'
