import { TimeoutError } from './timeout-error.ts'
import { defaultTimerManager, type TimerManager, validateMs } from './timer-manager.ts'

/** Options for {@link timeout} and {@link sleep}. */
export interface TimeoutOptions {
  /** Aborting it rejects at once with the signal's `reason` and cancels the timer. */
  signal?: AbortSignal
  /**
   * The manager whose coarse timer is used (tests inject one with a fake clock).
   * @defaultValue {@link defaultTimerManager}
   */
  timerManager?: TimerManager
}

/**
 * Settles like `promise`, or rejects with a {@link TimeoutError} when it has not settled
 * `ms` milliseconds from now. Port of pingora-timeout's `timeout` (`fast_timeout`).
 *
 * The timer is coarse: it fires no earlier than `ms` and up to about two resolutions
 * ({@link RESOLUTION_MS} each) later. It is cancelled as soon as `promise` settles. The
 * timeout does not stop the work behind `promise`; pass the same `signal` to that work.
 *
 * @param promise - the operation to bound
 * @param ms - the timeout in milliseconds
 * @param options - an abort signal, and the timer manager
 * @throws RangeError (synchronously) when `ms` is negative, NaN or infinite
 *
 * @example
 * ```ts
 * try {
 *   const socket = await timeout(connect(peer), 5_000)
 * } catch (error) {
 *   if (TimeoutError.is(error)) throw PingoraError.upstream(ErrorType.ConnectTimedout, 'connect', error)
 *   throw error
 * }
 * ```
 */
export function timeout<T>(
  promise: PromiseLike<T>,
  ms: number,
  options?: TimeoutOptions,
): Promise<T> {
  validateMs(ms)
  const manager = options?.timerManager ?? defaultTimerManager
  const signal = options?.signal
  if (signal === undefined) {
    // The common case: no abort listener, no extra closure.
    return new Promise<T>((resolve, reject) => {
      const timer = manager.setTimeout(() => reject(new TimeoutError(ms)), ms)
      promise.then(
        (value) => {
          timer.cancel()
          resolve(value)
        },
        (error: unknown) => {
          timer.cancel()
          reject(error)
        },
      )
    })
  }
  return new Promise<T>((resolve, reject) => {
    if (signal.aborted) {
      // Still observe the promise so its later rejection is not reported as unhandled.
      promise.then(undefined, noop)
      reject(signal.reason)
      return
    }
    const onAbort = (): void => {
      timer.cancel()
      reject(signal.reason)
    }
    const timer = manager.setTimeout(() => {
      signal.removeEventListener('abort', onAbort)
      reject(new TimeoutError(ms))
    }, ms)
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(
      (value) => {
        timer.cancel()
        signal.removeEventListener('abort', onAbort)
        resolve(value)
      },
      (error: unknown) => {
        timer.cancel()
        signal.removeEventListener('abort', onAbort)
        reject(error)
      },
    )
  })
}

/**
 * Resolves after about `ms` milliseconds on a coarse shared timer (pingora-timeout's `sleep`).
 * Rejects with the signal's `reason` when `signal` aborts first (or is already aborted).
 * @param ms - how long to wait, in milliseconds
 * @param options - an abort signal, and the timer manager
 * @throws RangeError (synchronously) when `ms` is negative, NaN or infinite
 */
export function sleep(ms: number, options?: TimeoutOptions): Promise<void> {
  validateMs(ms)
  const manager = options?.timerManager ?? defaultTimerManager
  const signal = options?.signal
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason)
      return
    }
    const onAbort = (): void => {
      timer.cancel()
      reject((signal as AbortSignal).reason)
    }
    const timer = manager.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

function noop(): void {}
