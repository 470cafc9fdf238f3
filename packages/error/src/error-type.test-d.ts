import { describe, expectTypeOf, test } from 'vitest'
import { ErrorType, type ErrorTypeInput, type ErrorTypeName } from './error-type.ts'
import { PingoraError } from './pingora-error.ts'

describe('error types are checked at compile time', () => {
  test('catalogue names and specs are accepted', () => {
    expectTypeOf<'ConnectTimedout'>().toExtend<ErrorTypeInput>()
    expectTypeOf(ErrorType.HTTPStatus(502)).toExtend<ErrorTypeInput>()
    expectTypeOf(ErrorType.Custom('RateLimited')).toExtend<ErrorTypeInput>()
    PingoraError.explain('ReadError', 'reading')
    PingoraError.upstream(ErrorType.ConnectRefused)
    new PingoraError(ErrorType.CustomCode('RateLimited', 429), { source: 'downstream' })
    PingoraError.from(new Error('x'), 'InternalError')
  })

  test('a misspelt or unknown bare name does not compile', () => {
    expectTypeOf<'ConnectTimedOut'>().not.toExtend<ErrorTypeInput>()
    expectTypeOf<string>().not.toExtend<ErrorTypeInput>()
    // @ts-expect-error: 'ConnectTimedOut' is not in the catalogue (it is 'ConnectTimedout')
    PingoraError.explain('ConnectTimedOut', 'connecting')
    // @ts-expect-error: a custom name must go through ErrorType.Custom
    PingoraError.downstream('RateLimited')
    // @ts-expect-error: a string variable could hold anything
    new PingoraError('Read' + 'Error')
    // @ts-expect-error: the same check applies to findCause
    PingoraError.upstream('ReadError').findCause('ReadErorr')
  })

  test('the stored type is any name, so custom types can be compared', () => {
    expectTypeOf<PingoraError['type']>().toEqualTypeOf<ErrorTypeName>()
    expectTypeOf<string>().toExtend<ErrorTypeName>()
  })
})
