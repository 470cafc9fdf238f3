/**
 * Cheap coarse timers for per-request timeouts, after pingora-timeout.
 *
 * {@link timeout} bounds a promise and rejects with a {@link TimeoutError}; {@link sleep} waits.
 * Both run on a {@link TimerManager}: deadlines are rounded up to a tick ({@link RESOLUTION_MS},
 * 10 ms) and one unref'd Node timer serves every timer, so creating and cancelling a timer costs
 * a few pointer writes instead of a `setTimeout`/`clearTimeout` pair. Use
 * {@link setFastTimeout} and {@link FastTimer.refresh} for idle and read timeouts that are
 * pushed back on every chunk.
 *
 * This package is a leaf: it does not depend on `@pingora-ts/error`. `@pingora-ts/core` maps
 * {@link TimeoutError} to a `PingoraError` of type `ConnectTimedout`/`ReadTimedout`.
 *
 * @module @pingora-ts/timeout
 * @packageDocumentation
 */
export { sleep, type TimeoutOptions, timeout } from './timeout.ts'
export { TimeoutError } from './timeout-error.ts'
export {
  clearFastTimeout,
  defaultTimerManager,
  FastTimer,
  RESOLUTION_MS,
  setFastTimeout,
  TimerManager,
  type TimerManagerOptions,
} from './timer-manager.ts'
