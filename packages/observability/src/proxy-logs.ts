import diagnosticsChannel from 'node:diagnostics_channel'
import {
  CHANNEL_NAMES as CORE_CHANNELS,
  type ConnectionErrorMessage,
  formatPeerAddress,
  type ServerConf,
  type ServerErrorMessage,
} from '@pingora-ts/core'
import { PingoraError } from '@pingora-ts/error'
import {
  type HealthChangedMessage,
  CHANNEL_NAMES as LB_CHANNELS,
  type LoadBalancerErrorMessage,
} from '@pingora-ts/load-balancing'
import {
  CHANNEL_NAMES as PROXY_CHANNELS,
  type ProxyErrorMessage,
  type RequestFinishedMessage,
  type Session,
  type UpstreamConnectedMessage,
  type UpstreamFailedMessage,
  type UpstreamRespondedMessage,
} from '@pingora-ts/proxy'
import pino from 'pino'
import { createLogDestination, type LogDestination } from './log-destination.ts'

/** The pino levels a logger may be set to. */
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent'

const LEVELS: readonly string[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']

/** Options of {@link ProxyLogs}. */
export interface ProxyLogsOptions {
  /**
   * Where the access log goes (see {@link createLogDestination}), a destination, or `undefined`
   * for no access log. From the YAML: `access_log`.
   */
  readonly accessLog?: string | LogDestination | undefined
  /**
   * Where the error log goes; `undefined` is `stderr`. From the YAML: `error_log`.
   */
  readonly errorLog?: string | LogDestination | undefined
  /** The least level written to the error log. From the YAML: `log_level`. @defaultValue `'info'` */
  readonly level?: LogLevel
  /** The request header carrying the request id. @defaultValue `'x-request-id'` */
  readonly requestIdHeader?: string
  /**
   * Tells the cache status of a request (`HIT`, `MISS`, `STALE`...) for the access log, since the
   * logs do not depend on `@pingora-ts/cache`. @defaultValue none: the field is absent
   */
  readonly cacheStatus?: (session: Session) => string | undefined
  /** Buffer bound of destinations opened from a string. @defaultValue 1 MiB */
  readonly maxBufferBytes?: number
}

/** What the access log learned about a request's upstream attempts, until it finishes. */
interface UpstreamTrail {
  addr: string
  status: string
}

/**
 * The proxy's logs, written with pino from the diagnostics channels:
 *
 * - the **access log**, one line per finished request (`pingora:request:finished`, after the
 *   `logging` phase), with the fields of nginx's `combined` format plus the upstream's address,
 *   status and time, the request id, the cache status and the error type;
 * - the **error log**: a failed request or a throwing phase (`pingora:proxy:error`) with the
 *   error's type, source, retry decision and cause chain, the status sent and the peer of the
 *   last failed upstream attempt (`upstream`) (Pingora's "Fail to proxy" line), server
 *   and connection errors, load-balancer failures and health flips.
 *
 * Destinations are asynchronous and bounded (see {@link createLogDestination}): a slow disk or
 * syslog collector never blocks the event loop; lines that do not fit are dropped and counted.
 */
export class ProxyLogs {
  /** The access logger, if any. */
  readonly access: pino.Logger | undefined
  /** The error logger. */
  readonly error: pino.Logger
  /** The destinations opened, to close them. */
  readonly destinations: readonly LogDestination[]
  readonly #requestIdHeader: string
  readonly #cacheStatus: ((session: Session) => string | undefined) | undefined
  readonly #upstreams = new WeakMap<Session, UpstreamTrail>()
  /** The peer of a request's last failed upstream attempt. */
  readonly #failedPeers = new WeakMap<Session, string>()
  #subscriptions: Array<[string, (message: unknown) => void]> = []

  /**
   * Opens the destinations and builds the loggers; call {@link ProxyLogs.enable} to start.
   * @param options - destinations, level, request id header, cache status
   * @throws RangeError for an unknown level
   */
  constructor(options: ProxyLogsOptions = {}) {
    const level = options.level ?? 'info'
    if (!LEVELS.includes(level)) {
      throw new RangeError(`log level must be one of ${LEVELS.join(', ')}, got ${level}`)
    }
    const open = (spec: string | LogDestination): LogDestination =>
      typeof spec === 'string'
        ? createLogDestination(spec, { maxBufferBytes: options.maxBufferBytes })
        : spec
    const destinations: LogDestination[] = []
    const errorDestination = open(options.errorLog ?? 'stderr')
    destinations.push(errorDestination)
    this.error = pino(
      { level, timestamp: pino.stdTimeFunctions.isoTime, base: { log: 'error' } },
      errorDestination,
    )
    if (options.accessLog !== undefined) {
      const accessDestination = open(options.accessLog)
      destinations.push(accessDestination)
      this.access = pino(
        { level: 'info', timestamp: pino.stdTimeFunctions.isoTime, base: { log: 'access' } },
        accessDestination,
      )
    } else {
      this.access = undefined
    }
    this.destinations = destinations
    this.#requestIdHeader = options.requestIdHeader ?? 'x-request-id'
    this.#cacheStatus = options.cacheStatus
  }

  /**
   * Builds the logs from the server configuration: `access_log`, `error_log` and `log_level`.
   * @param conf - the server configuration (`server.configuration`)
   * @param options - the other options (request id header, cache status, buffer)
   */
  static fromServerConf(
    conf: Pick<ServerConf, 'accessLog' | 'errorLog' | 'logLevel'>,
    options: Omit<ProxyLogsOptions, 'accessLog' | 'errorLog' | 'level'> = {},
  ): ProxyLogs {
    return new ProxyLogs({
      ...options,
      accessLog: conf.accessLog,
      errorLog: conf.errorLog,
      level: conf.logLevel as LogLevel,
    })
  }

  /**
   * Subscribes to the diagnostics channels. Idempotent.
   * @returns this
   */
  enable(): this {
    if (this.#subscriptions.length > 0) return this
    const subscriptions: Array<[string, (message: unknown) => void]> = [
      [PROXY_CHANNELS.proxyError, (m) => this.#onProxyError(m as ProxyErrorMessage)],
      [PROXY_CHANNELS.upstreamFailed, (m) => this.#onUpstreamFailed(m as UpstreamFailedMessage)],
      [CORE_CHANNELS.serverError, (m) => this.#onServerError(m as ServerErrorMessage)],
      [CORE_CHANNELS.connectionError, (m) => this.#onConnectionError(m as ConnectionErrorMessage)],
      [LB_CHANNELS.loadBalancerError, (m) => this.#onLbError(m as LoadBalancerErrorMessage)],
      [LB_CHANNELS.healthChanged, (m) => this.#onHealthChanged(m as HealthChangedMessage)],
    ]
    if (this.access !== undefined) {
      subscriptions.push(
        [
          PROXY_CHANNELS.upstreamConnected,
          (m) => this.#onUpstreamConnected(m as UpstreamConnectedMessage),
        ],
        [
          PROXY_CHANNELS.upstreamResponded,
          (m) => this.#onUpstreamResponded(m as UpstreamRespondedMessage),
        ],
        [
          PROXY_CHANNELS.requestFinished,
          (m) => this.#onRequestFinished(m as RequestFinishedMessage),
        ],
      )
    }
    for (const [name, listener] of subscriptions) diagnosticsChannel.subscribe(name, listener)
    this.#subscriptions = subscriptions
    return this
  }

  /** Unsubscribes from the channels. */
  disable(): void {
    for (const [name, listener] of this.#subscriptions) {
      diagnosticsChannel.unsubscribe(name, listener)
    }
    this.#subscriptions = []
  }

  /** Unsubscribes, writes what is buffered and closes the destinations. */
  async close(): Promise<void> {
    this.disable()
    await Promise.all(this.destinations.map((destination) => destination.close()))
  }

  #onUpstreamConnected(message: UpstreamConnectedMessage): void {
    const addr = formatPeerAddress(message.peer.address)
    const trail = this.#upstreams.get(message.session)
    if (trail === undefined) {
      this.#upstreams.set(message.session, { addr, status: '-' })
    } else {
      // nginx lists every attempt: `10.0.0.1:80, 10.0.0.2:80` and `502, 200`.
      trail.addr += `, ${addr}`
      trail.status += ', -'
    }
  }

  #onUpstreamFailed(message: UpstreamFailedMessage): void {
    const session = message.session
    const addr = formatPeerAddress(message.peer.address)
    // For the error log line of the request, if it fails in the end.
    this.#failedPeers.set(session, addr)
    if (this.access === undefined) return
    const timing = session.timing
    const connected = timing.upstreamConnected
    const attempt = timing.upstreamAttemptStart
    // A failed connect had no `upstreamConnected`: the access log lists the attempt now.
    if (connected === undefined || (attempt !== undefined && connected < attempt)) {
      const trail = this.#upstreams.get(session)
      if (trail === undefined) this.#upstreams.set(session, { addr, status: '502' })
      else {
        trail.addr += `, ${addr}`
        trail.status += ', 502'
      }
    }
  }

  #onUpstreamResponded(message: UpstreamRespondedMessage): void {
    const trail = this.#upstreams.get(message.session)
    if (trail === undefined) return
    const status = String(message.response.status)
    trail.status = trail.status.endsWith('-') ? trail.status.slice(0, -1) + status : status
  }

  #onRequestFinished(message: RequestFinishedMessage): void {
    const access = this.access
    if (access === undefined) return
    const session = message.session
    const header = session.requestHeader
    const timing = session.timing
    const end = timing.end ?? performance.now()
    const trail = this.#upstreams.get(session)
    this.#upstreams.delete(session)
    const authorization = session.getHeader('authorization')
    access.info({
      remote_addr: session.clientAddr?.address ?? '-',
      remote_user: basicUser(authorization),
      request: `${header.method} ${header.uri} ${header.version}`,
      status: message.status ?? 0,
      body_bytes_sent: session.bodyBytesSent,
      http_referer: session.getHeader('referer') ?? '-',
      http_user_agent: session.getHeader('user-agent') ?? '-',
      request_time: seconds(end - timing.start),
      upstream_addr: trail?.addr ?? '-',
      upstream_status: trail?.status ?? '-',
      upstream_response_time:
        timing.upstreamConnected === undefined ? '-' : seconds(end - timing.upstreamConnected),
      request_id: session.getHeader(this.#requestIdHeader) ?? '-',
      cache_status: this.#cacheStatus?.(session) ?? '-',
      error_type: message.error?.type ?? '-',
      retries: message.retries,
    })
  }

  #onProxyError(message: ProxyErrorMessage): void {
    const error = message.error
    const upstream = this.#failedPeers.get(message.session)
    this.error.error(
      {
        summary: message.summary,
        status: message.status ?? 0,
        tries: message.retries,
        upstream,
        phase: message.phase,
        ...describeError(error),
      },
      message.phase === undefined ? 'Fail to proxy' : `${message.phase} threw`,
    )
  }

  #onServerError(message: ServerErrorMessage): void {
    this.error.error({ service: message.service, ...describeError(message.error) }, 'Server error')
  }

  #onConnectionError(message: ConnectionErrorMessage): void {
    this.error.warn(
      { service: message.service, peer: message.peer, ...describeError(message.error) },
      'Connection error',
    )
  }

  #onLbError(message: LoadBalancerErrorMessage): void {
    this.error.error(
      { phase: message.phase, ...describeError(message.error) },
      'Load balancer error',
    )
  }

  #onHealthChanged(message: HealthChangedMessage): void {
    if (message.healthy) {
      this.error.info({ backend: message.backend.addr }, 'Backend healthy')
    } else {
      this.error.warn(
        { backend: message.backend.addr, ...describeError(message.error) },
        'Backend unhealthy',
      )
    }
  }
}

