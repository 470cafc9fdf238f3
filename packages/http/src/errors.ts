import { ErrorType, PingoraError } from '@pingora-ts/error'

const MAX_QUOTED = 64

/** @internal Quotes a latin1 string for an error context, escaping controls and truncating. */
export function quote(s: string): string {
  const cut = s.length > MAX_QUOTED ? `${s.slice(0, MAX_QUOTED)}...` : s
  return JSON.stringify(cut)
}

/** @internal Describes the first character of `s` whose flag in `chars` is not set. */
export function badChar(s: string, chars: Uint8Array): string {
  for (let i = 0; i < s.length; i++) {
    const code = s.charCodeAt(i)
    if (chars[code] !== 1) return `char 0x${code.toString(16).padStart(2, '0')} at index ${i}`
  }
  return 'empty'
}

/** @internal An `InvalidHTTPHeader` error from this program (source `internal`). */
export function invalidHeader(context: string): PingoraError {
  return PingoraError.internal(ErrorType.InvalidHTTPHeader, context)
}
