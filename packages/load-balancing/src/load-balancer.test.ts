import diagnosticsChannel from 'node:diagnostics_channel'
import { backgroundService, ServiceReadyNotifier } from '@pingora-ts/core'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { key, seededRandom } from '../test/helpers/random.ts'
import { Backend } from './backend.ts'
import {
  CHANNEL_NAMES,
  type HealthChangedMessage,
  type LoadBalancerErrorMessage,
} from './diagnostics.ts'
import type { DiscoveryResult, ServiceDiscovery } from './discovery.ts'
import type { HealthCheck } from './health-check.ts'
import { LoadBalancer } from './load-balancer.ts'
import type {
  BackendIter,
  BackendSelection,
  SelectionContext,
} from './selection/backend-selection.ts'
import { Consistent } from './selection/consistent.ts'
import { LeastConnections } from './selection/least-connections.ts'
import { RoundRobin } from './selection/weighted.ts'

const EMPTY = key('')

/** A discovery whose answer the test controls. */
class ScriptedDiscovery implements ServiceDiscovery {
  result: DiscoveryResult | Error
  calls = 0
  constructor(result: DiscoveryResult | Error) {
    this.result = result
  }
  async discover(): Promise<DiscoveryResult> {
    this.calls++
    if (this.result instanceof Error) throw this.result
    return this.result
  }
}

/** A health check whose verdict per address the test controls. */
class ScriptedCheck implements HealthCheck {
  readonly down = new Set<string>()
  readonly changes: string[] = []
  checks = 0
  success = 1
  failure = 1
  async check(backend: Backend): Promise<void> {
    this.checks++
    if (this.down.has(backend.addr)) throw new Error(`${backend.addr} down`)
  }
  healthThreshold(success: boolean): number {
    return success ? this.success : this.failure
  }
  healthStatusChange = (backend: Backend, healthy: boolean): void => {
    this.changes.push(`${backend.addr} ${healthy ? 'up' : 'down'}`)
  }
}

afterEach(() => {
  vi.useRealTimers()
})

