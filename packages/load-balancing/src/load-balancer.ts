import type { BackgroundService, ServiceReadyNotifier } from '@pingora-ts/core'
import { Backend } from './backend.ts'
import { channels, type LoadBalancerErrorMessage } from './diagnostics.ts'
import { type DiscoveryResult, type ServiceDiscovery, Static } from './discovery.ts'
import { BackendState, type HealthCheck } from './health-check.ts'
import type { OutlierDetector } from './outlier-detection.ts'
import type {
  BackendSelection,
  BackendSelectionBuilder,
  BackendStatus,
  SelectionContext,
} from './selection/backend-selection.ts'

/** Options of {@link LoadBalancer}. */
export interface LoadBalancerOptions {
  /** The health check to run on every backend. @defaultValue none: every backend is healthy */
  healthCheck?: HealthCheck
  /**
   * How often {@link LoadBalancer.start} runs discovery. @defaultValue `undefined`: once
   */
  updateFrequencyMs?: number
  /**
   * How often {@link LoadBalancer.start} runs health checks. @defaultValue `undefined`: once
   */
  healthCheckFrequencyMs?: number
  /** Whether health checks probe all backends at once. @defaultValue `false` */
  parallelHealthCheck?: boolean
  /**
   * The random source of randomised algorithms, uniform in `[0, 1)`.
   * @defaultValue `Math.random`
   */
  random?: () => number
  /**
   * Passive health: backends this detector ejected are skipped by every select, on top of the
   * active health check (either may keep a backend out). Feed it from the proxy
   * (`outliers.observeRequest(...)` in `logging`). @defaultValue none
   */
  outlierDetection?: OutlierDetector
}

/** How long the last successful {@link LoadBalancer.update} took. */
export interface UpdateTimings {
  /** Time spent in {@link ServiceDiscovery.discover}, in ms. */
  readonly discoveryMs: number
  /** Time spent building and swapping the selection, in ms. */
  readonly buildMs: number
}

/**
 * Decides whether a candidate is taken: `healthy` is the load balancer's view (healthy and
 * enabled). See {@link LoadBalancer.selectWith}.
 */
export type AcceptBackend = (backend: Backend, healthy: boolean) => boolean

/** Everything a selection reads, swapped as one reference so a select never sees half an update. */
interface Snapshot<S> {
  readonly backends: readonly Backend[]
  readonly selection: S
  readonly states: ReadonlyMap<string, BackendState>
  /** The hash keys joined, to detect an unchanged set cheaply. */
  readonly identity: string
}

const acceptHealthy: AcceptBackend = (_backend, healthy) => healthy
const IDLE_READY: BackendStatus = Object.freeze({ inFlight: 0, ready: true })

/**
 * A selected backend counted as in flight until {@link BackendLease.release}; returned by
 * {@link LoadBalancer.selectLease}. Load-aware algorithms ({@link LeastConnections},
 * {@link PowerOfTwoChoices}) read these counts.
 */
export class BackendLease {
  /** The selected backend. */
  readonly backend: Backend
  readonly #state: BackendState
  #released = false

  /** @internal */
  constructor(backend: Backend, state: BackendState) {
    this.backend = backend
    this.#state = state
    state.inFlight++
  }

