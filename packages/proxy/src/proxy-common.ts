import { ErrorType, PingoraError } from '@pingora-ts/error'

/**
 * Small helpers shared by the proxy's phase engine, its HTTP/1 exchange and its downstream
 * writer.
 * @internal
 */

/** Whether a phase's result is a promise (the engine awaits only those). @internal */
export function isThenable<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | undefined)?.then === 'function'
}

/**
 * A thrown value as a `PingoraError`: itself when it is one, else wrapped with a type, context
 * and source. @internal
 */
export function toError(
  value: unknown,
  type: ErrorType,
  context: string,
  source: 'upstream' | 'downstream' | 'internal',
): PingoraError {
  if (PingoraError.is(value)) return value
  return new PingoraError(type, { source, context, cause: value })
}

/** A tunnel ends when either side closes: only unexpected failures are errors. @internal */
export function ignoreClosed(error: unknown): void {
  if (
    PingoraError.is(error) &&
    (error.type === ErrorType.ConnectionClosed ||
      error.type === ErrorType.ReadError ||
      error.type === ErrorType.WriteError)
  )
    return
  throw error
}
