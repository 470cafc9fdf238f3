/**
 * The catalogue of error types, with Pingora's names (`pingora-error/src/lib.rs`).
 *
 * Each plain type is a string literal; `HTTPStatus` and custom types carry data and are
 * built with {@link ErrorType.HTTPStatus}, {@link ErrorType.Custom} and {@link ErrorType.CustomCode}.
 */
export const ErrorType = {
  /** Connecting to the peer did not finish in time. */
  ConnectTimedout: 'ConnectTimedout',
  /** The peer refused the connection. */
  ConnectRefused: 'ConnectRefused',
  /** No route to the peer. */
  ConnectNoRoute: 'ConnectNoRoute',
  /** The TLS handshake is waiting for a certificate lookup. */
  TLSWantX509Lookup: 'TLSWantX509Lookup',
  /** The TLS handshake failed. */
  TLSHandshakeFailure: 'TLSHandshakeFailure',
  /** The TLS handshake did not finish in time. */
  TLSHandshakeTimedout: 'TLSHandshakeTimedout',
  /** The peer's certificate failed verification. */
  InvalidCert: 'InvalidCert',
  /** A protocol handshake (other than TLS) failed. */
  HandshakeError: 'HandshakeError',
  /** Any other connect failure. */
  ConnectError: 'ConnectError',
  /** Binding a local address failed. */
  BindError: 'BindError',
  /** Accepting a connection failed. */
  AcceptError: 'AcceptError',
  /** A socket option or socket call failed. */
  SocketError: 'SocketError',
  /** Connecting through a CONNECT proxy failed. */
  ConnectProxyFailure: 'ConnectProxyFailure',
  /** An HTTP header (or request/status line) is malformed or not allowed. */
  InvalidHTTPHeader: 'InvalidHTTPHeader',
  /** Any other HTTP/1 protocol error. */
  H1Error: 'H1Error',
  /** Any HTTP/2 protocol error. */
  H2Error: 'H2Error',
  /** The peer does not speak HTTP/2; downgrade to HTTP/1. */
  H2Downgrade: 'H2Downgrade',
  /** The peer sent invalid HTTP/2. */
  InvalidH2: 'InvalidH2',
  /** Reading from a connection failed. */
  ReadError: 'ReadError',
  /** Writing to a connection failed. */
  WriteError: 'WriteError',
  /** A read did not finish in time. */
  ReadTimedout: 'ReadTimedout',
  /** A write did not finish in time. */
  WriteTimedout: 'WriteTimedout',
  /** The connection was closed by the other side. */
  ConnectionClosed: 'ConnectionClosed',
  /** Opening a file failed. */
  FileOpenError: 'FileOpenError',
  /** Creating a file failed. */
  FileCreateError: 'FileCreateError',
  /** Reading a file failed. */
  FileReadError: 'FileReadError',
  /** Writing a file failed. */
  FileWriteError: 'FileWriteError',
  /** A bug or an unexpected state inside the framework. */
  InternalError: 'InternalError',
  /** Anything not otherwise classified. */
  UnknownError: 'UnknownError',
  /**
   * An error that maps to an HTTP status code (Pingora's `HTTPStatus(u16)`). The resulting
   * error has `type === 'HTTPStatus'` and `status` set.
   * @param status - the status code (100 to 999)
   */
  HTTPStatus(status: number): ErrorTypeSpec {
    return { type: 'HTTPStatus', status: checkStatus(status) }
  },
  /**
   * A user-defined error type named by a string (Pingora's `Custom(&str)`). This is the only way
   * to pass a custom name to the error constructors: a bare string must be a catalogue name, so a
   * typo such as `'ConnectTimedOut'` fails to compile instead of creating a new type.
   * @param name - the type name
   * @example
   * ```ts
   * const RateLimited = ErrorType.Custom('RateLimited')
   * throw PingoraError.downstream(RateLimited, 'client 203.0.113.9')
   * ```
   */
  Custom(name: string): ErrorTypeSpec {
    return { type: name, status: undefined }
  },
  /**
   * A user-defined error type that also carries an HTTP status (Pingora's `CustomCode(&str, u16)`).
   * @param name - the type name
   * @param status - the HTTP status code to answer with
   */
  CustomCode(name: string, status: number): ErrorTypeSpec {
    return { type: name, status: checkStatus(status) }
  },
} as const

function checkStatus(status: number): number {
  if (!Number.isInteger(status) || status < 100 || status > 999) {
    throw new RangeError(`HTTP status must be an integer from 100 to 999, got ${status}`)
  }
  return status
}

/** The name of every built-in error type (`'HTTPStatus'` included). */
export type ErrorType =
  | {
      [K in keyof typeof ErrorType]: (typeof ErrorType)[K] extends string
        ? (typeof ErrorType)[K]
        : never
    }[keyof typeof ErrorType]
  | 'HTTPStatus'

/**
 * An error type as stored on an error (`PingoraError.type`): a catalogue name or a custom name
 * made with {@link ErrorType.Custom} or {@link ErrorType.CustomCode}.
 */
export type ErrorTypeName = ErrorType | (string & {})

/** An error type with its optional HTTP status, as built by {@link ErrorType.HTTPStatus}. */
export interface ErrorTypeSpec {
  /** The type name. */
  readonly type: ErrorTypeName
  /** The HTTP status the type carries, if any. */
  readonly status: number | undefined
}

/**
 * What the error constructors accept as a type: a catalogue name (checked at compile time), or a
 * spec built by {@link ErrorType.HTTPStatus}, {@link ErrorType.Custom} or
 * {@link ErrorType.CustomCode}. A bare string outside the catalogue does not compile: custom
 * types go through `ErrorType.Custom(name)`.
 */
export type ErrorTypeInput = ErrorType | ErrorTypeSpec

/** Where an error came from. */
export type ErrorSource = 'upstream' | 'downstream' | 'internal' | 'unset'

/**
 * Whether the failed operation may be retried: a decision, or `'reused-only'` meaning
 * "retry only if the connection that failed was a reused one" (Pingora's `RetryType::ReusedOnly`).
 */
export type RetryType = boolean | 'reused-only'
