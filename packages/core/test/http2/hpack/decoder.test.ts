// The HPACK decoder against RFC 7541: the Appendix C examples (fields and table state after
// every block), every malformed construct (a compression error), and the header list limits
// (a stream error that leaves the table in sync, including the one-byte-reference "bomb").
import { describe, expect, it } from 'vitest'
import {
  HpackDecoder,
  type HpackDecoderOptions,
} from '../../../src/protocols/http2/hpack/decoder.ts'
import { HpackError } from '../../../src/protocols/http2/hpack/hpack-error.ts'
import { fromHex, RFC7541_SERIES } from './rfc7541-vectors.ts'

const LIMITS: HpackDecoderOptions = {
  maxDynamicTableSize: 4096,
  maxHeaderListSize: 65536,
  maxHeaderListPairs: 128,
}

function decodeOne(decoder: HpackDecoder, block: Uint8Array): string[] {
  const out: string[] = []
  decoder.decode(block, 0, block.length, out)
  return out
}

function errorOf(run: () => void): HpackError {
  try {
    run()
  } catch (error) {
    if (error instanceof HpackError) return error
    throw error
  }
  throw new Error('expected an HpackError')
}

describe('HpackDecoder on RFC 7541 Appendix C', () => {
  for (const series of RFC7541_SERIES) {
    it(`decodes the ${series.section} series (${series.huffman ? 'Huffman' : 'raw'} literals) with the table after each block`, () => {
      const decoder = new HpackDecoder({ ...LIMITS, maxDynamicTableSize: series.tableSize })
      for (const block of series.blocks) {
        expect(decodeOne(decoder, fromHex(block.hex))).toEqual(block.fields)
        expect(decoder.dynamicTableEntries()).toEqual(block.table)
        expect(decoder.dynamicTableSize).toBe(block.size)
      }
    })
  }

  it('decodes the C.2 single representations (with, without and never indexed, indexed)', () => {
    const decoder = new HpackDecoder(LIMITS)
    expect(
      decodeOne(
        decoder,
        fromHex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572'),
      ),
    ).toEqual(['custom-key', 'custom-header'])
    expect(decoder.dynamicTableSize).toBe(55)
    expect(decodeOne(decoder, fromHex('040c 2f73 616d 706c 652f 7061 7468'))).toEqual([
      ':path',
      '/sample/path',
    ])
    expect(decodeOne(decoder, fromHex('1008 7061 7373 776f 7264 0673 6563 7265 74'))).toEqual([
      'password',
      'secret',
    ])
    expect(decodeOne(decoder, fromHex('82'))).toEqual([':method', 'GET'])
    expect(decoder.dynamicTableEntries()).toEqual(['custom-key', 'custom-header'])
  })

  it('decodes a block in the middle of a larger buffer and from a plain Uint8Array', () => {
    const decoder = new HpackDecoder(LIMITS)
    const bytes = new Uint8Array([0xff, 0xff, 0x82, 0x86, 0x84, 0xff])
    const out: string[] = ['kept']
    decoder.decode(bytes, 2, 5, out)
    expect(out).toEqual(['kept', ':method', 'GET', ':scheme', 'http', ':path', '/'])
  })
})

describe('HpackDecoder dynamic table', () => {
  it('evicts the oldest entries when a new one does not fit', () => {
    const decoder = new HpackDecoder({ ...LIMITS, maxDynamicTableSize: 100 })
    // Two entries of 32 + 1 + 30 = 63 bytes: the second evicts the first.
    const value = 'v'.repeat(30)
    const literal = (name: string) =>
      fromHex(`4001${Buffer.from(name).toString('hex')}1e${Buffer.from(value).toString('hex')}`)
    decodeOne(decoder, literal('a'))
    decodeOne(decoder, literal('b'))
    expect(decoder.dynamicTableEntries()).toEqual(['b', value])
    expect(decoder.dynamicTableSize).toBe(63)
    // Index 63 (the evicted entry) no longer exists.
    expect(errorOf(() => decodeOne(decoder, fromHex('bf'))).kind).toBe('compression')
  })

  it('empties the table when one entry is larger than the bound', () => {
    const decoder = new HpackDecoder({ ...LIMITS, maxDynamicTableSize: 64 })
    decodeOne(decoder, fromHex('4001610162'))
    expect(decoder.dynamicTableSize).toBe(34)
    decodeOne(decoder, fromHex(`4001${'63'}20${'64'.repeat(32)}`))
    expect(decoder.dynamicTableEntries()).toEqual([])
    expect(decoder.dynamicTableSize).toBe(0)
  })

  it('applies size updates at the start of a block, evicting down to the new bound', () => {
    const decoder = new HpackDecoder(LIMITS)
    decodeOne(decoder, fromHex('4001610162 4001630164'))
    expect(decoder.dynamicTableSize).toBe(68)
    // Two updates in a row (allowed): 0 empties the table, then back to 4096.
    expect(decodeOne(decoder, fromHex('20 3fe11f 82'))).toEqual([':method', 'GET'])
    expect(decoder.dynamicTableEntries()).toEqual([])
    expect(decoder.dynamicTableMaxSize).toBe(4096)
    // An update to 34 keeps only the newest 34-byte entry.
    decodeOne(decoder, fromHex('4001610162 4001630164'))
    decodeOne(decoder, fromHex('3f03'))
    expect(decoder.dynamicTableEntries()).toEqual(['c', 'd'])
  })
})

