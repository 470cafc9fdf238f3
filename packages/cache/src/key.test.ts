import { describe, expect, it } from 'vitest'
import { CacheKey, HASH_SIZE, hashParts } from './key.ts'
import { VarianceBuilder } from './variance.ts'

describe('CacheKey', () => {
  it('hashes namespace and primary into a fixed-size hash, ignoring the user tag', () => {
    const a = new CacheKey('ns', 'example.com/a', 'tag1')
    const b = new CacheKey('ns', 'example.com/a', 'tag2')
    expect(a.primaryHash()).toMatch(/^[0-9a-f]{32}$/)
    expect(a.primaryHash().length).toBe(HASH_SIZE * 2)
    expect(a.primaryHash()).toBe(b.primaryHash())
    expect(new CacheKey('ns2', 'example.com/a').primaryHash()).not.toBe(a.primaryHash())
  })

  it('keeps part boundaries apart', () => {
    expect(hashParts('ab', 'c')).not.toBe(hashParts('a', 'bc'))
    expect(new CacheKey('a', 'bc').primaryHash()).not.toBe(new CacheKey('ab', 'c').primaryHash())
  })

  it('combines the variance into the storage hash and drops it for the primary slot', () => {
    const key = new CacheKey('', 'x')
    const primary = key.combinedHash()
    key.setVariance(hashParts('gzip'))
    expect(key.combinedHash()).not.toBe(primary)
    expect(key.primaryKey().combinedHash()).toBe(primary)
    expect(key.toString()).toContain('variance')
  })
})

describe('VarianceBuilder', () => {
  it('is order-insensitive and case-insensitive in names', () => {
    const a = new VarianceBuilder()
    a.addValue('Accept-Encoding', 'gzip')
    a.addValue('accept-language', 'en')
    const b = new VarianceBuilder()
    b.addValue('accept-language', 'en')
    b.addValue('ACCEPT-ENCODING', 'gzip')
    expect(a.finalize()).toBe(b.finalize())
    const c = new VarianceBuilder()
    c.addValue('accept-encoding', 'br')
    c.addValue('accept-language', 'en')
    expect(c.finalize()).not.toBe(a.finalize())
  })

  it('returns undefined when nothing varies', () => {
    expect(new VarianceBuilder().finalize()).toBeUndefined()
  })
})
