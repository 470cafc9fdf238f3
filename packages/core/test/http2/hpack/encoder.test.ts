// The HPACK encoder: its choices byte by byte (static, dynamic, never indexed, Huffman only
// when shorter, table size updates), then fast-check round trips through our decoder over
// sequences of blocks sharing one table, with random peer table sizes.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { HpackDecoder } from '../../../src/protocols/http2/hpack/decoder.ts'
import { HpackEncoder } from '../../../src/protocols/http2/hpack/encoder.ts'
import { RFC7541_SERIES } from './rfc7541-vectors.ts'

const LIMITS = { maxDynamicTableSize: 4096, maxHeaderListSize: 1 << 20, maxHeaderListPairs: 1000 }

function decodeOne(decoder: HpackDecoder, block: Uint8Array): string[] {
  const out: string[] = []
  decoder.decode(block, 0, block.length, out)
  return out
}

describe('HpackEncoder choices', () => {
  it('encodes RFC 7541 C.4 byte for byte (static matches, indexed :authority, Huffman literals)', () => {
    const series = RFC7541_SERIES.find((s) => s.section === 'C.4')
    const encoder = new HpackEncoder()
    for (const block of series?.blocks ?? []) {
      expect(encoder.encode(block.fields).toString('hex')).toBe(block.hex.replaceAll(' ', ''))
      expect(encoder.dynamicTableEntries()).toEqual(block.table)
      expect(encoder.dynamicTableSize).toBe(block.size)
    }
    expect(series?.blocks.length).toBe(3)
  })

  it('sends credentials as never-indexed literals and keeps them out of the table', () => {
    const encoder = new HpackEncoder()
    const block = encoder.encode([
      'authorization',
      'Bearer abc',
      'cookie',
      'a=1',
      'set-cookie',
      'id=123456789012345678901234567890',
    ])
    // authorization is static index 23: 0001 1111 + 8; cookie 32 = 15 + 17; set-cookie 55 = 15 + 40.
    expect(block[0]).toBe(0x1f)
    expect(block[1]).toBe(0x08)
    expect(encoder.dynamicTableEntries()).toEqual([])
    expect(decodeOne(new HpackDecoder(LIMITS), block)).toEqual([
      'authorization',
      'Bearer abc',
      'cookie',
      'a=1',
      'set-cookie',
      'id=123456789012345678901234567890',
    ])
    // A long cookie value is worth indexing: the second block references it in one byte.
    const cookie = `session=${'q'.repeat(40)}`
    encoder.encode(['cookie', cookie])
    expect(encoder.encode(['cookie', cookie]).toString('hex')).toBe('be')
  })

  it('does not index per-message values (:path, content-length) nor entries over 3/4 of the table', () => {
    const encoder = new HpackEncoder({ maxDynamicTableSize: 256 })
    encoder.encode([':path', '/a/b', 'content-length', '12', 'x-big', 'y'.repeat(200), 'x-ok', 'z'])
    expect(encoder.dynamicTableEntries()).toEqual(['x-ok', 'z'])
  })

  it('chooses Huffman only when it is shorter', () => {
    const encoder = new HpackEncoder()
    // Octets with 28- to 30-bit codes: raw is shorter.
    const raw = encoder.encode(['x-raw', '\x00\x01\x02'])
    expect(raw.subarray(-4).toString('hex')).toBe('03000102')
    const huffman = encoder.encode(['x-text', 'aaaaaaaa'])
    // 'a' is 5 bits: 8 of them take 5 bytes, with the H bit set.
    expect(huffman[huffman.length - 6]).toBe(0x85)
  })

  it('references names already in the dynamic table', () => {
    const encoder = new HpackEncoder()
    encoder.encode(['x-custom', 'one'])
    // Same name, new value: literal with incremental indexing, name index 62.
    const block = encoder.encode(['x-custom', 'two'])
    expect(block[0]).toBe(0x7e)
    expect(encoder.dynamicTableEntries()).toEqual(['x-custom', 'two', 'x-custom', 'one'])
  })

  it('announces the peer table size at the start of the next block, smallest first', () => {
    const encoder = new HpackEncoder()
    encoder.encode(['x-a', 'b'])
    encoder.setPeerMaxTableSize(0)
    encoder.setPeerMaxTableSize(4096)
    // 0 (001 00000) then 4096 (001 11111 + 4065 = e1 1f), then the field.
    expect(encoder.encode([':method', 'GET']).toString('hex')).toBe('203fe11f82')
    expect(encoder.dynamicTableEntries()).toEqual([])
    // The same size again needs no update.
    encoder.setPeerMaxTableSize(4096)
    expect(encoder.encode([':method', 'GET']).toString('hex')).toBe('82')
    // A larger peer size is capped by our own bound (4096 by default): no update either.
    encoder.setPeerMaxTableSize(65536)
    expect(encoder.encode([':method', 'GET']).toString('hex')).toBe('82')
  })

  it('announces a bound below 4096 in its first block', () => {
    const encoder = new HpackEncoder({ maxDynamicTableSize: 100 })
    expect(encoder.encode([':method', 'GET']).toString('hex')).toBe('3f4582')
  })

  it('refuses characters that are not octets and bad sizes', () => {
    const encoder = new HpackEncoder()
    expect(() => encoder.encode(['x', '\u2028'])).toThrow(TypeError)
    expect(() => new HpackEncoder({ maxDynamicTableSize: -1 })).toThrow(
      new RangeError('HpackEncoder: maxDynamicTableSize must be an integer in [0, 2^31 - 1]'),
    )
    expect(() => encoder.setPeerMaxTableSize(1.5)).toThrow(RangeError)
  })

  it('encodes fields larger than its scratch buffer', () => {
    const encoder = new HpackEncoder()
    const value = 'v'.repeat(200_000)
    const block = encoder.encode(['x-large', value, 'x-after', '1'])
    expect(decodeOne(new HpackDecoder(LIMITS), block)).toEqual(['x-large', value, 'x-after', '1'])
  })
})

