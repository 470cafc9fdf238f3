import diagnosticsChannel from 'node:diagnostics_channel'
import { ErrorType, PingoraError } from '@pingora-ts/error'
import { describe, expect, it, onTestFinished } from 'vitest'
import { Backend } from './backend.ts'
import { CHANNEL_NAMES, type RetryDeniedMessage } from './diagnostics.ts'
import { RetryPolicy } from './retry-policy.ts'

function harness(options: ConstructorParameters<typeof RetryPolicy>[0] = {}) {
  const clock = { t: 0 }
  const slept: number[] = []
  const policy = new RetryPolicy({
    now: () => clock.t,
    sleep: async (ms) => {
      slept.push(ms)
      clock.t += ms
    },
    ...options,
  })
  return { policy, clock, slept }
}

function denied(): RetryDeniedMessage[] {
  const seen: RetryDeniedMessage[] = []
  const listener = (m: unknown) => seen.push(m as RetryDeniedMessage)
  diagnosticsChannel.subscribe(CHANNEL_NAMES.retryDenied, listener)
  onTestFinished(() => {
    diagnosticsChannel.unsubscribe(CHANNEL_NAMES.retryDenied, listener)
  })
  return seen
}

const refused = () => PingoraError.upstream(ErrorType.ConnectRefused, 'connect')
const reset = () => PingoraError.upstream(ErrorType.ConnectionClosed, 'reset')

describe('RetryPolicy', () => {
  it('backs off exponentially with full jitter, capped', () => {
    const low = new RetryPolicy({ baseBackoffMs: 10, maxBackoffMs: 50, random: () => 0 })
    const high = new RetryPolicy({ baseBackoffMs: 10, maxBackoffMs: 50, random: () => 0.9999 })
    expect([1, 2, 3, 4, 5].map((n) => low.backoffMs(n))).toEqual([0, 0, 0, 0, 0])
    expect([1, 2, 3, 4, 5].map((n) => high.backoffMs(n))).toEqual([9, 19, 39, 49, 49])
  })

  it('retries connect failures up to maxAttempts, waiting the backoff between attempts', async () => {
    const { policy, slept } = harness({ maxAttempts: 3, random: () => 0.5, baseBackoffMs: 100 })
    const events = denied()
    const state = policy.start('POST')
    await state.beforeAttempt()
    expect(state.onConnectFailure(refused()).retry).toBe(true)
    await state.beforeAttempt()
    expect(state.onConnectFailure(refused()).retry).toBe(true)
    await state.beforeAttempt()
    expect(state.onConnectFailure(refused()).retry).toBe(false)
    expect(slept).toEqual([50, 100])
    expect(state.attempts).toBe(3)
    expect(events).toEqual([{ reason: 'attempts', failure: 'connect' }])
    state.finish()
    expect(policy.stats).toEqual({ active: 0, retrying: 0 })
  })

  it('retries resets and chosen statuses only for idempotent methods, and never after a response', async () => {
    const { policy } = harness({ retryOnStatus: [503] })
    const get = policy.start('get')
    await get.beforeAttempt()
    expect(get.onProxyError(reset(), false).retry).toBe(true)
    expect(get.onProxyError(reset(), true).retry).toBe(false)
    const post = policy.start('POST')
    await post.beforeAttempt()
    expect(post.onProxyError(reset(), false).retry).toBe(false)
    post.checkResponse(503) // POST: no throw, the 503 goes to the client
    const again = policy.start('GET')
    await again.beforeAttempt()
    again.checkResponse(200)
    again.checkResponse(500)
    let thrown: unknown
    try {
      again.checkResponse(503)
    } catch (error) {
      thrown = error
    }
    expect(PingoraError.is(thrown) && thrown.status === 503 && thrown.retry === true).toBe(true)
    expect(again.onProxyError(thrown as PingoraError, false).retry).toBe(true)
  })

  it('asks the predicate about failures the rules do not retry', async () => {
    const { policy } = harness({
      retryOnConnect: false,
      predicate: (error, method) => error.type === ErrorType.ConnectRefused && method === 'POST',
    })
    const post = policy.start('POST')
    await post.beforeAttempt()
    expect(post.onConnectFailure(refused()).retry).toBe(true)
    const get = policy.start('GET')
    await get.beforeAttempt()
    expect(get.onConnectFailure(refused()).retry).toBe(false)
  })

  it('keeps retries within the budget: a percentage of requests in flight, at least the minimum', async () => {
    const { policy } = harness({ budgetPercent: 20, minRetryConcurrency: 1, maxAttempts: 5 })
    const events = denied()
    const states = Array.from({ length: 10 }, () => policy.start('GET'))
    for (const s of states) await s.beforeAttempt()
    // 20 % of 10 in flight: 2 requests may retry at once.
    expect(states.map((s) => s.onConnectFailure(refused()).retry)).toEqual([
      true,
      true,
      false,
      false,
      false,
      false,
      false,
      false,
      false,
      false,
    ])
    // A request already retrying may go on.
    await states[0]?.beforeAttempt()
    expect(states[0]?.onConnectFailure(refused()).retry).toBe(true)
    expect(events[0]).toEqual({ reason: 'budget', failure: 'connect' })
    states[0]?.finish()
    expect(states[2]?.onConnectFailure(refused()).retry).toBe(true)
  })

  it('honours the deadline across attempts: per-attempt timeouts shrink, then 504', async () => {
    const { policy, clock } = harness({
      deadlineMs: 1_000,
      perAttemptTimeoutMs: 400,
      maxAttempts: 10,
      baseBackoffMs: 0,
    })
    const state = policy.start('GET')
    await state.beforeAttempt()
    expect(state.attemptTimeoutMs()).toBe(400)
    clock.t += 400
    expect(state.onConnectFailure(PingoraError.upstream(ErrorType.ConnectTimedout)).retry).toBe(
      true,
    )
    await state.beforeAttempt()
    clock.t += 400
    await state.beforeAttempt()
    expect(state.attemptTimeoutMs()).toBe(200)
    clock.t += 200
    expect(state.onConnectFailure(refused()).retry).toBe(false)
    const error = await state.beforeAttempt().then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(PingoraError.is(error) && error.status).toBe(504)
    expect(policy.start('GET').attemptTimeoutMs()).toBe(400)
    expect(new RetryPolicy().start('GET').attemptTimeoutMs()).toBe(undefined)
  })

  it('prefers backends not tried yet', async () => {
    const { policy } = harness()
    const a = Backend.new('10.0.0.1:80')
    const b = Backend.new('10.0.0.2:80')
    const state = policy.start('GET')
    state.chose(a)
    expect(state.acceptUntried(a, true)).toBe(false)
    expect(state.acceptUntried(b, true)).toBe(true)
    expect(state.acceptUntried(b, false)).toBe(false)
  })

  it('rejects bad options with exact messages', () => {
    expect(() => new RetryPolicy({ maxAttempts: 0 })).toThrow(
      'maxAttempts must be a positive integer, got 0',
    )
    expect(() => new RetryPolicy({ baseBackoffMs: -1 })).toThrow(
      'baseBackoffMs must be a non-negative number, got -1',
    )
  })
})