describe('HpackDecoder refuses malformed blocks with a compression error', () => {
  const cases: [string, string][] = [
    ['index 0', '80'],
    ['an index past the dynamic table', 'be'],
    ['a literal naming an index past the table', '7e0161'],
    ['an integer over 2^31 - 1', 'ff ff ff ff ff 0f'],
    ['an integer with too many continuation bytes', 'ff 80 80 80 80 80 00'],
    ['an integer cut by the end of the block', 'ff 80'],
    ['a string longer than the block', '40 05 616263'],
    ['a missing value', '40 01 61'],
    ['a string length cut by the end of the block', '40 7f'],
    ['Huffman padding longer than 7 bits', '40 81 ff 00'],
    ['Huffman padding that is not all ones', '40 81 1e 00'],
    // EOS (30 ones) in a string: 4 bytes of ones hold EOS then 2 bits of padding.
    ['EOS inside a Huffman string', '40 84 ffffffff 00'],
    ['a size update above the advertised maximum', '3fe21f'],
    ['a size update after a field', '82 20'],
  ]
  for (const [what, hex] of cases) {
    it(`refuses ${what}`, () => {
      const decoder = new HpackDecoder(LIMITS)
      const error = errorOf(() => decodeOne(decoder, fromHex(hex)))
      expect(error.kind).toBe('compression')
      expect(error.name).toBe('HpackError')
    })
  }

  it('accepts the same constructs just inside the bounds', () => {
    const decoder = new HpackDecoder(LIMITS)
    // Size update to exactly the maximum, a 2^31 - 1 integer in a size update is refused above,
    // Huffman with 7 bits of padding ('0' is 00000 + 111 padding = 0x07).
    expect(decodeOne(decoder, fromHex('3fe11f 00 0161 81 07'))).toEqual(['a', '0'])
  })
})

describe('HpackDecoder header list limits', () => {
  it('stops at maxHeaderListSize on repeated one-byte references to a large entry, with the table still in sync', () => {
    const decoder = new HpackDecoder({ ...LIMITS, maxHeaderListSize: 16_384 })
    const big = 'x'.repeat(4000)
    // One 4 KiB entry, then 1000 one-byte references to it (4 MB of fields from 1 KB).
    const insert = Buffer.concat([fromHex('4001 62 7f a1 1e'), Buffer.from(big)])
    const bomb = Buffer.concat([insert, Buffer.alloc(1000, 0xbe)])
    const out: string[] = []
    const error = errorOf(() => decoder.decode(bomb, 0, bomb.length, out))
    expect(error.kind).toBe('header-list-too-large')
    // Fields before the limit only: 4 x (1 + 4000 + 32) fits in 16 KiB, a 5th does not.
    expect(out.length).toBe(8)
    expect(decoder.dynamicTableEntries()).toEqual(['b', big])
    // The next block decodes against the same table.
    expect(decodeOne(decoder, fromHex('be 82'))).toEqual(['b', big, ':method', 'GET'])
  })

  it('stops at maxHeaderListPairs and keeps indexing the fields past it', () => {
    const decoder = new HpackDecoder({ ...LIMITS, maxHeaderListPairs: 2 })
    const out: string[] = []
    const block = fromHex('82 86 4001610162')
    const error = errorOf(() => decoder.decode(block, 0, block.length, out))
    expect(error.kind).toBe('header-list-too-large')
    expect(out).toEqual([':method', 'GET', ':scheme', 'http'])
    expect(decodeOne(decoder, fromHex('be'))).toEqual(['a', 'b'])
  })

  it('counts name + value + 32 per field (RFC 9113 §6.5.2)', () => {
    // ':method' 'GET' is 7 + 3 + 32 = 42 bytes.
    const exact = new HpackDecoder({ ...LIMITS, maxHeaderListSize: 84 })
    expect(decodeOne(exact, fromHex('82 82'))).toEqual([':method', 'GET', ':method', 'GET'])
    const under = new HpackDecoder({ ...LIMITS, maxHeaderListSize: 83 })
    expect(errorOf(() => decodeOne(under, fromHex('82 82'))).kind).toBe('header-list-too-large')
  })

  it('refuses options out of range with a RangeError', () => {
    expect(() => new HpackDecoder({ ...LIMITS, maxHeaderListSize: -1 })).toThrow(
      new RangeError('HpackDecoder: maxHeaderListSize must be an integer in [0, 2^31 - 1]'),
    )
  })
})
