// HpackDecoder.lastBlockNeedsFieldCheck: false only when no field of the block can break
// RFC 9113 §8.2.1, so the frame layer may skip its per-octet checks; remembered with dynamic
// table entries so an indexed reference to a bad field is still flagged.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { HpackDecoder } from '../../../src/protocols/http2/hpack/decoder.ts'
import { HpackEncoder } from '../../../src/protocols/http2/hpack/encoder.ts'

const LIMITS = { maxDynamicTableSize: 4096, maxHeaderListSize: 1 << 20, maxHeaderListPairs: 1000 }

/** The reference rule, written plainly. */
function needsCheck(fields: readonly string[]): boolean {
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i] as string
    const value = fields[i + 1] as string
    if (!/^:?[a-z0-9!#$%&'*+.^_`|~-]+$/.test(name)) return true
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the rule is about control characters
    if (/[\x00-\x08\x0a-\x1f\x7f]/.test(value) || /^[ \t]|[ \t]$/.test(value)) return true
  }
  return false
}

function decodeFlag(decoder: HpackDecoder, block: Uint8Array): boolean {
  decoder.decode(block, 0, block.length, [])
  return decoder.lastBlockNeedsFieldCheck
}

describe('HpackDecoder.lastBlockNeedsFieldCheck', () => {
  it('flags each kind of suspect field and clears on a clean block', () => {
    const cases: [string, string, boolean][] = [
      ['x-ok', 'a b\t\u00e9c', false],
      [':path', '/', false],
      ['X-Upper', 'v', true],
      ['x:colon', 'v', true],
      [':', 'v', true],
      ['', 'v', true],
      ['x-sp ace', 'v', true],
      ['x-v', 'a\r\nb', true],
      ['x-v', 'a\x00b', true],
      ['x-v', ' lead', true],
      ['x-v', 'trail\t', true],
      ['x-v', 'del\x7f', true],
      ['x-v', '', false],
    ]
    for (const [name, value, flagged] of cases) {
      const decoder = new HpackDecoder(LIMITS)
      const encoder = new HpackEncoder()
      expect(decodeFlag(decoder, encoder.encode([name, value, ':method', 'GET']))).toBe(flagged)
      // The same field again is an indexed reference when it was worth indexing: same flag.
      expect(decodeFlag(decoder, encoder.encode([name, value]))).toBe(flagged)
      expect(decodeFlag(decoder, encoder.encode([':method', 'GET', 'x-clean', '1']))).toBe(false)
    }
  })

  it('matches the plain rule on random blocks sharing one table', () => {
    const octet = fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c))
    const name = fc.oneof(
      fc.constantFrom(':path', 'x-a', 'X-A', 'cookie', 'a:b'),
      fc.string({
        unit: fc.oneof(octet, fc.constantFrom('a', 'b', '-')),
        minLength: 0,
        maxLength: 6,
      }),
    )
    const value = fc.oneof(
      fc.constantFrom('', 'v', ' v', 'v ', 'a\nb'),
      fc.string({ unit: octet, maxLength: 12 }),
    )
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.tuple(name, value), { maxLength: 6 }), { maxLength: 20 }),
        (blocks) => {
          const decoder = new HpackDecoder(LIMITS)
          const encoder = new HpackEncoder()
          for (const block of blocks) {
            const fields = block.flat()
            expect(decodeFlag(decoder, encoder.encode(fields))).toBe(needsCheck(fields))
          }
        },
      ),
      { numRuns: 500 },
    )
  })
})
