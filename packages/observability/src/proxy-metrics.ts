import diagnosticsChannel from 'node:diagnostics_channel'
import {
  CHANNEL_NAMES as CORE_CHANNELS,
  type ConnectionErrorMessage,
  type ConnectionRejectedMessage,
  type ConnectorStats,
  type HttpPeer,
  type PeerAddress,
} from '@pingora-ts/core'
import { PingoraError } from '@pingora-ts/error'
import {
  type Backend,
  type HealthChangedMessage,
  CHANNEL_NAMES as LB_CHANNELS,
} from '@pingora-ts/load-balancing'
import {
  CHANNEL_NAMES as PROXY_CHANNELS,
  type ProxyErrorMessage,
  type RequestFinishedMessage,
  type RequestStartedMessage,
  type Session,
  type UpstreamConnectedMessage,
  type UpstreamRespondedMessage,
} from '@pingora-ts/proxy'
import {
  Counter,
  collectDefaultMetrics,
  register as defaultRegistry,
  Gauge,
  type Registry,
} from 'prom-client'
import { CellHistogram, type HistogramCell } from './cell-histogram.ts'

/** Something that reports pool statistics: a `TransportConnector` or an `HttpConnector`. */
export interface ConnectorStatsSource {
  /** The connector's counters right now. */
  stats(): ConnectorStats
}

/** What {@link ProxyMetrics} needs of a load balancer to export its backends' health. */
export interface HealthSource {
  /** The current backends. */
  backends(): readonly Backend[]
  /** Whether a backend is healthy. */
  isHealthy(backend: Backend): boolean
}

/** The result of a cache lookup, as counted by {@link ProxyMetrics.recordCacheLookup}. */
export type CacheLookupResult = 'hit' | 'miss' | 'stale' | 'expired' | 'bypass'

/** Options of {@link ProxyMetrics}. */
export interface ProxyMetricsOptions {
  /** Where the metrics are registered. @defaultValue prom-client's global `register` */
  readonly registry?: Registry
  /** Prefix of every metric name. @defaultValue `'pingora_'` */
  readonly prefix?: string
  /** The `service` label of the downstream metrics. @defaultValue `'proxy'` */
  readonly service?: string
  /**
   * Also register prom-client's process and Node.js metrics (CPU, memory, event loop lag, GC)
   * in the registry, without the prefix. @defaultValue `true`
   */
  readonly defaultMetrics?: boolean
  /** Buckets of the duration histograms, in seconds. @defaultValue `DEFAULT_DURATION_BUCKETS` */
  readonly durationBuckets?: readonly number[]
  /**
   * How many distinct peers get their own `peer` label; later ones share `peer="other"`
   * (a bound on the registry's memory). @defaultValue `256`
   */
  readonly maxPeers?: number
}

/** Default buckets of the duration histograms, in seconds (1 ms to 10 s). */
export const DEFAULT_DURATION_BUCKETS: readonly number[] = Object.freeze([
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
])

// Methods with their own label value; any other method is counted as `other` (bounded labels).
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'CONNECT', 'TRACE']
const OTHER_METHOD = METHODS.length
// Index 0: no response was sent; 1 to 5: 1xx to 5xx.
const STATUS_CLASSES = ['none', '1xx', '2xx', '3xx', '4xx', '5xx']
const CACHE_RESULTS: readonly CacheLookupResult[] = ['hit', 'miss', 'stale', 'expired', 'bypass']
const TLS_ERRORS = new Set<string>(['TLSHandshakeFailure', 'TLSHandshakeTimedout', 'InvalidCert'])

function methodIndex(method: string): number {
  // A linear scan over 9 interned strings: cheaper than hashing, and allocation-free.
  for (let i = 0; i < METHODS.length; i++) if (METHODS[i] === method) return i
  return OTHER_METHOD
}

function statusClass(status: number | undefined): number {
  if (status === undefined || status < 100 || status > 599) return 0
  return (status / 100) | 0
}

/**
 * One peer's numbers. Counters and gauges are plain fields, copied into prom-client at scrape
 * time (its `inc(labels)` hashes the labels on every call); histograms get their label object
 * once.
 */
