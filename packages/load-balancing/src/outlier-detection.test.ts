import diagnosticsChannel from 'node:diagnostics_channel'
import { ErrorType, PingoraError } from '@pingora-ts/error'
import { describe, expect, it, onTestFinished } from 'vitest'
import { key } from '../test/helpers/random.ts'
import { Backend } from './backend.ts'
import { CHANNEL_NAMES, type OutlierEjectedMessage } from './diagnostics.ts'
import { LoadBalancer } from './load-balancer.ts'
import { OutlierDetector } from './outlier-detection.ts'
import { RoundRobin } from './selection/weighted.ts'

/** A clock the test moves by hand. */
function manualClock() {
  const clock = { t: 1_000, now: () => clock.t }
  return clock
}

function record<T>(name: string): T[] {
  const seen: T[] = []
  const listener = (message: unknown) => seen.push(message as T)
  diagnosticsChannel.subscribe(name, listener)
  onTestFinished(() => {
    diagnosticsChannel.unsubscribe(name, listener)
  })
  return seen
}

const A = Backend.new('10.0.0.1:80')
const B = Backend.new('10.0.0.2:80')
const C = Backend.new('10.0.0.3:80')

describe('OutlierDetector', () => {
  it('ejects after N consecutive 5xx, and a success in between resets the streak', () => {
    const clock = manualClock()
    const d = new OutlierDetector({ consecutive5xx: 3, maxEjectionPercent: 100, now: clock.now })
    const ejected = record<OutlierEjectedMessage>(CHANNEL_NAMES.outlierEjected)
    expect(d.observe(A, 503)).toBe(false)
    expect(d.observe(A, 502)).toBe(false)
    expect(d.observe(A, 200)).toBe(false)
    expect(d.observe(A, 500)).toBe(false)
    expect(d.observe(A, 500)).toBe(false)
    expect(d.isEjected(A)).toBe(false)
    expect(d.observe(A, 500)).toBe(true)
    expect(d.isEjected(A)).toBe(true)
    expect(ejected).toEqual([
      { backend: A, reason: 'consecutive-5xx', ejections: 1, durationMs: 30_000 },
    ])
    // 4xx is the client's fault: a success for the backend.
    expect(d.observe(B, 404)).toBe(false)
  })

  it('ejects after N consecutive connect failures, timeouts or resets', () => {
    const clock = manualClock()
    const d = new OutlierDetector({ consecutiveConnectFailure: 3, now: clock.now })
    expect(d.observe(A, 'connect-failure')).toBe(false)
    expect(d.observe(A, 'timeout')).toBe(false)
    expect(d.observe(A, 'reset')).toBe(true)
    expect(d.isEjected(A)).toBe(true)
    // A 5xx breaks a connect-failure streak (and the other way round).
    expect(d.observe(B, 'timeout')).toBe(false)
    expect(d.observe(B, 'timeout')).toBe(false)
    expect(d.observe(B, 503)).toBe(false)
    expect(d.observe(B, 'timeout')).toBe(false)
    expect(d.isEjected(B)).toBe(false)
  })

  it('ejects on a success rate under the threshold once the window has enough requests', () => {
    const clock = manualClock()
    const d = new OutlierDetector({
      consecutive5xx: 0,
      successRateThreshold: 0.8,
      successRateMinimumRequests: 10,
      successRateWindowMs: 1_000,
      maxEjectionPercent: 100,
      now: clock.now,
    })
    const ejected = record<OutlierEjectedMessage>(CHANNEL_NAMES.outlierEjected)
    // 7 of 9 succeed (78%): not judged yet, too few requests.
    for (let i = 0; i < 9; i++) expect(d.observe(A, i % 4 === 0 && i > 0 ? 500 : 200)).toBe(false)
    // A new window starts from zero: the old failures are gone.
    clock.t += 1_000
    for (let i = 0; i < 10; i++) expect(d.observe(A, i < 2 ? 500 : 200)).toBe(false)
    expect(d.isEjected(A)).toBe(false)
    clock.t += 1_000
    let out = false
    for (let i = 0; i < 10 && !out; i++) out = d.observe(A, i < 3 ? 500 : 200)
    expect(out).toBe(true)
    expect(ejected[0]?.reason).toBe('success-rate')
  })

  it('returns a backend after base x count, capped, and the count decays while it stays in', () => {
    const clock = manualClock()
    const d = new OutlierDetector({
      consecutive5xx: 1,
      baseEjectionTimeMs: 100,
      maxEjectionTimeMs: 250,
      maxEjectionPercent: 100,
      now: clock.now,
    })
    const ejected = record<OutlierEjectedMessage>(CHANNEL_NAMES.outlierEjected)
    const returned = record<{ backend: Backend }>(CHANNEL_NAMES.outlierReturned)
    d.observe(A, 500)
    expect(d.ejectedUntil(A)).toBe(1_100)
    clock.t += 99
    expect(d.isEjected(A)).toBe(true)
    // Results of requests sent before the ejection do not count.
    expect(d.observe(A, 500)).toBe(false)
    clock.t += 1
    expect(d.isEjected(A)).toBe(false)
    expect(returned).toEqual([{ backend: A }])
    // Its first request counts: ejected again at once, for twice as long.
    d.observe(A, 500)
    expect(ejected.map((m) => m.durationMs)).toEqual([100, 200])
    clock.t += 200
    d.observe(A, 500)
    // Third: 300 capped at 250.
    expect(ejected.map((m) => m.durationMs)).toEqual([100, 200, 250])
    clock.t += 250
    expect(d.isEjected(A)).toBe(false)
    // In for 2 base times: the count (3) decays by 2, so the next ejection is the 2nd.
    clock.t += 200
    d.observe(A, 500)
    expect(ejected[3]).toMatchObject({ ejections: 2, durationMs: 200 })
  })

  it('never ejects more than maxEjectionPercent of the backends, one at least', () => {
    const clock = manualClock()
    const d = new OutlierDetector({ consecutive5xx: 1, maxEjectionPercent: 10, now: clock.now })
    d.setBackendCount(3)
    expect(d.observe(A, 500)).toBe(true)
    expect(d.observe(B, 500)).toBe(false)
    expect(d.isEjected(B)).toBe(false)
    expect(d.ejectedCount).toBe(1)
    const half = new OutlierDetector({ consecutive5xx: 1, maxEjectionPercent: 50, now: clock.now })
    half.setBackendCount(4)
    expect(half.observe(A, 500)).toBe(true)
    expect(half.observe(B, 500)).toBe(true)
    expect(half.observe(C, 500)).toBe(false)
    expect(half.ejectedCount).toBe(2)
  })

  it('classifies proxy errors; downstream and internal errors say nothing about the backend', () => {
    const d = new OutlierDetector({ consecutiveConnectFailure: 1, consecutive5xx: 1 })
    expect(OutlierDetector.classify(PingoraError.upstream(ErrorType.ConnectRefused))).toBe(
      'connect-failure',
    )
    expect(OutlierDetector.classify(PingoraError.upstream(ErrorType.ConnectTimedout))).toBe(
      'timeout',
    )
    expect(OutlierDetector.classify(PingoraError.upstream(ErrorType.ReadTimedout))).toBe('timeout')
    expect(OutlierDetector.classify(PingoraError.upstream(ErrorType.ConnectionClosed))).toBe(
      'reset',
    )
    expect(OutlierDetector.classify(PingoraError.downstream(ErrorType.ConnectionClosed))).toBe(
      undefined,
    )
    expect(OutlierDetector.classify(new Error('x'))).toBe(undefined)
    expect(d.observeRequest(A, PingoraError.downstream(ErrorType.ReadError), 502)).toBe(false)
    expect(d.observeRequest(undefined, PingoraError.upstream(ErrorType.ConnectRefused), 502)).toBe(
      false,
    )
    expect(d.observeRequest(A, undefined, 200)).toBe(false)
    expect(d.observeRequest(A, PingoraError.upstream(ErrorType.ConnectRefused), 502)).toBe(true)
  })

  it('rejects bad options with exact messages', () => {
    expect(() => new OutlierDetector({ consecutive5xx: -1 })).toThrow(
      'consecutive5xx must be a non-negative integer, got -1',
    )
    expect(() => new OutlierDetector({ successRateThreshold: 2 })).toThrow(
      'successRateThreshold must be from 0 to 1, got 2',
    )
    expect(() => new OutlierDetector({ maxEjectionPercent: 101 })).toThrow(
      'maxEjectionPercent must be from 0 to 100, got 101',
    )
    expect(() => new OutlierDetector({ baseEjectionTimeMs: 0 })).toThrow(
      'baseEjectionTimeMs must be a positive number, got 0',
    )
  })

  it('stays bounded: past maxBackends the oldest backend not ejected is forgotten', () => {
    const d = new OutlierDetector({ maxBackends: 2, consecutive5xx: 2, maxEjectionPercent: 100 })
    d.observe(A, 500)
    d.observe(B, 500)
    d.observe(C, 500) // forgets A and its streak
    expect(d.observe(A, 500)).toBe(false)
    expect(d.observe(C, 500)).toBe(true)
  })
})

