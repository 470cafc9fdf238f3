import { describe, expect, it } from 'vitest'
import { TimeoutError } from './timeout-error.ts'

describe('TimeoutError', () => {
  it('carries its name, message and timeout', () => {
    const error = new TimeoutError(250)
    expect(error).toBeInstanceOf(Error)
    expect(error.name).toBe('TimeoutError')
    expect(error.message).toBe('timed out after 250 ms')
    expect(error.timeoutMs).toBe(250)
  })

  it('keeps a cause', () => {
    const cause = new Error('underlying')
    expect(new TimeoutError(1, { cause }).cause).toBe(cause)
  })

  it('is recognised by its brand, even from another copy of the package', () => {
    expect(TimeoutError.is(new TimeoutError(5))).toBe(true)
    const foreign = Object.assign(new Error('x'), { [Symbol.for('@pingora-ts/timeout')]: true })
    expect(TimeoutError.is(foreign)).toBe(true)
  })

  it('recognises an error from a second, separately loaded copy of the package', async () => {
    // A query string makes the module runner load the file again: a real second copy.
    const specifier = './timeout-error.ts?second-copy'
    const copy = (await import(specifier)) as typeof import('./timeout-error.ts')
    expect(copy.TimeoutError).not.toBe(TimeoutError)
    const foreign = new copy.TimeoutError(5)
    expect(foreign).not.toBeInstanceOf(TimeoutError)
    expect(TimeoutError.is(foreign)).toBe(true)
    expect(copy.TimeoutError.is(new TimeoutError(5))).toBe(true)
  })

  it.each([
    ['an Error', new Error('timed out after 5 ms')],
    ['undefined', undefined],
    ['null', null],
    ['a string', 'TimeoutError'],
    ['a DOMException TimeoutError', new DOMException('t', 'TimeoutError')],
  ])('does not recognise %s', (_label, value) => {
    expect(TimeoutError.is(value)).toBe(false)
  })
})