class PeerCells {
  readonly label: string
  readonly labels: { readonly peer: string }
  attempts = 0
  retries = 0
  newConnections = 0
  reusedConnections = 0
  active = 0
  readonly responses = new Float64Array(STATUS_CLASSES.length)
  readonly connectDuration: HistogramCell
  readonly ttfb: HistogramCell

  constructor(metrics: ProxyMetrics, label: string) {
    this.label = label
    this.labels = { peer: label }
    this.connectDuration = metrics.upstreamConnectDuration.cell(this.labels)
    this.ttfb = metrics.upstreamTtfb.cell(this.labels)
  }
}

/**
 * The proxy's Prometheus metrics, recorded from the diagnostics channels of
 * `@pingora-ts/proxy`, `@pingora-ts/core` and `@pingora-ts/load-balancing`: nothing in the
 * request path calls it. Serve them with {@link prometheusHttpService}. The metric names and
 * labels are listed in `docs/observability.md`.
 *
 * Recording a request allocates nothing of its own: counters are numbers in preallocated
 * cells (a method × status-class table, one cell set per peer, bounded by `maxPeers`) copied
 * into the registry when it is scraped, and histograms are {@link CellHistogram}s whose cells
 * are resolved once per label set.
 *
 * @example
 * ```ts
 * const metrics = new ProxyMetrics({ service: 'lb' }).enable()
 * metrics.observeConnector('lb', proxy.clientUpstream)
 * const service = prometheusHttpService()
 * service.addTcp('0.0.0.0:6192')
 * ```
 */
export class ProxyMetrics {
  /** The registry the metrics are in. */
  readonly registry: Registry
  /** `http_requests_total{service,method,status_class}`. */
  readonly requests: Counter<string>
  /** `http_request_duration_seconds{service,status_class}`. */
  readonly requestDuration: CellHistogram
  /** `http_requests_in_flight{service}`. */
  readonly requestsInFlight: Gauge<string>
  /** `proxy_errors_total{service,error_type,error_source}`. */
  readonly proxyErrors: Counter<string>
  /** `http2_streams_total{service}`: downstream requests that came on HTTP/2 streams. */
  readonly http2Streams: Counter<string>
  /** `upstream_attempts_total{peer}`. */
  readonly upstreamAttempts: Counter<string>
  /** `upstream_retries_total{peer}`: attempts after the first. */
  readonly upstreamRetries: Counter<string>
  /** `upstream_connections_total{peer,reused}`. */
  readonly upstreamConnections: Counter<string>
  /** `upstream_active_connections{peer}`: upstream connections serving a request now. */
  readonly upstreamActive: Gauge<string>
  /** `upstream_connect_duration_seconds{peer}` (new connections only). */
  readonly upstreamConnectDuration: CellHistogram
  /** `upstream_ttfb_seconds{peer}`: connection ready to response header, last attempt of each request. */
  readonly upstreamTtfb: CellHistogram
  /** `upstream_responses_total{peer,status_class}`. */
  readonly upstreamResponses: Counter<string>
  /** `upstream_pool_idle_connections{connector}` (from `observeConnector`). */
  readonly poolIdle: Gauge<string>
  /** `upstream_pool_reuse_ratio{connector}` (from `observeConnector`). */
  readonly poolReuseRatio: Gauge<string>
  /** `backend_healthy{backend}`: 1 healthy, 0 unhealthy. */
  readonly backendHealthy: Gauge<string>
  /** `tls_handshakes_total{side}`. */
  readonly tlsHandshakes: Counter<string>
  /** `tls_handshake_failures_total{side}`. */
  readonly tlsHandshakeFailures: Counter<string>
  /** `connection_errors_total{service}`. */
  readonly connectionErrors: Counter<string>
  /** `connections_rejected_total{service,reason}`. */
  readonly connectionsRejected: Counter<string>
  /** `cache_lookups_total{result}` (from {@link ProxyMetrics.recordCacheLookup}). */
  readonly cacheLookups: Counter<string>

