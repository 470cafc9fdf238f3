/**
 * Why a request is not served from or stored in the cache. Port of `pingora-cache`'s
 * `NoCacheReason`; any other string is a custom reason of the application.
 */
export const NoCacheReason = {
  /** The application never enabled the cache for this request. */
  NeverEnabled: 'NeverEnabled',
  /** The origin's response is not cacheable. */
  OriginNotCache: 'OriginNotCache',
  /** The response is larger than the maximum object size. */
  ResponseTooLarge: 'ResponseTooLarge',
  /**
   * The client left during the fill and the body was larger than `maxDetachedFillBytes`, so
   * the fill was aborted rather than completed for no one.
   */
  DetachedFillTooLarge: 'DetachedFillTooLarge',
  /** A previous response for this key was too large; this one will be measured again. */
  PredictedResponseTooLarge: 'PredictedResponseTooLarge',
  /** The storage failed. */
  StorageError: 'StorageError',
  /** An unexpected state. */
  InternalError: 'InternalError',
  /** The decision was deferred (a bypassed request whose response became cacheable). */
  Deferred: 'Deferred',
  /** `proxyUpstreamFilter` declined to go upstream. */
  DeclinedToUpstream: 'DeclinedToUpstream',
  /** The upstream failed. */
  UpstreamError: 'UpstreamError',
  /** The cache lock writer gave up; this request went to the origin. */
  CacheLockGiveUp: 'CacheLockGiveUp',
  /** Waiting on the cache lock timed out; this request went to the origin. */
  CacheLockTimeout: 'CacheLockTimeout',
  /** The request method or headers do not allow the cache (not GET/HEAD, `no-store`). */
  RequestNotCacheable: 'RequestNotCacheable',
} as const

/** A {@link NoCacheReason} or a custom reason string. */
export type NoCacheReason = (typeof NoCacheReason)[keyof typeof NoCacheReason] | (string & {})
