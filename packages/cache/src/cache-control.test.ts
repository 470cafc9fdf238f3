import { describe, expect, it } from 'vitest'
import { CacheControl, DELTA_SECONDS_MAX, parseDeltaSeconds } from './cache-control.ts'

const cc = (...values: string[]) => CacheControl.parse(values)

describe('CacheControl', () => {
  it('parses directives case-insensitively across several field lines', () => {
    const parsed = cc('Public, MAX-AGE=60', 'must-revalidate')
    expect(parsed.public).toBe(true)
    expect(parsed.maxAge).toBe(60)
    expect(parsed.mustRevalidate).toBe(true)
    expect(parsed.names()).toEqual(['public', 'max-age', 'must-revalidate'])
  })

  it('accepts a quoted delta-seconds and a quoted comma inside a field-name list', () => {
    const parsed = cc('max-age="120", private="set-cookie, x-secret", no-cache="x-a"')
    expect(parsed.maxAge).toBe(120)
    expect(parsed.private).toBe(false)
    expect(parsed.privateFieldNames).toEqual(['set-cookie', 'x-secret'])
    expect(parsed.noCache).toBe(false)
    expect(parsed.noCacheFieldNames).toEqual(['x-a'])
    expect(parsed.strippedFieldNames()).toEqual(['set-cookie', 'x-secret', 'x-a'])
  })

  it('treats unqualified private and no-cache as the whole-response directives', () => {
    const parsed = cc('private, no-cache')
    expect(parsed.private).toBe(true)
    expect(parsed.privateFieldNames).toBeUndefined()
    expect(parsed.noCache).toBe(true)
    expect(parsed.isCacheable()).toBe('no')
  })

  it('marks invalid delta-seconds as invalid (stale), not absent', () => {
    expect(cc('max-age=-1').maxAge).toBe('invalid')
    expect(cc('max-age=1.5').maxAge).toBe('invalid')
    expect(cc('max-age').maxAge).toBe('invalid')
    expect(cc('max-age=abc').freshSeconds()).toBe(0)
    expect(cc('no-store').maxAge).toBeUndefined()
  })

  it('keeps equal duplicates and invalidates conflicting ones', () => {
    expect(cc('max-age=5, max-age=5').maxAge).toBe(5)
    expect(cc('max-age=5', 'max-age=10').maxAge).toBe('invalid')
  })

  it('clamps huge delta-seconds to 2^31', () => {
    expect(cc('max-age=99999999999999999999').maxAge).toBe(DELTA_SECONDS_MAX)
    expect(parseDeltaSeconds('2147483649')).toBe(DELTA_SECONDS_MAX)
    expect(parseDeltaSeconds('')).toBeUndefined()
  })

  it('prefers s-maxage over max-age for a shared cache', () => {
    expect(cc('max-age=10, s-maxage=100').freshSeconds()).toBe(100)
    expect(cc('max-age=10').freshSeconds()).toBe(10)
    expect(cc('public').freshSeconds()).toBeUndefined()
  })

  it('decides cacheability and the Authorization exception', () => {
    expect(cc('no-store, max-age=10').isCacheable()).toBe('no')
    expect(cc('public').isCacheable()).toBe('yes')
    expect(cc('no-transform').isCacheable()).toBe('default')
    expect(cc('max-age=10').allowCachingAuthorizedRequest()).toBe(false)
    expect(cc('s-maxage=10').allowCachingAuthorizedRequest()).toBe(true)
    expect(cc('must-revalidate').allowCachingAuthorizedRequest()).toBe(true)
    expect(cc('public').allowCachingAuthorizedRequest()).toBe(true)
  })

  it('reads request directives, max-stale without an argument meaning any staleness', () => {
    const parsed = cc('max-stale, min-fresh=3, only-if-cached')
    expect(parsed.maxStale).toBe(Number.POSITIVE_INFINITY)
    expect(parsed.minFresh).toBe(3)
    expect(parsed.onlyIfCached).toBe(true)
    expect(cc('max-stale=7').maxStale).toBe(7)
  })

  it('survives garbage without throwing and keeps the parsable directives', () => {
    const parsed = cc(',,, =x, "quoted, junk", max-age=3 extra, public, private="unterminated')
    expect(parsed.public).toBe(true)
    expect(parsed.maxAge).toBe('invalid')
    expect(parsed.private).toBe(true)
  })

  it('bounds the number of directives kept', () => {
    const many = Array.from({ length: 1000 }, (_, i) => `x${i}`).join(',')
    expect(cc(many).names().length).toBe(64)
  })

  it('reads stale-while-revalidate and stale-if-error', () => {
    const parsed = cc('max-age=1, stale-while-revalidate=30, stale-if-error=600')
    expect(parsed.staleWhileRevalidate).toBe(30)
    expect(parsed.staleIfError).toBe(600)
  })
})