  readonly #service: string
  readonly #maxPeers: number
  // Requests by [method * STATUS_CLASSES.length + status class].
  readonly #requestCells = new Float64Array((METHODS.length + 1) * STATUS_CLASSES.length)
  readonly #durationCells: HistogramCell[]
  #inFlight = 0
  #http2 = 0
  // [downstream, upstream]
  readonly #tlsCells = new Float64Array(2)
  readonly #tlsFailureCells = new Float64Array(2)
  readonly #cacheCells = new Float64Array(CACHE_RESULTS.length)
  // host → port → cells (no string built per request); Unix paths under port -1.
  readonly #peers = new Map<string, Map<number, PeerCells>>()
  readonly #peerList: PeerCells[] = []
  #otherPeer: PeerCells | undefined
  // The peer whose connection a request holds now, to decrement `active` when it ends.
  readonly #activePeer = new WeakMap<Session, PeerCells>()
  readonly #connectors = new Map<string, ConnectorStatsSource>()
  readonly #healthSources = new Map<string, HealthSource>()
  #subscriptions: Array<[string, (message: unknown) => void]> = []

  /**
   * Creates and registers the metrics; call {@link ProxyMetrics.enable} to start recording.
   * @param options - registry, prefix, service label, buckets
   */
  constructor(options: ProxyMetricsOptions = {}) {
    const registry = options.registry ?? defaultRegistry
    const prefix = options.prefix ?? 'pingora_'
    const buckets = [...(options.durationBuckets ?? DEFAULT_DURATION_BUCKETS)]
    const service = options.service ?? 'proxy'
    this.registry = registry
    this.#service = service
    this.#maxPeers = options.maxPeers ?? 256
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry })
    const registers = [registry]
    // The collect callbacks run at scrape time: they copy the cells into the registry.
    const self = this
    this.requests = new Counter({
      name: `${prefix}http_requests_total`,
      help: 'Downstream HTTP requests finished, by service, method and response status class.',
      labelNames: ['service', 'method', 'status_class'],
      registers,
      collect(this: Counter<string>) {
        this.reset()
        const cells = self.#requestCells
        const width = STATUS_CLASSES.length
        for (let i = 0; i < cells.length; i++) {
          const value = cells[i] as number
          if (value === 0) continue
          const method = METHODS[(i / width) | 0] ?? 'other'
          this.inc({ service, method, status_class: STATUS_CLASSES[i % width] }, value)
        }
      },
    })
    this.requestDuration = new CellHistogram({
      name: `${prefix}http_request_duration_seconds`,
      help: 'Time from the request header read to the end of the exchange, in seconds.',
      buckets,
      registry,
    })
    this.requestsInFlight = new Gauge({
      name: `${prefix}http_requests_in_flight`,
      help: 'Downstream requests being served now.',
      labelNames: ['service'],
      registers,
      collect(this: Gauge<string>) {
        this.set({ service }, self.#inFlight)
      },
    })
    this.proxyErrors = new Counter({
      name: `${prefix}proxy_errors_total`,
      help: 'Failed requests and throwing phases, by error type and source.',
      labelNames: ['service', 'error_type', 'error_source'],
      registers,
    })
    this.http2Streams = new Counter({
      name: `${prefix}http2_streams_total`,
      help: 'Downstream requests received on HTTP/2 streams.',
      labelNames: ['service'],
      registers,
      collect(this: Counter<string>) {
        this.reset()
        this.inc({ service }, self.#http2)
      },
    })
    const peerCounter = (
      name: string,
      help: string,
      read: (cells: PeerCells) => number,
    ): Counter<string> =>
      new Counter({
        name: `${prefix}${name}`,
        help,
        labelNames: ['peer'],
        registers,
        collect(this: Counter<string>) {
          this.reset()
          for (const cells of self.#peerList) this.inc(cells.labels, read(cells))
        },
      })
    this.upstreamAttempts = peerCounter(
      'upstream_attempts_total',
      'Upstream attempts that got a connection, by peer.',
      (cells) => cells.attempts,
    )
    this.upstreamRetries = peerCounter(
      'upstream_retries_total',
      'Upstream attempts after the first one of their request, by peer.',
      (cells) => cells.retries,
    )
    this.upstreamConnections = new Counter({
      name: `${prefix}upstream_connections_total`,
      help: 'Upstream connections used, new or reused from the pool, by peer.',
      labelNames: ['peer', 'reused'],
      registers,
      collect(this: Counter<string>) {
        this.reset()
        for (const cells of self.#peerList) {
          this.inc({ peer: cells.label, reused: 'false' }, cells.newConnections)
          this.inc({ peer: cells.label, reused: 'true' }, cells.reusedConnections)
        }
      },
    })
    this.upstreamActive = new Gauge({
      name: `${prefix}upstream_active_connections`,
      help: 'Upstream connections serving a request now, by peer.',
      labelNames: ['peer'],
      registers,
      collect(this: Gauge<string>) {
        for (const cells of self.#peerList) this.set(cells.labels, cells.active)
      },
    })
    this.upstreamConnectDuration = new CellHistogram({
      name: `${prefix}upstream_connect_duration_seconds`,
      help: 'Time to establish a new upstream connection (TCP and TLS), by peer, in seconds.',
      buckets,
      registry,
    })
    this.upstreamTtfb = new CellHistogram({
      name: `${prefix}upstream_ttfb_seconds`,
      help: 'Time from the upstream connection being ready to its response header, in seconds.',
      buckets,
      registry,
    })
    this.upstreamResponses = new Counter({
      name: `${prefix}upstream_responses_total`,
      help: 'Upstream final response headers received, by peer and status class.',
      labelNames: ['peer', 'status_class'],
      registers,
      collect(this: Counter<string>) {
        this.reset()
        for (const cells of self.#peerList) {
          for (let c = 0; c < STATUS_CLASSES.length; c++) {
            const value = cells.responses[c] as number
            if (value > 0) this.inc({ peer: cells.label, status_class: STATUS_CLASSES[c] }, value)
          }
        }
      },
    })
    this.poolIdle = new Gauge({
      name: `${prefix}upstream_pool_idle_connections`,
      help: 'Idle upstream connections in the pool, by connector.',
      labelNames: ['connector'],
      registers,
      collect(this: Gauge<string>) {
        for (const [name, source] of self.#connectors) {
          this.set({ connector: name }, source.stats().idle)
        }
      },
    })
    this.poolReuseRatio = new Gauge({
      name: `${prefix}upstream_pool_reuse_ratio`,
      help: 'Share of upstream connection requests served from the pool, by connector.',
      labelNames: ['connector'],
      registers,
      collect(this: Gauge<string>) {
        for (const [name, source] of self.#connectors) {
          this.set({ connector: name }, source.stats().reuseRatio)
        }
      },
    })
    this.backendHealthy = new Gauge({
      name: `${prefix}backend_healthy`,
      help: 'Whether a backend passes its health check (1) or not (0).',
      labelNames: ['backend'],
      registers,
      collect(this: Gauge<string>) {
        for (const source of self.#healthSources.values()) {
          for (const backend of source.backends()) {
            this.set({ backend: backend.addr }, source.isHealthy(backend) ? 1 : 0)
          }
        }
      },
    })
    const sideCounter = (name: string, help: string, cells: Float64Array): Counter<string> =>
      new Counter({
        name: `${prefix}${name}`,
        help,
        labelNames: ['side'],
        registers,
        collect(this: Counter<string>) {
          this.reset()
          this.inc({ side: 'downstream' }, cells[0])
          this.inc({ side: 'upstream' }, cells[1])
        },
      })
    this.tlsHandshakes = sideCounter(
      'tls_handshakes_total',
      'Completed TLS handshakes, downstream (clients) and upstream (peers).',
      this.#tlsCells,
    )
    this.tlsHandshakeFailures = sideCounter(
      'tls_handshake_failures_total',
      'Failed TLS handshakes, downstream (clients) and upstream (peers).',
      this.#tlsFailureCells,
    )
    this.connectionErrors = new Counter({
      name: `${prefix}connection_errors_total`,
      help: 'Downstream connections that ended with an error, by service.',
      labelNames: ['service'],
      registers,
    })
    this.connectionsRejected = new Counter({
      name: `${prefix}connections_rejected_total`,
      help: 'Downstream connections closed right after accept, by service and reason.',
      labelNames: ['service', 'reason'],
      registers,
    })
    this.cacheLookups = new Counter({
      name: `${prefix}cache_lookups_total`,
      help: 'Cache lookups by result (hit, miss, stale, expired, bypass).',
      labelNames: ['result'],
      registers,
      collect(this: Counter<string>) {
        this.reset()
        const cells = self.#cacheCells
        for (let i = 0; i < CACHE_RESULTS.length; i++) {
          this.inc({ result: CACHE_RESULTS[i] }, cells[i])
        }
      },
    })
    this.#durationCells = STATUS_CLASSES.map((c) =>
      this.requestDuration.cell({ service, status_class: c }),
    )
  }

  /**
   * Subscribes to the diagnostics channels: from now on requests are recorded. Idempotent.
   * @returns this
   */
  enable(): this {
    if (this.#subscriptions.length > 0) return this
    this.#subscriptions = [
      [PROXY_CHANNELS.requestStarted, (m) => this.#onRequestStarted(m as RequestStartedMessage)],
      [
        PROXY_CHANNELS.upstreamConnected,
        (m) => this.#onUpstreamConnected(m as UpstreamConnectedMessage),
      ],
      [
        PROXY_CHANNELS.upstreamResponded,
        (m) => this.#onUpstreamResponded(m as UpstreamRespondedMessage),
      ],
      [PROXY_CHANNELS.proxyError, (m) => this.#onProxyError(m as ProxyErrorMessage)],
      [PROXY_CHANNELS.requestFinished, (m) => this.#onRequestFinished(m as RequestFinishedMessage)],
      [LB_CHANNELS.healthChanged, (m) => this.#onHealthChanged(m as HealthChangedMessage)],
      [CORE_CHANNELS.connectionError, (m) => this.#onConnectionError(m as ConnectionErrorMessage)],
      [
        CORE_CHANNELS.connectionRejected,
        (m) => this.#onConnectionRejected(m as ConnectionRejectedMessage),
      ],
    ]
    for (const [name, listener] of this.#subscriptions) diagnosticsChannel.subscribe(name, listener)
    return this
  }

  /** Unsubscribes from the channels (the metrics stay registered with their values). */
  disable(): void {
    for (const [name, listener] of this.#subscriptions) {
      diagnosticsChannel.unsubscribe(name, listener)
    }
    this.#subscriptions = []
  }

  /**
   * Exports a connector's pool statistics (idle connections, reuse ratio) under
   * `connector="<name>"`, read at scrape time.
   * @param name - the label value
   * @param connector - e.g. `proxy.clientUpstream`
   */
  observeConnector(name: string, connector: ConnectorStatsSource): void {
    this.#connectors.set(name, connector)
  }

  /**
   * Exports every backend's health from a load balancer at scrape time (in addition to the
   * flips published on `pingora:health:changed`).
   * @param name - a key for this source (a second call with the same name replaces it)
   * @param source - e.g. a `LoadBalancer`
   */
  observeHealth(name: string, source: HealthSource): void {
    this.#healthSources.set(name, source)
  }

  /**
   * Counts a cache lookup: the hook for a cache phase (`requestCacheFilter`, a lookup in
   * your own code), since the metrics do not depend on `@pingora-ts/cache`.
   * @param result - what the lookup found
   * @throws RangeError for a result not in {@link CacheLookupResult}
   */
  recordCacheLookup(result: CacheLookupResult): void {
    const index = CACHE_RESULTS.indexOf(result)
    if (index === -1) throw new RangeError(`unknown cache lookup result: ${result}`)
    this.#cacheCells[index] = (this.#cacheCells[index] as number) + 1
  }

  #onRequestStarted(message: RequestStartedMessage): void {
    const session = message.session
    this.#inFlight++
    if (session.downstreamSession.protocol === 'h2') this.#http2++
    else if (!session.clientReused && session.digest.tls !== undefined) {
      // The first request of an HTTP/1 TLS connection: its handshake just completed.
      this.#tlsCells[0] = (this.#tlsCells[0] as number) + 1
    }
  }

  #onUpstreamConnected(message: UpstreamConnectedMessage): void {
    const session = message.session
    const peer = this.#peerCells(message.peer)
    peer.attempts++
    if (session.retries > 1) peer.retries++
    if (message.reused) peer.reusedConnections++
    else {
      peer.newConnections++
      const timing = session.timing
      const start = session.timing.upstreamAttemptStart
      if (start !== undefined && timing.upstreamConnected !== undefined) {
        peer.connectDuration.observe((timing.upstreamConnected - start) / 1000)
      }
      if (message.peer.isTls()) this.#tlsCells[1] = (this.#tlsCells[1] as number) + 1
    }
    const previous = this.#activePeer.get(session)
    if (previous !== undefined) previous.active--
    peer.active++
    this.#activePeer.set(session, peer)
  }

  #onUpstreamResponded(message: UpstreamRespondedMessage): void {
    // The attempt's peer was resolved when it connected.
    const peer = this.#activePeer.get(message.session) ?? this.#peerCells(message.peer)
    const cls = statusClass(message.response.status)
    peer.responses[cls] = (peer.responses[cls] as number) + 1
  }

  #onProxyError(message: ProxyErrorMessage): void {
    const error = message.error
    this.proxyErrors.inc({
      service: this.#service,
      error_type: error.type,
      error_source: error.source,
    })
    if (error.source === 'upstream' && TLS_ERRORS.has(error.type)) {
      this.#tlsFailureCells[1] = (this.#tlsFailureCells[1] as number) + 1
    }
  }

  #onRequestFinished(message: RequestFinishedMessage): void {
    const session = message.session
    this.#inFlight--
    const cls = statusClass(message.status)
    const cell = methodIndex(session.requestHeader.method) * STATUS_CLASSES.length + cls
    this.#requestCells[cell] = (this.#requestCells[cell] as number) + 1
    const timing = session.timing
    const end = timing.end ?? performance.now()
    this.#durationCells[cls]?.observe((end - timing.start) / 1000)
    const peer = this.#activePeer.get(session)
    if (peer !== undefined) {
      peer.active--
      this.#activePeer.delete(session)
      // TTFB of the last attempt, from the engine's own stage times (no clock read here); a
      // last attempt that failed before its response has no TTFB.
      const connected = timing.upstreamConnected
      const headers = timing.upstreamHeaders
      if (connected !== undefined && headers !== undefined && headers >= connected) {
        peer.ttfb.observe((headers - connected) / 1000)
      }
    }
  }

  #onHealthChanged(message: HealthChangedMessage): void {
    this.backendHealthy.set({ backend: message.backend.addr }, message.healthy ? 1 : 0)
  }

  #onConnectionError(message: ConnectionErrorMessage): void {
    this.connectionErrors.inc({ service: message.service ?? 'unknown' })
    const error = message.error
    if (PingoraError.is(error) && TLS_ERRORS.has(error.type)) {
      this.#tlsFailureCells[0] = (this.#tlsFailureCells[0] as number) + 1
    }
  }

  #onConnectionRejected(message: ConnectionRejectedMessage): void {
    this.connectionsRejected.inc({ service: message.service, reason: message.reason })
  }

  #peerCells(peer: HttpPeer): PeerCells {
    const address: PeerAddress = peer.address
    const host = address.kind === 'inet' ? address.host : address.path
    const port = address.kind === 'inet' ? address.port : -1
    let byPort = this.#peers.get(host)
    let cells = byPort?.get(port)
    if (cells !== undefined) return cells
    if (this.#peerList.length >= this.#maxPeers) {
      if (this.#otherPeer === undefined) {
        this.#otherPeer = new PeerCells(this, 'other')
        this.#peerList.push(this.#otherPeer)
      }
      return this.#otherPeer
    }
    const label = port === -1 ? host : host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
    cells = new PeerCells(this, label)
    if (byPort === undefined) {
      byPort = new Map()
      this.#peers.set(host, byPort)
    }
    byPort.set(port, cells)
    this.#peerList.push(cells)
    return cells
  }
}
