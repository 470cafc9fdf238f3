import { getEventListeners } from 'node:events'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { sleep, timeout } from './timeout.ts'
import { TimeoutError } from './timeout-error.ts'
import { defaultTimerManager, TimerManager } from './timer-manager.ts'

beforeEach(() => {
  vi.useFakeTimers({ now: 0 })
})

afterEach(() => {
  vi.useRealTimers()
})

/** A promise with its settle functions exposed. */
function deferred<T>() {
  let resolve: (value: T) => void = () => {}
  let reject: (error: unknown) => void = () => {}
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

describe('timeout', () => {
  it('resolves with the value when the promise settles first, and cancels its timer', async () => {
    const timerManager = new TimerManager()
    const { promise, resolve } = deferred<string>()
    const result = timeout(promise, 100, { timerManager })
    expect(timerManager.size).toBe(1)
    resolve('done')
    await expect(result).resolves.toBe('done')
    expect(timerManager.size).toBe(0)
  })

  it('rejects with the promise’s error when it rejects first, and cancels its timer', async () => {
    const timerManager = new TimerManager()
    const { promise, reject } = deferred<string>()
    const result = timeout(promise, 100, { timerManager })
    const error = new Error('refused')
    reject(error)
    await expect(result).rejects.toBe(error)
    expect(timerManager.size).toBe(0)
  })

  it('rejects with a TimeoutError once the deadline passes', async () => {
    const timerManager = new TimerManager()
    const { promise } = deferred<string>()
    const result = timeout(promise, 100, { timerManager })
    const settled = vi.fn()
    void result.then(settled, settled)
    await vi.advanceTimersByTimeAsync(99)
    expect(settled).not.toHaveBeenCalled()
    await vi.advanceTimersByTimeAsync(1)
    const error: unknown = await result.catch((e: unknown) => e)
    expect(TimeoutError.is(error)).toBe(true)
    expect((error as TimeoutError).timeoutMs).toBe(100)
  })

  it('ignores a resolution that comes after the timeout', async () => {
    const timerManager = new TimerManager()
    const { promise, resolve } = deferred<string>()
    const result = timeout(promise, 20, { timerManager })
    const assertion = expect(result).rejects.toBeInstanceOf(TimeoutError)
    await vi.advanceTimersByTimeAsync(20)
    resolve('late')
    await assertion
  })

  it('observes a rejection that comes after the timeout (no unhandled rejection)', async () => {
    const unhandled = vi.fn()
    process.on('unhandledRejection', unhandled)
    try {
      const timerManager = new TimerManager()
      const { promise, reject } = deferred<string>()
      const result = timeout(promise, 20, { timerManager })
      const assertion = expect(result).rejects.toBeInstanceOf(TimeoutError)
      await vi.advanceTimersByTimeAsync(20)
      await assertion
      reject(new Error('late'))
      // A real macrotask turn lets Node report unhandled rejections, if there were any.
      vi.useRealTimers()
      await new Promise((resolve) => setImmediate(resolve))
      expect(unhandled).not.toHaveBeenCalled()
    } finally {
      process.off('unhandledRejection', unhandled)
    }
  })

  it('rejects at once with the reason of an already aborted signal, without a timer', async () => {
    const timerManager = new TimerManager()
    const reason = new Error('client went away')
    const result = timeout(deferred<string>().promise, 100, {
      signal: AbortSignal.abort(reason),
      timerManager,
    })
    await expect(result).rejects.toBe(reason)
    expect(timerManager.size).toBe(0)
    expect(timerManager.isArmed).toBe(false)
  })

  it('rejects with the signal’s reason when aborted while waiting, and cancels its timer', async () => {
    const timerManager = new TimerManager()
    const controller = new AbortController()
    const result = timeout(deferred<string>().promise, 100, {
      signal: controller.signal,
      timerManager,
    })
    await vi.advanceTimersByTimeAsync(50)
    controller.abort()
    const error: unknown = await result.catch((e: unknown) => e)
    expect((error as DOMException).name).toBe('AbortError')
    expect(TimeoutError.is(error)).toBe(false)
    expect(timerManager.size).toBe(0)
  })

  it('removes its abort listener once settled', async () => {
    const timerManager = new TimerManager()
    const controller = new AbortController()
    const { promise, resolve } = deferred<number>()
    const result = timeout(promise, 100, { signal: controller.signal, timerManager })
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1)
    resolve(1)
    await result
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0)
    controller.abort()
    await expect(result).resolves.toBe(1)
  })

  it('removes its abort listener when it times out', async () => {
    const timerManager = new TimerManager()
    const controller = new AbortController()
    const result = timeout(deferred<number>().promise, 10, {
      signal: controller.signal,
      timerManager,
    })
    const assertion = expect(result).rejects.toBeInstanceOf(TimeoutError)
    await vi.advanceTimersByTimeAsync(10)
    await assertion
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0)
  })

  it('accepts any thenable', async () => {
    const thenable: PromiseLike<number> = {
      // biome-ignore lint/suspicious/noThenProperty: the point of this test is a bare thenable
      then(onFulfilled) {
        return Promise.resolve(onFulfilled ? onFulfilled(7) : 7) as never
      },
    }
    await expect(timeout(thenable, 100, { timerManager: new TimerManager() })).resolves.toBe(7)
  })

  it('runs on the default timer manager when none is given', async () => {
    const result = timeout(deferred<number>().promise, 30)
    const assertion = expect(result).rejects.toBeInstanceOf(TimeoutError)
    expect(defaultTimerManager.size).toBe(1)
    await vi.advanceTimersByTimeAsync(30)
    await assertion
    expect(defaultTimerManager.size).toBe(0)
  })

  it.each([-5, Number.NaN, Number.POSITIVE_INFINITY])(
    'throws a RangeError synchronously for ms %s',
    (ms) => {
      expect(() => timeout(Promise.resolve(1), ms)).toThrow(
        new RangeError(`ms must be a finite number >= 0, got ${ms}`),
      )
    },
  )
})

