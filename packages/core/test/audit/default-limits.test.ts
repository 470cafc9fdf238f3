import { PingoraError } from '@pingora-ts/error'
import { describe, expect, it } from 'vitest'
import {
  echoHandler,
  echoOf,
  errorAnswer,
  exchange,
  normalizeDate,
  startServer,
} from '../http1/helpers.ts'

/**
 * Issue 3, "header section too large ... 431 (defaults: 1 MiB header section ...)": the default
 * limit itself, without options, on both sides of 1 MiB.
 */

const MIB = 1024 * 1024
const LINE = 'GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n'

/** A request head of exactly `size` bytes (one big field fills it up). */
function headOf(size: number): string {
  const fixed = `${LINE}X-Big: \r\n\r\n`.length
  return `${LINE}X-Big: ${'b'.repeat(size - fixed)}\r\n\r\n`
}

describe('Http1ServerSession default header section limit (1 MiB)', () => {
  it('accepts a head of exactly 1 MiB', async () => {
    const head = headOf(MIB)
    expect(head).toHaveLength(MIB)
    const { port } = await startServer(echoHandler)
    const echo = echoOf(await exchange(port, head))
    expect(echo.headers.find(([name]) => name === 'X-Big')?.[1]).toHaveLength(
      MIB - `${LINE}X-Big: \r\n\r\n`.length,
    )
  })

  it('answers 431 and closes for a head one byte over 1 MiB', async () => {
    const { port, events } = await startServer(echoHandler)
    const out = await exchange(port, headOf(MIB + 1))
    expect(normalizeDate(out)).toBe(errorAnswer(431, 'Request Header Fields Too Large'))
    await events.loopEnded()
    expect(events.requests).toBe(0)
    const error = events.errors[0]
    expect(PingoraError.is(error)).toBe(true)
    expect(error).toMatchObject({ type: 'InvalidHTTPHeader', status: 431, source: 'downstream' })
  })
})
