/**
 * The one set of option validators core's constructors and setters use, so every option of a
 * kind accepts the same values and reads `undefined` the same way: **`undefined` always means
 * "not set"**, and the caller's `fallback` (the documented default, or `undefined` when the
 * option stays unset and a later layer picks the default) is returned for it. Bad values throw a
 * `RangeError` that names the option and the value, synchronously (programmer errors).
 * @internal
 */

/**
 * Checks a duration in milliseconds: a finite number `>= 0` (`0` means "none" for timeouts).
 * @param name - the option's name, for the message
 * @param value - the value given
 * @param fallback - what `undefined` stands for
 * @throws RangeError when `value` is negative, `NaN`, infinite or not a number
 */
export function checkMs<F extends number | undefined>(
  name: string,
  value: number | undefined,
  fallback: F,
): number | F {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !(value >= 0) || !Number.isFinite(value)) {
    throw new RangeError(`${name} must be a finite number >= 0, got ${String(value)}`)
  }
  return value
}

/**
 * Checks a count (header fields, streams, requests): an integer `>= 1`.
 * @param name - the option's name, for the message
 * @param value - the value given
 * @param fallback - what `undefined` stands for
 * @throws RangeError when `value` is not a safe integer `>= 1`
 */
export function checkCount<F extends number | undefined>(
  name: string,
  value: number | undefined,
  fallback: F,
): number | F {
  if (value === undefined) return fallback
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`${name} must be an integer >= 1, got ${String(value)}`)
  }
  return value
}

/**
 * Checks a size in bytes: an integer `>= 0`.
 * @param name - the option's name, for the message
 * @param value - the value given
 * @param fallback - what `undefined` stands for
 * @throws RangeError when `value` is not a safe integer `>= 0`
 */
export function checkBytes<F extends number | undefined>(
  name: string,
  value: number | undefined,
  fallback: F,
): number | F {
  if (value === undefined) return fallback
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`${name} must be a non-negative integer number of bytes, got ${value}`)
  }
  return value
}
