const BRAND: unique symbol = Symbol.for('@pingora-ts/timeout') as never

/**
 * The rejection of {@link timeout} when the deadline passes first (pingora-timeout's `Elapsed`).
 *
 * `@pingora-ts/timeout` is a leaf package, so this is not a `PingoraError`; `@pingora-ts/core`
 * maps it to `ConnectTimedout`/`ReadTimedout`/`WriteTimedout` with context.
 */
export class TimeoutError extends Error {
  /** The timeout that elapsed, in milliseconds. */
  readonly timeoutMs: number
  /** @internal brand that survives two copies of this package. */
  readonly [BRAND] = true

  /**
   * Creates a timeout error.
   * @param timeoutMs - the timeout that elapsed, in milliseconds
   * @param options - the standard error options (`cause`)
   */
  constructor(timeoutMs: number, options?: ErrorOptions) {
    super(`timed out after ${timeoutMs} ms`, options)
    this.name = 'TimeoutError'
    this.timeoutMs = timeoutMs
  }

  /** Whether a value is a `TimeoutError`, from this copy of the package or another one. */
  static is(value: unknown): value is TimeoutError {
    return (
      typeof value === 'object' &&
      value !== null &&
      (value as { [BRAND]?: unknown })[BRAND] === true
    )
  }
}