describe('LoadBalancer with outlier detection', () => {
  it('skips ejected backends next to the health check, and takes them back in time', () => {
    const clock = manualClock()
    const outliers = new OutlierDetector({
      consecutive5xx: 2,
      maxEjectionPercent: 50,
      baseEjectionTimeMs: 1_000,
      now: clock.now,
    })
    const lb = LoadBalancer.fromBackends(RoundRobin, [A, B, C], { outlierDetection: outliers })
    expect(lb.outlierDetection).toBe(outliers)
    outliers.observe(B, 500)
    outliers.observe(B, 500)
    expect(lb.isReady(B)).toBe(false)
    const picks = new Set<string>()
    for (let i = 0; i < 30; i++) picks.add(String(lb.select(key(''), 256)))
    expect([...picks].sort()).toEqual(['10.0.0.1:80', '10.0.0.3:80'])
    // 50% of 3 backends is 1: C stays in whatever it does.
    outliers.observe(C, 500)
    outliers.observe(C, 500)
    expect(lb.isReady(C)).toBe(true)
    // Drained by the operator and ejected: both keep it out; the ejection ends, the drain not.
    lb.setEnable(B, false)
    clock.t += 1_000
    expect(lb.isReady(B)).toBe(false)
    lb.setEnable(B, true)
    expect(lb.isReady(B)).toBe(true)
  })
})
