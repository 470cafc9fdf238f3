/**
 * Pingora's error model for TypeScript: {@link PingoraError} carries a type from the
 * {@link ErrorType} catalogue, a source (upstream, downstream, internal), a retry decision,
 * context and an ES2022 `cause`. Every pingora-ts package throws these.
 *
 * Use `PingoraError.is(e)` rather than `instanceof`: it works across two copies of the package.
 *
 * @module @pingora-ts/error
 * @packageDocumentation
 */
export {
  type ErrorSource,
  ErrorType,
  type ErrorTypeInput,
  type ErrorTypeName,
  type ErrorTypeSpec,
  type RetryType,
} from './error-type.ts'
export { PingoraError, type PingoraErrorOptions } from './pingora-error.ts'
