import { describe, expect, it } from 'vitest'
import { exchange, normalizeDate, okHandler, startServer } from './helpers.ts'

describe('smoke', () => {
  it('answers one request', async () => {
    const { port } = await startServer(okHandler)
    const out = await exchange(port, 'GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n')
    expect(normalizeDate(out)).toBe(
      'HTTP/1.1 200 OK\r\nContent-Length: 12\r\nDate: <date>\r\nConnection: close\r\n\r\nGET /x body=',
    )
  })
})