describe('LoadBalancer', () => {
  it('builds from addresses with tryFromIter(RoundRobin, addrs) and selects at once', async () => {
    const lb = LoadBalancer.tryFromIter(RoundRobin, ['1.1.1.1:443', '1.0.0.1:443'])
    expect(lb.backends().map(String)).toEqual(['1.0.0.1:443', '1.1.1.1:443'])
    const picks = [lb.select(EMPTY, 8), lb.select(EMPTY, 8), lb.select(EMPTY, 8)].map(String)
    expect(picks).toEqual(['1.0.0.1:443', '1.1.1.1:443', '1.0.0.1:443'])
    await expect(lb.ready).resolves.toBeUndefined()
  })

  it('resolves host names without blocking and becomes ready after', async () => {
    const lb = LoadBalancer.tryFromIter(RoundRobin, ['localhost:8080', '10.0.0.1:80'])
    await lb.ready
    expect(lb.backends().map(String)).toContain('10.0.0.1:80')
    expect(lb.backends().some((b) => b.port === 8080 && b.family !== 'unix')).toBe(true)
  })

  it('deduplicates backends with the same identity', () => {
    const lb = LoadBalancer.fromBackends(RoundRobin, [
      Backend.new('10.0.0.1:80'),
      Backend.new('10.0.0.1:80'),
      Backend.new('10.0.0.2:80'),
    ])
    expect(lb.backends()).toHaveLength(2)
  })

  it('accepts a user-written BackendSelection', () => {
    class LastOne implements BackendSelection {
      readonly backends: readonly Backend[]
      constructor(backends: readonly Backend[]) {
        this.backends = backends
      }
      static build(backends: readonly Backend[]): LastOne {
        return new LastOne(backends)
      }
      iter(): BackendIter {
        let i = this.backends.length
        return { next: () => (i > 0 ? this.backends[--i] : undefined) }
      }
    }
    const lb = LoadBalancer.tryFromIter(LastOne, ['10.0.0.1:80', '10.0.0.2:80'])
    expect(String(lb.select(EMPTY, 4))).toBe('10.0.0.2:80')
    lb.setEnable(Backend.new('10.0.0.2:80'), false)
    expect(String(lb.select(EMPTY, 4))).toBe('10.0.0.1:80')
  })

  it('skips drained backends and takes them back when re-enabled', () => {
    const lb = LoadBalancer.tryFromIter(Consistent, ['10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80'])
    const chosen = lb.select(key('user-1'), 16) as Backend
    lb.setEnable(chosen, false)
    expect(lb.isReady(chosen)).toBe(false)
    const other = lb.select(key('user-1'), 16)
    expect(other).toBeDefined()
    expect(other?.equals(chosen)).toBe(false)
    lb.setEnable(chosen, true)
    expect(lb.select(key('user-1'), 16)).toBe(chosen)
  })

  it('fails over with selectWith: skips a backend that just failed, each candidate once', () => {
    const lb = LoadBalancer.tryFromIter(Consistent, ['10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80'])
    const failed = lb.select(key('k'), 16) as Backend
    const offered: string[] = []
    const next = lb.selectWith(key('k'), 16, (backend, healthy) => {
      offered.push(backend.addr)
      return healthy && !backend.equals(failed)
    })
    expect(next?.equals(failed)).toBe(false)
    expect(offered).toEqual([failed.addr, String(next)])
    const none = lb.selectWith(key('k'), 100, (backend) => {
      offered.push(backend.addr)
      return false
    })
    expect(none).toBeUndefined()
    expect(new Set(offered.slice(2)).size).toBe(offered.length - 2)
  })

  it('stops after maxIterations candidates', () => {
    const lb = LoadBalancer.tryFromIter(RoundRobin, ['10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80'])
    let offered = 0
    expect(
      lb.selectWith(EMPTY, 2, () => {
        offered++
        return false
      }),
    ).toBeUndefined()
    expect(offered).toBe(2)
  })

  it('swaps in a new backend set on update, carrying over enablement', async () => {
    const a = Backend.new('10.0.0.1:80')
    const b = Backend.new('10.0.0.2:80')
    const discovery = new ScriptedDiscovery({ backends: [a, b] })
    const lb = new LoadBalancer(RoundRobin, discovery)
    expect(lb.select(EMPTY, 4)).toBeUndefined()
    await lb.update()
    lb.setEnable(a, false)
    const c = Backend.new('10.0.0.3:80')
    discovery.result = { backends: [a, b, c] }
    await lb.update()
    expect(lb.backends().map(String)).toEqual(['10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80'])
    expect(lb.isReady(a)).toBe(false)
    expect(lb.isReady(c)).toBe(true)
    const picks = new Set(Array.from({ length: 6 }, () => String(lb.select(EMPTY, 4))))
    expect(picks).toEqual(new Set(['10.0.0.2:80', '10.0.0.3:80']))
    expect(lb.lastUpdateTiming()?.discoveryMs).toBeGreaterThanOrEqual(0)
  })

  it('never shows a select half an update: the old selection stays whole until the swap', async () => {
    const old = Array.from({ length: 50 }, (_, i) => Backend.new(`10.0.0.${i + 1}:80`))
    const next = Array.from({ length: 50 }, (_, i) => Backend.new(`10.1.0.${i + 1}:80`))
    const discovery = new ScriptedDiscovery({ backends: old })
    const lb = new LoadBalancer(RoundRobin, discovery)
    await lb.update()
    discovery.result = { backends: next }
    const pending = lb.update()
    // Discovery is awaited; until it settles every select sees only the old set.
    for (let i = 0; i < 100; i++) expect(String(lb.select(EMPTY, 4)).startsWith('10.0.')).toBe(true)
    await pending
    for (let i = 0; i < 100; i++) expect(String(lb.select(EMPTY, 4)).startsWith('10.1.')).toBe(true)
  })

  it('keeps the newest update when an older, slower discovery finishes last', async () => {
    const answers: ((result: DiscoveryResult) => void)[] = []
    const discovery: ServiceDiscovery = {
      discover: () => new Promise((resolve) => answers.push(resolve)),
    }
    const lb = new LoadBalancer(RoundRobin, discovery)
    const older = lb.update()
    const newer = lb.update()
    answers[1]?.({ backends: [Backend.new('10.0.0.2:80')] })
    await newer
    answers[0]?.({ backends: [Backend.new('10.0.0.1:80')] })
    await older
    expect(lb.backends().map(String)).toEqual(['10.0.0.2:80'])
  })

  it('applies enablement from discovery, also when the set is unchanged', async () => {
    const a = Backend.new('10.0.0.1:80')
    const b = Backend.new('10.0.0.2:80')
    const discovery = new ScriptedDiscovery({
      backends: [a, b],
      enablement: new Map([[a.hashKey(), false]]),
    })
    const lb = new LoadBalancer(RoundRobin, discovery)
    await lb.update()
    expect(lb.isReady(a)).toBe(false)
    discovery.result = { backends: [a, b], enablement: new Map([[a.hashKey(), true]]) }
    await lb.update()
    expect(lb.isReady(a)).toBe(true)
  })

  it('keeps the last good set when discovery fails', async () => {
    const discovery = new ScriptedDiscovery({ backends: [Backend.new('10.0.0.1:80')] })
    const lb = new LoadBalancer(RoundRobin, discovery)
    await lb.update()
    discovery.result = new Error('registry down')
    await expect(lb.update()).rejects.toThrow('registry down')
    expect(String(lb.select(EMPTY, 4))).toBe('10.0.0.1:80')
  })

  it('counts leases as in flight for least connections and releases them once', () => {
    const lb = LoadBalancer.tryFromIter(LeastConnections, ['10.0.0.1:80', '10.0.0.2:80'])
    const first = lb.selectLease(EMPTY, 4)
    const second = lb.selectLease(EMPTY, 4)
    expect(first?.backend.equals(second?.backend as Backend)).toBe(false)
    const third = lb.selectLease(EMPTY, 4)
    expect(lb.inFlight(third?.backend as Backend)).toBe(2)
    third?.release()
    third?.release()
    expect(lb.inFlight(third?.backend as Backend)).toBe(1)
    // The backend with one lease left is now the least loaded pick.
    first?.release()
    const fourth = lb.selectLease(EMPTY, 4)
    expect(fourth?.backend.equals(first?.backend as Backend)).toBe(true)
  })

  it('spreads leases over the healthy backends when one is down (least connections)', async () => {
    const check = new ScriptedCheck()
    const lb = LoadBalancer.tryFromIter(
      LeastConnections,
      ['10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80'],
      { healthCheck: check },
    )
    check.down.add('10.0.0.1:80')
    await lb.runHealthCheck()
    const leases = Array.from({ length: 10 }, () => lb.selectLease(EMPTY, 8))
    expect(leases.every((lease) => lease !== undefined)).toBe(true)
    expect(lb.inFlight(Backend.new('10.0.0.1:80'))).toBe(0)
    expect(lb.inFlight(Backend.new('10.0.0.2:80'))).toBe(5)
    expect(lb.inFlight(Backend.new('10.0.0.3:80'))).toBe(5)
  })

  it('keeps in-flight counts across an update that keeps the backend', async () => {
    const a = Backend.new('10.0.0.1:80')
    const discovery = new ScriptedDiscovery({ backends: [a] })
    const lb = new LoadBalancer(LeastConnections, discovery)
    await lb.update()
    const lease = lb.selectLease(EMPTY, 4)
    discovery.result = { backends: [a, Backend.new('10.0.0.2:80')] }
    await lb.update()
    expect(lb.inFlight(a)).toBe(1)
    // The busy backend loses to the new idle one.
    expect(String(lb.select(EMPTY, 4))).toBe('10.0.0.2:80')
    lease?.release()
    expect(lb.inFlight(a)).toBe(0)
  })

  it('passes the injected random source to the algorithm', () => {
    class RandomFirst implements BackendSelection {
      readonly backends: readonly Backend[]
      readonly random: () => number
      constructor(backends: readonly Backend[], random: () => number) {
        this.backends = backends
        this.random = random
      }
      iter(): BackendIter {
        const list = [this.backends[Math.floor(this.random() * this.backends.length)]]
        return { next: () => list.shift() }
      }
    }
    const builder = {
      build: (b: readonly Backend[], c: SelectionContext) => new RandomFirst(b, c.random),
    }
    const addrs = ['10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80', '10.0.0.4:80']
    const run = () => {
      const lb = LoadBalancer.tryFromIter(builder, addrs, { random: seededRandom(42) })
      return Array.from({ length: 10 }, () => String(lb.select(EMPTY, 1)))
    }
    expect(run()).toEqual(run())
    expect(new Set(run()).size).toBeGreaterThan(1)
  })

  it('flips health after consecutive results, skips unhealthy backends and calls back', async () => {
    const check = new ScriptedCheck()
    check.failure = 2
    check.success = 2
    const lb = LoadBalancer.tryFromIter(RoundRobin, ['10.0.0.1:80', '10.0.0.2:80'], {
      healthCheck: check,
    })
    check.down.add('10.0.0.1:80')
    await lb.runHealthCheck()
    expect(lb.isHealthy(Backend.new('10.0.0.1:80'))).toBe(true)
    await lb.runHealthCheck()
    expect(lb.isHealthy(Backend.new('10.0.0.1:80'))).toBe(false)
    expect(check.changes).toEqual(['10.0.0.1:80 down'])
    for (let i = 0; i < 4; i++) expect(String(lb.select(EMPTY, 4))).toBe('10.0.0.2:80')
    check.down.clear()
    await lb.runHealthCheck(true)
    expect(lb.isHealthy(Backend.new('10.0.0.1:80'))).toBe(false)
    await lb.runHealthCheck(true)
    expect(lb.isHealthy(Backend.new('10.0.0.1:80'))).toBe(true)
    expect(check.changes).toEqual(['10.0.0.1:80 down', '10.0.0.1:80 up'])
  })

  it('resets the streak when a result agrees with the current health', async () => {
    const check = new ScriptedCheck()
    check.failure = 2
    const lb = LoadBalancer.tryFromIter(RoundRobin, ['10.0.0.1:80'], { healthCheck: check })
    const backend = Backend.new('10.0.0.1:80')
    check.down.add(backend.addr)
    await lb.runHealthCheck()
    check.down.clear()
    await lb.runHealthCheck()
    check.down.add(backend.addr)
    await lb.runHealthCheck()
    expect(lb.isHealthy(backend)).toBe(true)
  })

  it('runs discovery and health checks on their frequencies until the signal aborts', async () => {
    vi.useFakeTimers()
    const discovery = new ScriptedDiscovery({ backends: [Backend.new('10.0.0.1:80')] })
    const check = new ScriptedCheck()
    const lb = new LoadBalancer(RoundRobin, discovery, {
      healthCheck: check,
      updateFrequencyMs: 1000,
      healthCheckFrequencyMs: 250,
    })
    const shutdown = new AbortController()
    const running = lb.start(shutdown.signal)
    await lb.ready
    await vi.advanceTimersByTimeAsync(0)
    expect(discovery.calls).toBe(1)
    expect(check.checks).toBe(1)
    await vi.advanceTimersByTimeAsync(1000)
    expect(discovery.calls).toBe(2)
    expect(check.checks).toBe(5)
    shutdown.abort()
    await running
    await vi.advanceTimersByTimeAsync(5000)
    expect(discovery.calls).toBe(2)
  })

  it('runs as a core background service and signals ready after the first update', async () => {
    const discovery = new ScriptedDiscovery({ backends: [Backend.new('10.0.0.1:80')] })
    const lb = new LoadBalancer(RoundRobin, discovery, { updateFrequencyMs: 60_000 })
    const service = backgroundService('upstreams', lb)
    const notifier = new ServiceReadyNotifier()
    const shutdown = new AbortController()
    const running = service.start(shutdown.signal, notifier)
    await notifier.ready
    expect(discovery.calls).toBe(1)
    expect(lb.backends()).toHaveLength(1)
    shutdown.abort()
    await running
  })

  it('runs once and returns when no frequency is set', async () => {
    const discovery = new ScriptedDiscovery({ backends: [Backend.new('10.0.0.1:80')] })
    const lb = new LoadBalancer(RoundRobin, discovery)
    await lb.start(new AbortController().signal)
    expect(discovery.calls).toBe(1)
    expect(lb.backends()).toHaveLength(1)
  })

  it('publishes health flips and background failures on diagnostics channels', async () => {
    const health: HealthChangedMessage[] = []
    const errors: LoadBalancerErrorMessage[] = []
    const onHealth = (message: unknown) => health.push(message as HealthChangedMessage)
    const onError = (message: unknown) => errors.push(message as LoadBalancerErrorMessage)
    diagnosticsChannel.subscribe(CHANNEL_NAMES.healthChanged, onHealth)
    diagnosticsChannel.subscribe(CHANNEL_NAMES.loadBalancerError, onError)
    try {
      const check = new ScriptedCheck()
      check.down.add('10.0.0.1:80')
      const failing = new Error('callback failed')
      check.healthStatusChange = () => {
        throw failing
      }
      const discovery = new ScriptedDiscovery(new Error('registry down'))
      const lb = new LoadBalancer(RoundRobin, discovery, { healthCheck: check })
      await lb.start(new AbortController().signal)
      expect(errors.map((e) => e.phase)).toEqual(['discovery'])
      discovery.result = { backends: [Backend.new('10.0.0.1:80')] }
      await lb.update()
      await lb.runHealthCheck()
      expect(health).toHaveLength(1)
      expect(health[0]?.backend.addr).toBe('10.0.0.1:80')
      expect(health[0]?.healthy).toBe(false)
      expect(health[0]?.error).toEqual(new Error('10.0.0.1:80 down'))
      expect(errors.map((e) => [e.phase, e.error])).toEqual([
        ['discovery', new Error('registry down')],
        ['health-callback', failing],
      ])
    } finally {
      diagnosticsChannel.unsubscribe(CHANNEL_NAMES.healthChanged, onHealth)
      diagnosticsChannel.unsubscribe(CHANNEL_NAMES.loadBalancerError, onError)
    }
  })

  it('rejects non-positive frequencies with an exact message', () => {
    expect(
      () =>
        new LoadBalancer(RoundRobin, new ScriptedDiscovery({ backends: [] }), {
          updateFrequencyMs: 0,
        }),
    ).toThrow(new RangeError('updateFrequencyMs must be a positive number of milliseconds, got 0'))
  })
})