  /** Ends the lease (idempotent): the request on this backend finished. */
  release(): void {
    if (this.#released) return
    this.#released = true
    this.#state.inFlight--
  }
}

function monotonicMs(): number {
  return performance.now()
}

/**
 * Service discovery, health checks and a selection algorithm together. Port of Pingora's
 * `LoadBalancer` (`pingora-load-balancing/src/lib.rs`, `background.rs`).
 *
 * The algorithm is passed as a value: any {@link BackendSelectionBuilder}, such as the built-in
 * classes ({@link RoundRobin}, {@link Consistent}, ...) or your own.
 *
 * Every update builds the new selection fully, then swaps one reference: a select in flight
 * sees either the old set or the new one, never a mix. Health, enablement and in-flight counts
 * carry over for backends that stay.
 *
 * @example
 * ```ts
 * const lb = LoadBalancer.tryFromIter(RoundRobin, ['1.1.1.1:443', '1.0.0.1:443'])
 * const backend = lb.select(new Uint8Array(), 256) // first healthy backend in RR order
 *
 * const checked = new LoadBalancer(Consistent, Static.tryFromIter(['10.0.0.1:80']), {
 *   healthCheck: new TcpHealthCheck(),
 *   healthCheckFrequencyMs: 1000,
 * })
 * void checked.start(shutdown.signal) // runs discovery and checks until aborted
 * await checked.ready
 *
 * // Or as a core background service, so dependent services wait for the first update:
 * server.addService(backgroundService('upstreams', checked))
 * ```
 */
export class LoadBalancer<S extends BackendSelection> implements BackgroundService {
  /** How often {@link LoadBalancer.start} runs discovery; `undefined` runs it once. */
  updateFrequencyMs: number | undefined
  /** How often {@link LoadBalancer.start} runs health checks; `undefined` runs them once. */
  healthCheckFrequencyMs: number | undefined
  /** Whether health checks probe all backends at once. */
  parallelHealthCheck: boolean
  /**
   * Resolves after the first update attempt (successful or not) by {@link LoadBalancer.update}
   * or {@link LoadBalancer.start}; never rejects.
   */
  readonly ready: Promise<void>
  readonly #markReady: () => void
  readonly #algorithm: BackendSelectionBuilder<S>
  readonly #discovery: ServiceDiscovery
  readonly #random: () => number
  #healthCheck: HealthCheck | undefined
  readonly #outliers: OutlierDetector | undefined
  #snapshot: Snapshot<S>
  #lastUpdateTiming: UpdateTimings | undefined
  /** Updates started and the newest one applied: a slow, older discovery never wins. */
  #updatesStarted = 0
  #updateApplied = 0

  /**
   * Creates a load balancer with no backends until the first {@link LoadBalancer.update}.
   * @param algorithm - the selection algorithm, e.g. `RoundRobin`
   * @param discovery - where backends come from
   * @param options - health check, frequencies, random source
   * @throws RangeError when a frequency is not a positive finite number
   */
  constructor(
    algorithm: BackendSelectionBuilder<S>,
    discovery: ServiceDiscovery,
    options: LoadBalancerOptions = {},
  ) {
    checkFrequency('updateFrequencyMs', options.updateFrequencyMs)
    checkFrequency('healthCheckFrequencyMs', options.healthCheckFrequencyMs)
    this.updateFrequencyMs = options.updateFrequencyMs
    this.healthCheckFrequencyMs = options.healthCheckFrequencyMs
    this.parallelHealthCheck = options.parallelHealthCheck ?? false
    this.#algorithm = algorithm
    this.#discovery = discovery
    this.#random = options.random ?? Math.random
    this.#healthCheck = options.healthCheck
    this.#outliers = options.outlierDetection
    this.#lastUpdateTiming = undefined
    let markReady: () => void = () => {}
    this.ready = new Promise<void>((resolve) => {
      markReady = resolve
    })
    this.#markReady = markReady
    this.#snapshot = this.#build([], new Map(), '')
  }

  /**
   * Creates a load balancer over addresses (Pingora's `try_from_iter`). IP literals and `unix:`
   * paths are usable at once; host names (`example.com:443`) are resolved without blocking by an
   * update this call starts ({@link LoadBalancer.ready} resolves when it is done).
   * @param algorithm - the selection algorithm, e.g. `RoundRobin`
   * @param addrs - `ip:port`, `[ipv6]:port`, `unix:/path` or `hostname:port`
   * @param options - health check, frequencies, random source
   * @throws TypeError when an address has no valid port
   */
  static tryFromIter<S extends BackendSelection>(
    algorithm: BackendSelectionBuilder<S>,
    addrs: Iterable<string>,
    options?: LoadBalancerOptions,
  ): LoadBalancer<S> {
    const discovery = Static.tryFromIter(addrs)
    const lb = new LoadBalancer(algorithm, discovery, options)
    if (discovery.hasHostNames) {
      lb.#backgroundUpdate()
    } else {
      lb.#apply({ backends: discovery.get() })
      lb.#markReady()
    }
    return lb
  }

