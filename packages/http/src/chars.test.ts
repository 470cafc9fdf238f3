import { describe, expect, it } from 'vitest'
import { canonicalReason } from './canonical-reason.ts'
import {
  FIELD_VALUE_CHARS,
  isToken,
  isValidHeaderValue,
  isValidRequestTarget,
  REQUEST_TARGET_CHARS,
  TOKEN_CHARS,
} from './chars.ts'

describe('character tables', () => {
  it('flag exactly the RFC 9110 tchar bytes as token bytes', () => {
    const expected = new Set<number>()
    for (const c of "!#$%&'*+-.^_`|~0123456789") expected.add(c.charCodeAt(0))
    for (let c = 0x41; c <= 0x5a; c++) expected.add(c).add(c + 0x20)
    expect(TOKEN_CHARS.length).toBe(256)
    for (let byte = 0; byte < 256; byte++)
      expect(TOKEN_CHARS[byte]).toBe(expected.has(byte) ? 1 : 0)
  })

  it('flag HTAB, SP, VCHAR and obs-text as field-value bytes, and nothing else', () => {
    let allowed = 0
    for (let byte = 0; byte < 256; byte++) allowed += FIELD_VALUE_CHARS[byte] as number
    // HTAB + SP + 94 VCHAR + 128 obs-text
    expect(allowed).toBe(1 + 1 + 94 + 128)
    for (const byte of [0x00, 0x0a, 0x0d, 0x1f, 0x7f]) expect(FIELD_VALUE_CHARS[byte]).toBe(0)
  })

  it('exclude SP, TAB and DEL from request-target bytes', () => {
    for (const byte of [0x09, 0x20, 0x7f, 0x00]) expect(REQUEST_TARGET_CHARS[byte]).toBe(0)
    for (const byte of [0x21, 0x2f, 0x7e, 0x80, 0xff]) expect(REQUEST_TARGET_CHARS[byte]).toBe(1)
  })
})

describe('validators', () => {
  it('isToken accepts tokens and rejects the empty string and separators', () => {
    expect(isToken('Content-Type')).toBe(true)
    expect(isToken("!#$%&'*+-.^_`|~")).toBe(true)
    expect(isToken('')).toBe(false)
    expect(isToken('a b')).toBe(false)
    expect(isToken('a"b')).toBe(false)
    expect(isToken('\u0141')).toBe(false)
  })

  it('isValidHeaderValue allows empty and obs-text, rejects controls and wide chars', () => {
    expect(isValidHeaderValue('')).toBe(true)
    expect(isValidHeaderValue('a\tb c\xff')).toBe(true)
    expect(isValidHeaderValue('a\r\nb')).toBe(false)
    expect(isValidHeaderValue('\u0100')).toBe(false)
  })

  it('isValidRequestTarget rejects empty, spaces and controls', () => {
    expect(isValidRequestTarget('/a?b=c%20d')).toBe(true)
    expect(isValidRequestTarget('*')).toBe(true)
    expect(isValidRequestTarget('')).toBe(false)
    expect(isValidRequestTarget('/a b')).toBe(false)
    expect(isValidRequestTarget('/a\r\n')).toBe(false)
  })
})

describe('canonicalReason', () => {
  it.each([
    [100, 'Continue'],
    [103, 'Early Hints'],
    [200, 'OK'],
    [304, 'Not Modified'],
    [413, 'Content Too Large'],
    [421, 'Misdirected Request'],
    [422, 'Unprocessable Content'],
    [425, 'Too Early'],
    [426, 'Upgrade Required'],
    [428, 'Precondition Required'],
    [429, 'Too Many Requests'],
    [431, 'Request Header Fields Too Large'],
    [451, 'Unavailable For Legal Reasons'],
    [502, 'Bad Gateway'],
    [511, 'Network Authentication Required'],
  ])('gives %i the phrase %s', (status, reason) => {
    expect(canonicalReason(status)).toBe(reason)
  })

  it.each([418, 102, 299, 600, 999, -1, 200.5])('has no phrase for %s', (status) => {
    expect(canonicalReason(status)).toBeUndefined()
  })
})
