import { describe, expect, it } from 'vitest'
import { RETRY_BUFFER_LIMIT, RetryBuffer } from './common.ts'

describe('RetryBuffer', () => {
  it('keeps copies of the pieces and joins them', () => {
    const buffer = new RetryBuffer()
    const first = Buffer.from('hello ')
    buffer.push(first)
    buffer.push(new Uint8Array(Buffer.from('world')))
    first.fill(0) // the caller reuses its memory
    expect(buffer.get()?.toString()).toBe('hello world')
    expect(buffer.truncated).toBe(false)
  })

  it('returns an empty buffer when nothing was read yet', () => {
    expect(new RetryBuffer().get()?.length).toBe(0)
  })

  it('drops everything once the body outgrows the limit, and stays truncated', () => {
    const buffer = new RetryBuffer()
    buffer.push(Buffer.alloc(RETRY_BUFFER_LIMIT))
    expect(buffer.get()?.length).toBe(RETRY_BUFFER_LIMIT)
    buffer.push(Buffer.alloc(1))
    expect(buffer.truncated).toBe(true)
    expect(buffer.get()).toBeUndefined()
    buffer.push(Buffer.alloc(1))
    expect(buffer.get()).toBeUndefined()
  })
})
