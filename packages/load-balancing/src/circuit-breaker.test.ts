import diagnosticsChannel from 'node:diagnostics_channel'
import { PingoraError } from '@pingora-ts/error'
import { describe, expect, it, onTestFinished } from 'vitest'
import { CircuitBreaker } from './circuit-breaker.ts'
import { CHANNEL_NAMES, type CircuitOverflowedMessage } from './diagnostics.ts'

function overflows(): CircuitOverflowedMessage[] {
  const seen: CircuitOverflowedMessage[] = []
  const listener = (message: unknown) => seen.push(message as CircuitOverflowedMessage)
  diagnosticsChannel.subscribe(CHANNEL_NAMES.circuitOverflowed, listener)
  onTestFinished(() => {
    diagnosticsChannel.unsubscribe(CHANNEL_NAMES.circuitOverflowed, listener)
  })
  return seen
}

function thrown(f: () => unknown): PingoraError {
  try {
    f()
  } catch (error) {
    if (PingoraError.is(error)) return error
    throw error
  }
  throw new Error('did not throw')
}

describe('CircuitBreaker', () => {
  it('fails fast past maxRequests with a typed 503, counted and published', () => {
    const breaker = new CircuitBreaker({ name: 'api', maxRequests: 2 })
    const events = overflows()
    const a = breaker.enter()
    breaker.enter()
    const error = thrown(() => breaker.enter())
    expect(error.type).toBe('UpstreamOverflow')
    expect(error.status).toBe(503)
    expect(error.source).toBe('internal')
    expect(error.context).toBe('circuit breaker api: requests limit reached')
    expect(CircuitBreaker.overflowOf(error)).toBe('requests')
    expect(events).toEqual([{ name: 'api', limit: 'requests' }])
    expect(breaker.stats.overflows.requests).toBe(1)
    a.release()
    a.release() // idempotent
    expect(breaker.stats.requests).toBe(1)
    breaker.enter()
    expect(breaker.stats.requests).toBe(2)
  })

  it('counts requests waiting for a connection against maxPendingRequests', () => {
    const breaker = new CircuitBreaker({ maxPendingRequests: 1, maxRequests: 10 })
    const a = breaker.enter()
    expect(CircuitBreaker.overflowOf(thrown(() => breaker.enter()))).toBe('pending')
    a.connected()
    a.connected() // idempotent
    const b = breaker.enter()
    expect(breaker.stats).toMatchObject({ requests: 2, pending: 1, connections: 2 })
    b.release()
    a.release()
    expect(breaker.stats).toMatchObject({ requests: 0, pending: 0, connections: 0, retries: 0 })
  })

  it('limits connections held by requests', () => {
    const breaker = new CircuitBreaker({ maxConnections: 1 })
    const a = breaker.enter()
    a.connected()
    expect(CircuitBreaker.overflowOf(thrown(() => breaker.enter()))).toBe('connections')
  })

  it('limits requests retrying at once; a retry waits for a connection again', () => {
    const breaker = new CircuitBreaker({ maxRetries: 1 })
    const a = breaker.enter()
    const b = breaker.enter()
    a.connected()
    a.retry()
    a.retry() // the same request retrying again is still one retry
    expect(breaker.stats).toMatchObject({ pending: 2, retries: 1 })
    b.connected()
    const error = thrown(() => b.retry())
    expect(CircuitBreaker.overflowOf(error)).toBe('retries')
    expect(breaker.stats.overflows).toEqual({ connections: 0, pending: 0, requests: 0, retries: 1 })
    a.release()
    b.release()
    expect(breaker.stats).toMatchObject({ requests: 0, pending: 0, retries: 0 })
  })

  it('builds the overflow response with x-pingora-overflow, and uses the configured status', () => {
    const breaker = new CircuitBreaker({ maxRequests: 0, overflowStatus: 429 })
    const error = thrown(() => breaker.enter())
    expect(error.status).toBe(429)
    const response = CircuitBreaker.overflowResponse(error)
    expect(response?.status).toBe(429)
    expect(response?.getHeader('x-pingora-overflow')).toBe('requests')
    expect(CircuitBreaker.overflowResponse(new Error('other'))).toBe(undefined)
  })

  it('rejects bad limits with exact messages', () => {
    expect(() => new CircuitBreaker({ maxRequests: -1 })).toThrow(
      'maxRequests must be a non-negative integer or Infinity, got -1',
    )
    expect(() => new CircuitBreaker({ maxRetries: 1.5 })).toThrow(
      'maxRetries must be a non-negative integer or Infinity, got 1.5',
    )
    expect(new CircuitBreaker({ maxRequests: Number.POSITIVE_INFINITY }).maxRequests).toBe(
      Number.POSITIVE_INFINITY,
    )
  })
})
