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
 * The default request head limit itself (issue 17: 32 KiB, nginx's total), without options, on
 * both sides of the limit; and the request line limit (8 KiB, 414).
 */

const LIMIT = 32 * 1024
const LINE = 'GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n'

/** A request head of exactly `size` bytes (one big field fills it up). */
function headOf(size: number): string {
  const fixed = `${LINE}X-Big: \r\n\r\n`.length
  return `${LINE}X-Big: ${'b'.repeat(size - fixed)}\r\n\r\n`
}

describe('Http1ServerSession default header section limit (32 KiB)', () => {
  it('accepts a head of exactly 32 KiB', async () => {
    const head = headOf(LIMIT)
    expect(head).toHaveLength(LIMIT)
    const { port } = await startServer(echoHandler)
    const echo = echoOf(await exchange(port, head))
    expect(echo.headers.find(([name]) => name === 'X-Big')?.[1]).toHaveLength(
      LIMIT - `${LINE}X-Big: \r\n\r\n`.length,
    )
  })

  it('answers 431 and closes for a head one byte over 32 KiB', async () => {
    const { port, events } = await startServer(echoHandler)
    const out = await exchange(port, headOf(LIMIT + 1))
    expect(normalizeDate(out)).toBe(errorAnswer(431, 'Request Header Fields Too Large'))
    await events.loopEnded()
    expect(events.requests).toBe(0)
    const error = events.errors[0]
    expect(PingoraError.is(error)).toBe(true)
    expect(error).toMatchObject({ type: 'InvalidHTTPHeader', status: 431, source: 'downstream' })
  })

  it('answers 431 for a single 128 KiB field, and 414 for a request line over 8 KiB', async () => {
    const { port, events } = await startServer(echoHandler)
    const big = await exchange(port, `${LINE}X-Big: ${'b'.repeat(128 * 1024)}\r\n\r\n`)
    expect(normalizeDate(big)).toBe(errorAnswer(431, 'Request Header Fields Too Large'))
    const line = await exchange(port, `GET /${'a'.repeat(8 * 1024)} HTTP/1.1\r\nHost: a\r\n\r\n`)
    expect(normalizeDate(line)).toBe(errorAnswer(414, 'URI Too Long'))
    const fits = await exchange(
      port,
      `GET /${'a'.repeat(8 * 1024 - 'GET / HTTP/1.1'.length)} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`,
    )
    expect(fits).toMatch(/^HTTP\/1\.1 200 /)
    expect(events.requests).toBe(1)
  })

  it('takes a larger limit from the session options (maxHeaderBytes)', async () => {
    const { port } = await startServer(echoHandler, { maxHeaderBytes: 256 * 1024 })
    const echo = echoOf(await exchange(port, headOf(200 * 1024)))
    expect(echo.headers.find(([name]) => name === 'X-Big')?.[1]?.length).toBeGreaterThan(190_000)
  })
})