// Names and values from a small alphabet so that repeats (and so table hits) are frequent.
const nameArbitrary = fc.oneof(
  fc.constantFrom(
    ':method',
    ':path',
    ':status',
    'cookie',
    'authorization',
    'content-length',
    'x-a',
    'date',
  ),
  fc.stringMatching(/^[a-z0-9-]{1,12}$/),
)
const valueArbitrary = fc.oneof(
  fc.constantFrom('', 'GET', '/', '200', 'gzip, deflate', 'x'.repeat(100)),
  fc.string({
    unit: fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c)),
    maxLength: 40,
  }),
)
const blockArbitrary = fc.array(fc.tuple(nameArbitrary, valueArbitrary), { maxLength: 20 })
const stepArbitrary = fc.record({
  fields: blockArbitrary,
  peerSizes: fc.array(fc.constantFrom(0, 64, 100, 256, 1000, 4096, 10_000), { maxLength: 2 }),
})

describe('HpackEncoder -> HpackDecoder round trips', () => {
  it('decodes every block to the fields encoded, with the two tables equal after each', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 4096 }),
        fc.array(stepArbitrary, { maxLength: 25 }),
        (bound, steps) => {
          const encoder = new HpackEncoder({ maxDynamicTableSize: bound })
          const decoder = new HpackDecoder(LIMITS)
          for (const step of steps) {
            for (const size of step.peerSizes) encoder.setPeerMaxTableSize(size)
            const fields = step.fields.flat()
            expect(decodeOne(decoder, encoder.encode(fields))).toEqual(fields)
            expect(decoder.dynamicTableEntries()).toEqual(encoder.dynamicTableEntries())
            expect(decoder.dynamicTableSize).toBe(encoder.dynamicTableSize)
          }
        },
      ),
      { numRuns: 300 },
    )
  })
})