  /**
   * Creates a load balancer over fixed backends, usable at once (Pingora's `from_backends` with
   * a static discovery).
   * @param algorithm - the selection algorithm, e.g. `RoundRobin`
   * @param backends - the backends
   * @param options - health check, frequencies, random source
   */
  static fromBackends<S extends BackendSelection>(
    algorithm: BackendSelectionBuilder<S>,
    backends: Iterable<Backend>,
    options?: LoadBalancerOptions,
  ): LoadBalancer<S> {
    const discovery = new Static(backends)
    const lb = new LoadBalancer(algorithm, discovery, options)
    lb.#apply({ backends: discovery.get() })
    lb.#markReady()
    return lb
  }

  /**
   * Runs discovery and, when the backend set changed, builds and swaps in a new selection.
   * Enablement from discovery is applied either way. A failed discovery keeps the current set.
   * When updates overlap, the result of the last one started wins, whatever order they finish in.
   * @throws whatever {@link ServiceDiscovery.discover} rejects with
   */
  async update(): Promise<void> {
    const sequence = ++this.#updatesStarted
    try {
      const start = monotonicMs()
      const result = await this.#discovery.discover()
      if (sequence < this.#updateApplied) return
      this.#updateApplied = sequence
      const built = monotonicMs()
      this.#apply(result)
      const end = monotonicMs()
      this.#lastUpdateTiming = { discoveryMs: built - start, buildMs: end - built }
    } finally {
      this.#markReady()
    }
  }

  /**
   * Returns the first ready (healthy and enabled) backend in the algorithm's order for `key`, or
   * `undefined` (Pingora's `select`).
   * @param key - the hashing key; ignored by non-hashing algorithms
   * @param maxIterations - bounds how many candidates are examined
   */
  select(key: Uint8Array, maxIterations: number): Backend | undefined {
    return this.selectWith(key, maxIterations, acceptHealthy)
  }

  /**
   * Returns the first candidate for `key` that `accept` takes (Pingora's `select_with`): for
   * example skip a backend that just failed, for failover. Each backend is offered once.
   * @param key - the hashing key; ignored by non-hashing algorithms
   * @param maxIterations - bounds how many candidates are examined (duplicates count)
   * @param accept - called with each candidate and whether it is healthy and enabled
   */
  selectWith(key: Uint8Array, maxIterations: number, accept: AcceptBackend): Backend | undefined {
    const snapshot = this.#snapshot
    const iter = snapshot.selection.iter(key)
    const noHealthCheck = this.#healthCheck === undefined
    const outliers = this.#outliers
    let firstKey: string | undefined
    // Created only when the first candidate is rejected: the common path allocates no set.
    let seen: Set<string> | undefined
    for (let step = 0; step < maxIterations; step++) {
      const backend = iter.next()
      if (backend === undefined) return undefined
      const hashKey = backend.hashKey()
      if (firstKey === undefined) {
        firstKey = hashKey
      } else {
        if (hashKey === firstKey || seen?.has(hashKey) === true) continue
        if (seen === undefined) seen = new Set()
        seen.add(hashKey)
      }
      const state = snapshot.states.get(hashKey)
      let ready = state === undefined ? noHealthCheck : state.isReady()
      if (ready && outliers?.isEjected(backend) === true) ready = false
      if (accept(backend, ready)) return backend
    }
    return undefined
  }

  /**
   * Like {@link LoadBalancer.selectWith} (healthy backends by default), and counts the backend
   * as in flight until the returned lease is released. Use it with {@link LeastConnections} and
   * {@link PowerOfTwoChoices}.
   * @param key - the hashing key; ignored by non-hashing algorithms
   * @param maxIterations - bounds how many candidates are examined
   * @param accept - called with each candidate and whether it is healthy and enabled
   */
  selectLease(
    key: Uint8Array,
    maxIterations: number,
    accept: AcceptBackend = acceptHealthy,
  ): BackendLease | undefined {
    const snapshot = this.#snapshot
    const backend = this.selectWith(key, maxIterations, accept)
    if (backend === undefined) return undefined
    const state = snapshot.states.get(backend.hashKey()) ?? new BackendState()
    return new BackendLease(backend, state)
  }

  /** The current backends, sorted by {@link Backend.compare} (a frozen snapshot). */
  backends(): readonly Backend[] {
    return this.#snapshot.backends
  }

  /**
   * The current in-flight count of a backend (leases not yet released).
   * @param backend - the backend
   */
  inFlight(backend: Backend): number {
    return this.#snapshot.states.get(backend.hashKey())?.inFlight ?? 0
  }

  /**
   * Whether a backend may receive traffic: known, healthy, enabled (Pingora's
   * `Backends::ready`) and not ejected by the outlier detector. Unknown backends are ready only
   * when there is no health check.
   * @param backend - the backend
   */
  isReady(backend: Backend): boolean {
    const state = this.#snapshot.states.get(backend.hashKey())
    const ready = state === undefined ? this.#healthCheck === undefined : state.isReady()
    return ready && this.#outliers?.isEjected(backend) !== true
  }

  /** The outlier detector given in the options, if any. */
  get outlierDetection(): OutlierDetector | undefined {
    return this.#outliers
  }

  /**
   * Whether the last health checks found a backend healthy (ignores enablement).
   * @param backend - the backend
   */
  isHealthy(backend: Backend): boolean {
    return this.#snapshot.states.get(backend.hashKey())?.healthy ?? this.#healthCheck === undefined
  }

  /**
   * Enables or drains a backend without touching its health (Pingora's `set_enable`). A no-op
   * for unknown backends. The choice persists across updates that keep the backend.
   * @param backend - the backend
   * @param enabled - `false` to stop sending it traffic
   */
  setEnable(backend: Backend, enabled: boolean): void {
    const state = this.#snapshot.states.get(backend.hashKey())
    if (state !== undefined) state.enabled = enabled
  }

  /**
   * Sets (or removes) the health check.
   * @param healthCheck - the check, or `undefined`
   */
  setHealthCheck(healthCheck: HealthCheck | undefined): void {
    this.#healthCheck = healthCheck
  }

  /** The timings of the last successful {@link LoadBalancer.update}, if any. */
  lastUpdateTiming(): UpdateTimings | undefined {
    return this.#lastUpdateTiming
  }

  /**
   * Probes every current backend once with the health check (no-op without one) and updates
   * their health; calls `healthStatusChange` for each flip.
   * @param parallel - probe all at once @defaultValue {@link LoadBalancer.parallelHealthCheck}
   */
  async runHealthCheck(parallel = this.parallelHealthCheck): Promise<void> {
    const check = this.#healthCheck
    if (check === undefined) return
    const { backends, states } = this.#snapshot
    if (parallel) {
      await Promise.all(
        backends.map((backend) => checkOne(check, backend, states.get(backend.hashKey()))),
      )
    } else {
      for (const backend of backends) await checkOne(check, backend, states.get(backend.hashKey()))
    }
  }

  /**
   * Runs as a background service until `shutdown` aborts: discovery every `updateFrequencyMs`
   * and health checks every `healthCheckFrequencyMs` (each once first; returns after one round
   * when neither frequency is set). Discovery failures are published on the
   * `pingora:load-balancer:error` diagnostics channel and keep the last good set.
   * @param shutdown - aborts the loop
   */
  async start(shutdown: AbortSignal): Promise<void> {
    let nextUpdate = Date.now()
    let nextHealthCheck = nextUpdate
    while (!shutdown.aborted) {
      const now = Date.now()
      if (nextUpdate <= now) {
        await this.#updateReporting()
        nextUpdate = now + (this.updateFrequencyMs ?? Number.POSITIVE_INFINITY)
      }
      if (shutdown.aborted) return
      if (nextHealthCheck <= now) {
        await this.runHealthCheck()
        nextHealthCheck = now + (this.healthCheckFrequencyMs ?? Number.POSITIVE_INFINITY)
      }
      if (this.updateFrequencyMs === undefined && this.healthCheckFrequencyMs === undefined) return
      await sleepUntil(Math.min(nextUpdate, nextHealthCheck), shutdown)
    }
  }

  /**
   * Runs {@link LoadBalancer.start} and signals `ready` after the first update (core's
   * `BackgroundService.startWithReadyNotifier`, Pingora's ready notification).
   * @param shutdown - aborts the loop
   * @param ready - notified once the first discovery ran
   */
  async startWithReadyNotifier(shutdown: AbortSignal, ready: ServiceReadyNotifier): Promise<void> {
    const running = this.start(shutdown)
    await Promise.race([this.ready, running])
    ready.notifyReady()
    await running
  }

  #backgroundUpdate(): void {
    this.#updateReporting().catch(() => {})
  }

