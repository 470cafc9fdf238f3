import { describe, expect, it } from 'vitest'
import { ErrorType } from './error-type.ts'
import { PingoraError } from './pingora-error.ts'

describe('ErrorType', () => {
  it('lists the whole Pingora catalogue by name', () => {
    const names = [
      'ConnectTimedout',
      'ConnectRefused',
      'ConnectNoRoute',
      'TLSWantX509Lookup',
      'TLSHandshakeFailure',
      'TLSHandshakeTimedout',
      'InvalidCert',
      'HandshakeError',
      'ConnectError',
      'BindError',
      'AcceptError',
      'SocketError',
      'ConnectProxyFailure',
      'InvalidHTTPHeader',
      'H1Error',
      'H2Error',
      'H2Downgrade',
      'InvalidH2',
      'ReadError',
      'WriteError',
      'ReadTimedout',
      'WriteTimedout',
      'ConnectionClosed',
      'FileOpenError',
      'FileCreateError',
      'FileReadError',
      'FileWriteError',
      'InternalError',
      'UnknownError',
    ] as const
    for (const name of names) expect(ErrorType[name]).toBe(name)
  })

  it('builds HTTPStatus with its code', () => {
    expect(ErrorType.HTTPStatus(502)).toEqual({ type: 'HTTPStatus', status: 502 })
  })

  it('rejects an HTTP status outside 100..999 with a RangeError', () => {
    expect(() => ErrorType.HTTPStatus(99)).toThrow(
      new RangeError('HTTP status must be an integer from 100 to 999, got 99'),
    )
    expect(() => ErrorType.HTTPStatus(1000)).toThrow(RangeError)
    expect(() => ErrorType.HTTPStatus(200.5)).toThrow(RangeError)
    expect(() => ErrorType.CustomCode('x', 5)).toThrow(RangeError)
  })

  it('builds custom types with and without a code', () => {
    expect(ErrorType.Custom('RateLimited')).toEqual({ type: 'RateLimited', status: undefined })
    expect(ErrorType.CustomCode('RateLimited', 429)).toEqual({ type: 'RateLimited', status: 429 })
  })
})

