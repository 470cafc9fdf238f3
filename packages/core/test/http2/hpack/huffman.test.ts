// The HPACK Huffman code (RFC 7541 Appendix B): known encodings from Appendix C, every octet
// round-trips, and the static table's encoder index points at the right entries.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  huffmanDecode,
  huffmanEncode,
  huffmanEncodedLength,
  huffmanMaxDecodedLength,
} from '../../../src/protocols/http2/hpack/huffman.ts'
import {
  STATIC_TABLE_BY_NAME,
  STATIC_TABLE_NAMES,
  STATIC_TABLE_VALUES,
} from '../../../src/protocols/http2/hpack/static-table.ts'
import { fromHex } from './rfc7541-vectors.ts'

function encode(value: string): Buffer {
  const out = Buffer.alloc(huffmanEncodedLength(value))
  expect(huffmanEncode(value, out, 0)).toBe(out.length)
  return out
}

function decode(bytes: Uint8Array): string | undefined {
  const out = Buffer.alloc(huffmanMaxDecodedLength(bytes.length))
  const end = huffmanDecode(bytes, 0, bytes.length, out, 0)
  return end < 0 ? undefined : out.toString('latin1', 0, end)
}

describe('HPACK Huffman code', () => {
  const known: [string, string][] = [
    ['www.example.com', 'f1e3 c2e5 f23a 6ba0 ab90 f4ff'],
    ['no-cache', 'a8eb 1064 9cbf'],
    ['custom-key', '25a8 49e9 5ba9 7d7f'],
    ['custom-value', '25a8 49e9 5bb8 e8b4 bf'],
    ['302', '6402'],
    ['Mon, 21 Oct 2013 20:13:21 GMT', 'd07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff'],
    ['https://www.example.com', '9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3'],
    ['', ''],
  ]
  for (const [text, hex] of known) {
    it(`encodes and decodes ${JSON.stringify(text)} as RFC 7541 Appendix C does`, () => {
      expect(encode(text).toString('hex')).toBe(hex.replaceAll(' ', ''))
      expect(decode(fromHex(hex))).toBe(text)
    })
  }

  it('round-trips every octet, alone and in random strings', () => {
    for (let octet = 0; octet < 256; octet++) {
      const text = String.fromCharCode(octet)
      expect(decode(encode(text))).toBe(text)
    }
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const text = Buffer.from(bytes).toString('latin1')
        const encoded = encode(text)
        expect(encoded.length).toBeLessThanOrEqual(Math.ceil((bytes.length * 30) / 8))
        expect(decode(encoded)).toBe(text)
      }),
      { numRuns: 300 },
    )
  })

  it('writes at an offset and reports characters above U+00FF', () => {
    const out = Buffer.alloc(8, 0xaa)
    expect(huffmanEncode('302', out, 3)).toBe(5)
    expect(out.toString('hex')).toBe('aaaaaa6402aaaaaa')
    expect(huffmanEncodedLength('caf\u00e9')).toBeGreaterThan(0)
    expect(huffmanEncodedLength('\u0100')).toBe(-1)
  })
})

describe('HPACK static table index', () => {
  it('maps every name to its lowest index and every name + value pair to its own index', () => {
    for (let index = 1; index <= 61; index++) {
      const name = STATIC_TABLE_NAMES[index - 1] as string
      const value = STATIC_TABLE_VALUES[index - 1] as string
      const entry = STATIC_TABLE_BY_NAME.get(name)
      expect(entry?.index).toBe(STATIC_TABLE_NAMES.indexOf(name) + 1)
      if (value !== '') expect(entry?.values?.get(value)).toBe(index)
    }
    expect(STATIC_TABLE_BY_NAME.get(':status')?.values?.get('404')).toBe(13)
    expect(STATIC_TABLE_BY_NAME.get('www-authenticate')?.index).toBe(61)
    expect(STATIC_TABLE_BY_NAME.get('user-agent')?.values).toBeUndefined()
  })
})
