import { describe, expect, it } from 'vitest'
import { CL_CONFLICT, CL_INVALID, CL_OK, FramingFields, scanFramingFields } from './common.ts'

function scan(fields: Array<[string, string]>): FramingFields {
  const out = new FramingFields()
  scanFramingFields(
    fields.map(([name]) => name),
    fields.map(([, value]) => value),
    out,
  )
  return out
}

describe('scanFramingFields', () => {
  it('collects framing and persistence fields case-insensitively', () => {
    const out = scan([
      ['HOST', 'a'],
      ['Content-Length', '5'],
      ['connection', 'Keep-Alive, Upgrade'],
      ['Upgrade', 'websocket'],
      ['Transfer-Encoding', 'gzip'],
      ['transfer-encoding', 'chunked'],
      ['X-Other', 'x'],
    ])
    expect(out.hostCount).toBe(1)
    expect(out.hostIndex).toBe(0)
    expect(out.contentLength).toBe(5)
    expect(out.contentLengthIndex).toBe(1)
    expect(out.contentLengthError).toBe(CL_OK)
    expect(out.connectionKeepalive).toBe(true)
    expect(out.connectionUpgrade).toBe(true)
    expect(out.connectionClose).toBe(false)
    expect(out.upgrade).toBe(true)
    expect(out.transferEncoding).toBe('gzip,chunked')
  })

  it('reports the first Content-Length problem', () => {
    expect(scan([['Content-Length', 'x']]).contentLengthError).toBe(CL_INVALID)
    const conflict = scan([
      ['Content-Length', '1'],
      ['Content-Length', '2'],
      ['Content-Length', 'x'],
    ])
    expect(conflict.contentLengthError).toBe(CL_CONFLICT)
    expect(conflict.contentLengthCount).toBe(3)
    const same = scan([
      ['Content-Length', '7'],
      ['content-length', '7'],
    ])
    expect(same.contentLengthError).toBe(CL_OK)
    expect(same.contentLength).toBe(7)
  })

  it('resets what an earlier scan left in the record', () => {
    const out = scan([['Connection', 'close']])
    scanFramingFields(['Host'], ['b'], out)
    expect(out.connectionClose).toBe(false)
    expect(out.contentLength).toBe(-1)
    expect(out.hostCount).toBe(1)
  })
})
