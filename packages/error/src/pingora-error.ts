import type {
  ErrorSource,
  ErrorTypeInput,
  ErrorTypeName,
  ErrorTypeSpec,
  RetryType,
} from './error-type.ts'

const BRAND: unique symbol = Symbol.for('@pingora-ts/error') as never

/** Options for {@link PingoraError}'s constructor. */
export interface PingoraErrorOptions {
  /** Where the error came from. @defaultValue `'unset'` */
  source?: ErrorSource
  /** Whether the operation may be retried. @defaultValue `false` */
  retry?: RetryType
  /** Human-readable context: what was being done. */
  context?: string
  /** The error (or any thrown value) that caused this one. */
  cause?: unknown
}

function typeParts(input: ErrorTypeInput): ErrorTypeSpec {
  return typeof input === 'string' ? { type: input, status: undefined } : input
}

/**
 * The error every pingora-ts package throws: a type from the {@link ErrorType} catalogue, a
 * source, a retry decision, optional context and an optional cause. Port of
 * `pingora-error/src/lib.rs`.
 *
 * `message` renders the whole chain the way Pingora's `Display` does:
 * `" ConnectTimedout context: connecting to 10.0.0.1:80 cause: ..."`.
 *
 * @example
 * ```ts
 * throw PingoraError.explain(ErrorType.HTTPStatus(502), 'no healthy upstream')
 * if (PingoraError.is(e) && e.type === ErrorType.ConnectRefused) retry()
 * ```
 */
export class PingoraError extends Error {
  /** The error type: a catalogue name (`'ConnectTimedout'`, `'HTTPStatus'`...) or a custom name. */
  readonly type: ErrorTypeName
  /** The HTTP status for `HTTPStatus` and `CustomCode` types, else `undefined`. */
  readonly status: number | undefined
  /** Where the error came from. */
  source: ErrorSource
  /** Whether the failed operation may be retried. */
  retry: RetryType
  /** What was being done when the error happened. */
  context: string | undefined
  /** @internal brand that survives two copies of this package. */
  readonly [BRAND] = true

  /**
   * Creates an error. Prefer the named constructors ({@link PingoraError.explain},
   * {@link PingoraError.because}, {@link PingoraError.upstream}...).
   * @param type - the error type (a name, or a spec such as `ErrorType.HTTPStatus(502)`)
   * @param options - source, retry, context and cause
   */
  constructor(type: ErrorTypeInput, options: PingoraErrorOptions = {}) {
    super(undefined, options.cause === undefined ? undefined : { cause: options.cause })
    const spec = typeParts(type)
    this.type = spec.type
    this.status = spec.status
    this.source = options.source ?? 'unset'
    this.retry = options.retry ?? false
    this.context = options.context
    this.name = 'PingoraError'
  }

  /** The rendered chain: type, source, context, then each cause. */
  override get message(): string {
    return this.#render()
  }

  override set message(_value: string) {
    // The message is derived from the fields; assignments (as by `Error`'s constructor) are ignored.
  }

  /** Whether a value is a `PingoraError`, from this copy of the package or another one. */
  static is(value: unknown): value is PingoraError {
    return (
      typeof value === 'object' &&
      value !== null &&
      (value as { [BRAND]?: unknown })[BRAND] === true
    )
  }

  /**
   * Creates an error with a type and a context (Pingora's `Error::explain`).
   * @param type - the error type
   * @param context - what was being done
   */
  static explain(type: ErrorTypeInput, context: string): PingoraError {
    return new PingoraError(type, { context })
  }

  /**
   * Creates an error with a type, a context and a cause (Pingora's `Error::because`).
   * @param type - the error type
   * @param context - what was being done
   * @param cause - the underlying error
   */
  static because(type: ErrorTypeInput, context: string, cause: unknown): PingoraError {
    return new PingoraError(type, { context, cause })
  }

