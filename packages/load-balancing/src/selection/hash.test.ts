import { crc32 as zlibCrc32 } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { seededRandom } from '../../test/helpers/random.ts'
import { crc32, fnv1a64, fnv1a64OfU64, modU64, type U64 } from './hash.ts'

const hex = (v: U64) => v.hi.toString(16).padStart(8, '0') + v.lo.toString(16).padStart(8, '0')

describe('hashes', () => {
  it('computes 64-bit FNV-1a test vectors', () => {
    const out = { hi: 0, lo: 0 }
    fnv1a64(new Uint8Array(), out)
    expect(hex(out)).toBe('cbf29ce484222325')
    fnv1a64(new TextEncoder().encode('a'), out)
    expect(hex(out)).toBe('af63dc4c8601ec8c')
    fnv1a64(new TextEncoder().encode('foobar'), out)
    expect(hex(out)).toBe('85944171f73967e8')
  })

  it('hashes a u64 as its little-endian bytes', () => {
    const value = { hi: 0x01020304, lo: 0x05060708 }
    const viaU64 = { hi: 0, lo: 0 }
    fnv1a64OfU64(value, viaU64)
    const bytes = { hi: 0, lo: 0 }
    fnv1a64(Uint8Array.of(8, 7, 6, 5, 4, 3, 2, 1), bytes)
    expect(viaU64).toEqual(bytes)
  })

  it('reduces a u64 modulo n exactly', () => {
    const random = seededRandom(7)
    for (let i = 0; i < 1000; i++) {
      const hi = Math.floor(random() * 2 ** 32)
      const lo = Math.floor(random() * 2 ** 32)
      const n = 1 + Math.floor(random() * 2 ** 24)
      const expected = Number(((BigInt(hi) << 32n) + BigInt(lo)) % BigInt(n))
      expect(modU64({ hi, lo }, n)).toBe(expected)
    }
  })

  it('computes CRC-32 like zlib', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926)
    const random = seededRandom(3)
    for (let i = 0; i < 200; i++) {
      const bytes = new Uint8Array(Math.floor(random() * 64))
      for (let j = 0; j < bytes.length; j++) bytes[j] = Math.floor(random() * 256)
      expect(crc32(bytes)).toBe(zlibCrc32(bytes))
    }
  })
})
