import { HttpPeer, Server } from '@pingora-ts/core'
import { PingoraError } from '@pingora-ts/error'
import { ResponseHeader } from '@pingora-ts/http'
import type { RateLimitDecision } from '@pingora-ts/limits'
import { httpProxyService, type ProxyHttp, type Session } from '@pingora-ts/proxy'

/**
 * What the proxy asks for each request: a {@link LocalRateLimiter} (synchronous) or a
 * {@link RedisRateLimiter} (one round trip) from `@pingora-ts/limits` both fit.
 */
export interface ClientLimiter {
  /** Counts one request for the key if it fits under the limit. */
  check(key: string): RateLimitDecision | Promise<RateLimitDecision>
}

/** Options of {@link RateLimiterProxy}. */
export interface RateLimiterOptions {
  /** The origin every allowed request goes to (`host:port`). */
  readonly upstream: string
  /** Decides per client. */
  readonly limiter: ClientLimiter
}

/** The client key: the `appid` header when present, else the client's IP address. */
export function clientKey(session: Session): string {
  return session.getHeader('appid') ?? session.clientAddr?.address ?? 'unknown'
}

/**
 * Writes the 429 answer of a denied decision: `X-Rate-Limit-Limit`, `X-Rate-Limit-Remaining`,
 * `X-Rate-Limit-Reset` (seconds until the window resets) and `Retry-After` (seconds).
 * @param session - the request to answer
 * @param decision - the limiter's refusal
 */
export async function respondTooManyRequests(
  session: Session,
  decision: RateLimitDecision,
): Promise<void> {
  const response = ResponseHeader.build(429)
  response.insertHeader('X-Rate-Limit-Limit', String(decision.limit))
  response.insertHeader('X-Rate-Limit-Remaining', String(decision.remaining))
  response.insertHeader('X-Rate-Limit-Reset', String(Math.ceil(decision.resetMs / 1000)))
  response.insertHeader('Retry-After', String(Math.max(1, Math.ceil(decision.retryAfterMs / 1000))))
  response.insertHeader('Content-Length', '0')
  await session.writeResponseHeader(response, true)
}

/**
 * A rate-limiting proxy, after Pingora's `rate_limiter.rs`: `requestFilter` counts each request
 * against its client's limit and answers 429 itself past it; allowed requests go upstream.
 */
export class RateLimiterProxy implements ProxyHttp<undefined> {
  readonly #peer: HttpPeer
  readonly #limiter: ClientLimiter

  /**
   * Creates the proxy.
   * @param options - the origin and the limiter
   */
  constructor(options: RateLimiterOptions) {
    this.#peer = new HttpPeer(options.upstream, false, '')
    this.#limiter = options.limiter
  }

  newCtx(): undefined {
    return undefined
  }

  async requestFilter(session: Session): Promise<boolean> {
    const decision = await this.#limiter.check(clientKey(session))
    if (decision.allowed) return false
    await respondTooManyRequests(session, decision)
    return true // the response is written: skip to logging
  }

  upstreamPeer(): HttpPeer {
    return this.#peer
  }
}

/** A proxy started by {@link startRateLimiter}. */
export interface RunningProxy {
  /** The port it listens on. */
  readonly port: number
  /**
   * Stops it: at once (closes the listener and every connection), or with `graceful` after
   * the requests in flight finish.
   */
  close(graceful?: boolean): Promise<void>
}

/**
 * Starts the rate-limiting proxy in a `Server` and resolves once it listens.
 * @param options - origin and limiter
 * @param listen - where to listen; port 0 picks a free port @defaultValue `'127.0.0.1:0'`
 */
export async function startRateLimiter(
  options: RateLimiterOptions,
  listen = '127.0.0.1:0',
): Promise<RunningProxy> {
  const server = new Server()
  server.bootstrap()
  const service = httpProxyService(server.configuration, new RateLimiterProxy(options))
  service.addTcp(listen)
  server.addService(service)
  await server.start()
  const [address] = service.listeningAddresses()
  if (address?.kind !== 'tcp') {
    throw PingoraError.internal('BindError', 'the rate limiter did not bind a TCP address')
  }
  return { port: address.port, close: (graceful = false) => server.shutdown({ graceful }) }
}