  async #updateReporting(): Promise<void> {
    try {
      await this.update()
    } catch (error) {
      publishError('discovery', error)
    }
  }

  #apply(result: DiscoveryResult): void {
    const sorted = [...result.backends].sort(Backend.compare)
    const backends: Backend[] = []
    let identity = ''
    for (const backend of sorted) {
      const last = backends[backends.length - 1]
      if (last?.equals(backend) === true) continue
      backends.push(backend)
      identity += `${backend.hashKey()}\n`
    }
    const current = this.#snapshot
    if (identity === current.identity) {
      applyEnablement(current.states, result.enablement)
      return
    }
    const states = new Map<string, BackendState>()
    for (const backend of backends) {
      const key = backend.hashKey()
      states.set(key, current.states.get(key) ?? new BackendState())
    }
    applyEnablement(states, result.enablement)
    if (this.#outliers !== undefined) {
      this.#outliers.setBackendCount(backends.length)
      for (const old of current.backends) {
        if (!states.has(old.hashKey())) this.#outliers.forget(old)
      }
    }
    this.#snapshot = this.#build(Object.freeze(backends), states, identity)
  }

  #build(
    backends: readonly Backend[],
    states: Map<string, BackendState>,
    identity: string,
  ): Snapshot<S> {
    const context: SelectionContext = {
      random: this.#random,
      status: (backend) => states.get(backend.hashKey()) ?? IDLE_READY,
    }
    return { backends, selection: this.#algorithm.build(backends, context), states, identity }
  }
}