/** Seconds with millisecond precision, as nginx prints `$request_time`. */
function seconds(ms: number): number {
  return Math.round(ms) / 1000
}

/** The user of a `Basic` Authorization header (nginx's `$remote_user`), else `-`. */
function basicUser(authorization: string | undefined): string {
  if (authorization === undefined || !/^basic /i.test(authorization)) return '-'
  const decoded = Buffer.from(authorization.slice(6).trim(), 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  return colon > 0 ? decoded.slice(0, colon) : '-'
}

/** The most causes followed in a chain (a cycle or a very deep chain stays bounded). */
const MAX_CAUSES = 8

/**
 * An error's log fields: type, source, retry decision, context, and its cause chain (each
 * cause's message, outermost first).
 * @param error - the error
 */
export function describeError(error: unknown): Record<string, unknown> {
  if (error === undefined || error === null) return {}
  const causes: string[] = []
  let cause: unknown = (error as { cause?: unknown }).cause
  while (cause !== undefined && cause !== null && causes.length < MAX_CAUSES) {
    causes.push(cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause))
    cause = (cause as { cause?: unknown }).cause
  }
  if (PingoraError.is(error)) {
    return {
      error_type: error.type,
      error_source: error.source,
      retry: error.retry,
      error_context: error.context,
      error: error.message,
      causes,
    }
  }
  return {
    error_type: error instanceof Error ? error.name : typeof error,
    error: error instanceof Error ? error.message : String(error),
    causes,
  }
}