describe('PingoraError', () => {
  it('defaults to source unset, no retry, no context, no cause', () => {
    const e = new PingoraError(ErrorType.ReadError)
    expect(e.type).toBe('ReadError')
    expect(e.source).toBe('unset')
    expect(e.retry).toBe(false)
    expect(e.context).toBeUndefined()
    expect(e.cause).toBeUndefined()
    expect(e.status).toBeUndefined()
    expect(e).toBeInstanceOf(Error)
    expect(e.name).toBe('PingoraError')
  })

  it('explain sets type and context', () => {
    const e = PingoraError.explain(ErrorType.HTTPStatus(502), 'no healthy upstream')
    expect(e.type).toBe('HTTPStatus')
    expect(e.status).toBe(502)
    expect(e.context).toBe('no healthy upstream')
    expect(e.message).toBe('HTTPStatus(502) context: no healthy upstream')
  })

  it('because keeps the cause as the ES2022 cause', () => {
    const root = new Error('ECONNREFUSED 127.0.0.1:1')
    const e = PingoraError.because(ErrorType.ConnectRefused, 'connecting to origin', root)
    expect(e.cause).toBe(root)
    expect(e.message).toBe(
      'ConnectRefused context: connecting to origin cause: ECONNREFUSED 127.0.0.1:1',
    )
  })

  it('per-source constructors set the source', () => {
    expect(PingoraError.upstream(ErrorType.ReadTimedout).source).toBe('upstream')
    expect(PingoraError.downstream(ErrorType.ConnectionClosed).source).toBe('downstream')
    expect(PingoraError.internal(ErrorType.InternalError).source).toBe('internal')
  })

  it('renders the whole chain with sources', () => {
    const inner = PingoraError.upstream(ErrorType.ConnectTimedout, 'tcp to 10.0.0.1:80')
    const outer = PingoraError.because(ErrorType.HTTPStatus(504), 'proxying GET /', inner)
    outer.setSource('internal')
    expect(outer.message).toBe(
      'HTTPStatus(504) Internal context: proxying GET / cause: ConnectTimedout Upstream context: tcp to 10.0.0.1:80',
    )
  })

  it('renders a non-Error cause with String()', () => {
    const e = PingoraError.because(ErrorType.Custom('Custom'), 'ctx', 42)
    expect(e.message).toBe('Custom context: ctx cause: 42')
  })

  it('stops rendering a cyclic cause chain', () => {
    const a = new PingoraError(ErrorType.ReadError)
    const b = PingoraError.because(ErrorType.WriteError, 'b', a)
    Object.defineProperty(a, 'cause', { value: b })
    expect(() => b.message).not.toThrow()
    expect(b.message.split(' cause: ').length).toBe(32)
  })

  it('renders custom types with their code', () => {
    const e = PingoraError.explain(ErrorType.CustomCode('RateLimited', 429), 'too many')
    expect(e.type).toBe('RateLimited')
    expect(e.status).toBe(429)
    expect(e.typeName()).toBe('RateLimited(429)')
    expect(PingoraError.explain(ErrorType.Custom('PlainCustom'), 'x').typeName()).toBe(
      'PlainCustom',
    )
  })

  it('resolves reused-only retry with the reuse flag', () => {
    const e = PingoraError.upstream(ErrorType.ConnectionClosed).setRetry('reused-only')
    expect(e.isRetryable(false)).toBe(false)
    expect(e.isRetryable(true)).toBe(true)
    expect(e.setRetry(true).isRetryable(false)).toBe(true)
    expect(e.setRetry(false).isRetryable(true)).toBe(false)
  })

  it('adds context in front of existing context', () => {
    const e = PingoraError.explain(ErrorType.ReadError, 'reading body')
    e.withContext('peer 127.0.0.1:80')
    expect(e.context).toBe('peer 127.0.0.1:80: reading body')
    expect(new PingoraError(ErrorType.Custom('X')).withContext('only').context).toBe('only')
  })

  it('from() keeps a PingoraError and wraps anything else', () => {
    const original = PingoraError.upstream(ErrorType.ReadError)
    expect(PingoraError.from(original, ErrorType.InternalError, 'ctx')).toBe(original)
    expect(original.context).toBe('ctx')
    const wrapped = PingoraError.from(new TypeError('boom'), ErrorType.InternalError, 'in filter')
    expect(wrapped.type).toBe('InternalError')
    expect(wrapped.cause).toBeInstanceOf(TypeError)
    expect(wrapped.context).toBe('in filter')
    const fromString = PingoraError.from('oops')
    expect(fromString.type).toBe('UnknownError')
    expect(fromString.cause).toBe('oops')
  })

  it('from() wraps rejected promises', async () => {
    const e = await Promise.reject(new Error('nope')).catch((err: unknown) =>
      PingoraError.from(err, ErrorType.ReadError, 'read', 'downstream'),
    )
    expect(e.type).toBe('ReadError')
    expect(e.source).toBe('downstream')
  })

  it('findCause walks the chain', () => {
    const inner = PingoraError.upstream(ErrorType.TLSHandshakeFailure)
    const outer = PingoraError.because(
      ErrorType.ConnectError,
      'x',
      new Error('mid', { cause: inner }),
    )
    expect(outer.findCause('TLSHandshakeFailure')).toBe(inner)
    expect(outer.findCause('ConnectError')).toBe(outer)
    expect(outer.findCause('ReadError')).toBeUndefined()
  })

  it('is() recognises errors across copies of the package through the brand', () => {
    const foreign = { [Symbol.for('@pingora-ts/error')]: true, type: 'ReadError' }
    expect(PingoraError.is(foreign)).toBe(true)
    expect(PingoraError.is(new PingoraError('ReadError'))).toBe(true)
    expect(PingoraError.is(new Error('x'))).toBe(false)
    expect(PingoraError.is(null)).toBe(false)
    expect(PingoraError.is('ReadError')).toBe(false)
  })

  it('recognises and renders errors from a second, separately loaded copy of the package', async () => {
    // A query string makes the module runner load the file again: a real second copy whose
    // class is a different object, as when two versions of the package sit in node_modules.
    const specifier = './pingora-error.ts?second-copy'
    const copy = (await import(specifier)) as typeof import('./pingora-error.ts')
    expect(copy.PingoraError).not.toBe(PingoraError)
    const foreign = copy.PingoraError.upstream(ErrorType.ConnectRefused, 'tcp to 10.0.0.1:80')
    expect(foreign).not.toBeInstanceOf(PingoraError)
    expect(PingoraError.is(foreign)).toBe(true)
    expect(copy.PingoraError.is(new PingoraError(ErrorType.ReadError))).toBe(true)
    // The chain renders and is searched through the brand, whichever copy made each link.
    const outer = PingoraError.because(ErrorType.HTTPStatus(502), 'proxying', foreign)
    expect(outer.message).toBe(
      'HTTPStatus(502) context: proxying cause: ConnectRefused Upstream context: tcp to 10.0.0.1:80',
    )
    expect(outer.findCause('ConnectRefused')).toBe(foreign)
    expect(PingoraError.from(foreign, ErrorType.InternalError)).toBe(foreign)
  })

  it('message cannot be overwritten by assignment', () => {
    const e = PingoraError.explain(ErrorType.ReadError, 'ctx')
    e.message = 'other'
    expect(e.message).toBe('ReadError context: ctx')
  })

  it('stack trace names the error', () => {
    expect(String(new PingoraError('ReadError').stack)).toMatch(/^PingoraError/)
  })
})