function applyEnablement(
  states: ReadonlyMap<string, BackendState>,
  enablement: ReadonlyMap<string, boolean> | undefined,
): void {
  if (enablement === undefined) return
  for (const [key, enabled] of enablement) {
    const state = states.get(key)
    if (state !== undefined) state.enabled = enabled
  }
}

async function checkOne(
  check: HealthCheck,
  backend: Backend,
  state: BackendState | undefined,
): Promise<void> {
  let success = true
  let failure: unknown
  try {
    await check.check(backend)
  } catch (error) {
    success = false
    failure = error
  }
  if (state === undefined || !state.observe(success, check.healthThreshold(success))) return
  if (channels.healthChanged.hasSubscribers) {
    channels.healthChanged.publish({ backend, healthy: success, error: failure })
  }
  if (check.healthStatusChange === undefined) return
  try {
    await check.healthStatusChange(backend, success)
  } catch (error) {
    publishError('health-callback', error)
  }
}

function publishError(phase: LoadBalancerErrorMessage['phase'], error: unknown): void {
  if (channels.loadBalancerError.hasSubscribers) {
    channels.loadBalancerError.publish({ phase, error } satisfies LoadBalancerErrorMessage)
  }
}

function checkFrequency(name: string, value: number | undefined): void {
  if (value !== undefined && !(Number.isFinite(value) && value > 0)) {
    throw new RangeError(`${name} must be a positive number of milliseconds, got ${value}`)
  }
}

/** Waits until the wall clock reaches `deadline` or `signal` aborts (fake-timer friendly). */
function sleepUntil(deadline: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve()
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, Math.max(0, deadline - Date.now()))
    signal.addEventListener('abort', done, { once: true })
  })
}
