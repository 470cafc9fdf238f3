let cachedSecond = -1
let cachedValue = ''

/**
 * The current time as an HTTP `Date` value (RFC 9110 §5.6.7, `Sun, 06 Nov 1994 08:49:37 GMT`),
 * formatted at most once per second. Port of `pingora-core/src/protocols/http/date.rs`.
 * @param nowMs - the current time in ms since the epoch @defaultValue `Date.now()`
 */
export function getCachedDate(nowMs: number = Date.now()): string {
  const second = Math.floor(nowMs / 1000)
  if (second !== cachedSecond) {
    cachedSecond = second
    cachedValue = new Date(second * 1000).toUTCString()
  }
  return cachedValue
}