describe('sleep', () => {
  it('resolves after the delay, not before', async () => {
    const timerManager = new TimerManager()
    const done = vi.fn()
    void sleep(100, { timerManager }).then(done)
    await vi.advanceTimersByTimeAsync(99)
    expect(done).not.toHaveBeenCalled()
    await vi.advanceTimersByTimeAsync(1)
    expect(done).toHaveBeenCalledTimes(1)
  })

  it('rejects with the reason of an already aborted signal, without a timer', async () => {
    const timerManager = new TimerManager()
    const reason = new Error('shutting down')
    await expect(sleep(100, { signal: AbortSignal.abort(reason), timerManager })).rejects.toBe(
      reason,
    )
    expect(timerManager.size).toBe(0)
    expect(timerManager.isArmed).toBe(false)
  })

  it('rejects with the signal’s reason when aborted during the sleep, and cancels its timer', async () => {
    const timerManager = new TimerManager()
    const controller = new AbortController()
    const result = sleep(1_000, { signal: controller.signal, timerManager })
    await vi.advanceTimersByTimeAsync(100)
    const reason = new Error('stop')
    controller.abort(reason)
    await expect(result).rejects.toBe(reason)
    expect(timerManager.size).toBe(0)
  })

  it('rejects with an AbortError DOMException for a reasonless abort', async () => {
    const controller = new AbortController()
    const result = sleep(1_000, { signal: controller.signal, timerManager: new TimerManager() })
    controller.abort()
    const error: unknown = await result.catch((e: unknown) => e)
    expect(error).toBeInstanceOf(DOMException)
    expect((error as DOMException).name).toBe('AbortError')
  })

  it('removes its abort listener after resolving', async () => {
    const controller = new AbortController()
    const result = sleep(10, { signal: controller.signal, timerManager: new TimerManager() })
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1)
    await vi.advanceTimersByTimeAsync(10)
    await result
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0)
  })

  it('runs on the default timer manager when none is given', async () => {
    const done = vi.fn()
    void sleep(20).then(done)
    expect(defaultTimerManager.size).toBe(1)
    await vi.advanceTimersByTimeAsync(20)
    expect(done).toHaveBeenCalledTimes(1)
  })

  it('throws a RangeError synchronously for a negative delay', () => {
    expect(() => sleep(-1)).toThrow(new RangeError('ms must be a finite number >= 0, got -1'))
  })
})
