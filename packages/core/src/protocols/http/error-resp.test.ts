import { describe, expect, it } from 'vitest'
import { generateErrorResponse } from './error-resp.ts'

describe('generateErrorResponse', () => {
  it('builds the status with Server, Date, Content-Length: 0 and Cache-Control', () => {
    const response = generateErrorResponse(502)
    expect(response.status).toBe(502)
    const fields = [...response.headers]
    expect(fields.map(([n]) => n)).toEqual(['Server', 'Date', 'Content-Length', 'Cache-Control'])
    expect(response.getHeader('server')).toBe('pingora-ts')
    expect(response.getHeader('content-length')).toBe('0')
    expect(response.getHeader('cache-control')).toBe('private, no-store')
    expect(response.getHeader('date')).toMatch(/^\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/)
  })
})