  /**
   * Creates an error whose source is the upstream (the origin side).
   * @param type - the error type
   * @param context - what was being done
   * @param cause - the underlying error
   */
  static upstream(type: ErrorTypeInput, context?: string, cause?: unknown): PingoraError {
    return new PingoraError(type, { source: 'upstream', context, cause })
  }

  /**
   * Creates an error whose source is the downstream (the client side).
   * @param type - the error type
   * @param context - what was being done
   * @param cause - the underlying error
   */
  static downstream(type: ErrorTypeInput, context?: string, cause?: unknown): PingoraError {
    return new PingoraError(type, { source: 'downstream', context, cause })
  }

  /**
   * Creates an error whose source is this program itself.
   * @param type - the error type
   * @param context - what was being done
   * @param cause - the underlying error
   */
  static internal(type: ErrorTypeInput, context?: string, cause?: unknown): PingoraError {
    return new PingoraError(type, { source: 'internal', context, cause })
  }

  /**
   * Wraps any thrown or rejected value: a `PingoraError` is returned as it is (context added
   * when given and it has none), anything else becomes the cause of a new error of `type`.
   * @param value - what was thrown
   * @param type - the type for a new error
   * @param context - what was being done
   * @param source - the source for a new error
   */
  static from(
    value: unknown,
    type: ErrorTypeInput = 'UnknownError',
    context?: string,
    source: ErrorSource = 'unset',
  ): PingoraError {
    if (PingoraError.is(value)) {
      if (context !== undefined && value.context === undefined) value.context = context
      return value
    }
    return new PingoraError(type, { source, context, cause: value })
  }

  /**
   * Adds (or prepends) context, returning this error for chaining (Pingora's `err_context`).
   * @param context - what was being done
   */
  withContext(context: string): this {
    this.context = this.context === undefined ? context : `${context}: ${this.context}`
    return this
  }

  /**
   * Sets the retry decision, returning this error for chaining (Pingora's `set_retry`).
   * @param retry - the decision
   */
  setRetry(retry: RetryType): this {
    this.retry = retry
    return this
  }

  /**
   * Sets the source, returning this error for chaining.
   * @param source - where the error came from
   */
  setSource(source: ErrorSource): this {
    this.source = source
    return this
  }

  /**
   * Whether the operation may be retried, resolving `'reused-only'` with `reused`
   * (Pingora's `retry()` and `RetryType::decide_reuse`).
   * @param reused - whether the failed connection was a reused one
   */
  isRetryable(reused = false): boolean {
    return this.retry === 'reused-only' ? reused : this.retry
  }

  /**
   * The first error in the cause chain whose type is `type`, this error included. Only the
   * name is compared: `ErrorType.HTTPStatus(502)` finds any `HTTPStatus` error.
   * @param input - the type to look for: a catalogue name or a spec (`ErrorType.Custom('Mine')`)
   */
  findCause(input: ErrorTypeInput): PingoraError | undefined {
    const type = typeParts(input).type
    let current: unknown = this
    for (let depth = 0; depth < 32 && current !== undefined; depth++) {
      if (PingoraError.is(current) && current.type === type) return current
      current = (current as { cause?: unknown } | null)?.cause
    }
    return undefined
  }

  /** The type as Pingora prints it: `HTTPStatus(502)`, `MyType(418)`, `ConnectTimedout`. */
  typeName(): string {
    return this.status === undefined ? this.type : `${this.type}(${this.status})`
  }

  #render(): string {
    let out = ''
    let current: unknown = this
    // Bounded: a cycle in a cause chain must not hang rendering.
    for (let depth = 0; depth < 32 && current !== undefined; depth++) {
      if (depth > 0) out += ' cause: '
      if (PingoraError.is(current)) {
        const source = current.source === 'unset' ? '' : ` ${capitalize(current.source)}`
        out += `${current.typeName()}${source}`
        if (current.context !== undefined) out += ` context: ${current.context}`
        current = current.cause
      } else if (current instanceof Error) {
        out += current.message === '' ? current.name : current.message
        current = current.cause
      } else {
        out += String(current)
        current = undefined
      }
    }
    return out
  }
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1)
}
