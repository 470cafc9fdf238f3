import { checkCount } from '../../option-checks.ts'
import { type HeadLimits, hasToken, nameIs, parseContentLength } from './parse.ts'

/**
 * What the HTTP/1 client and server sessions share: head limits from options, and the one scan
 * of a parsed head's framing fields (`Content-Length`, `Transfer-Encoding`, `Connection`,
 * `Host`, `Upgrade`). Each side then applies its own rules (a server answers 400, a client
 * rejects the response or falls back to close-delimited).
 * @internal
 */

/**
 * The head limits for a session: `defaults` itself (shared, no allocation) when no limit is
 * set, else a checked copy.
 * @param defaults - the side's defaults
 * @param maxRequestLineBytes - the option, `undefined` when not set
 * @param maxHeaderBytes - the option, `undefined` when not set
 * @param maxHeaders - the option, `undefined` when not set
 * @throws RangeError when a limit is not an integer >= 1
 * @internal
 */
export function resolveHeadLimits(
  defaults: HeadLimits,
  maxRequestLineBytes: number | undefined,
  maxHeaderBytes: number | undefined,
  maxHeaders: number | undefined,
): HeadLimits {
  if (
    maxRequestLineBytes === undefined &&
    maxHeaderBytes === undefined &&
    maxHeaders === undefined
  ) {
    return defaults
  }
  return {
    maxRequestLineBytes: checkCount(
      'maxRequestLineBytes',
      maxRequestLineBytes,
      defaults.maxRequestLineBytes,
    ),
    maxHeaderBytes: checkCount('maxHeaderBytes', maxHeaderBytes, defaults.maxHeaderBytes),
    maxHeaders: checkCount('maxHeaders', maxHeaders, defaults.maxHeaders),
  }
}

/** `FramingFields.contentLengthError`: the first `Content-Length` problem seen. @internal */
export const CL_OK = 0
/** A `Content-Length` value that is not a valid length. @internal */
export const CL_INVALID = 1
/** Two `Content-Length` values that differ. @internal */
export const CL_CONFLICT = 2

/**
 * The framing facts of one head, filled by {@link scanFramingFields}. One instance per side is
 * reused for every head: the scan and the use of its result happen synchronously.
 * @internal
 */
export class FramingFields {
  /** The `Transfer-Encoding` values joined with `,`, or `undefined`. */
  transferEncoding: string | undefined = undefined
  /** The `Content-Length` (the last valid one), `-1` when none. */
  contentLength = -1
  /** Index of the first `Content-Length` field, `-1` when none. */
  contentLengthIndex = -1
  /** How many `Content-Length` fields there are. */
  contentLengthCount = 0
  /** The first problem with them: {@link CL_OK}, {@link CL_INVALID} or {@link CL_CONFLICT}. */
  contentLengthError = CL_OK
  /** Index of the last `Host` field, `-1` when none. */
  hostIndex = -1
  /** How many `Host` fields there are. */
  hostCount = 0
  /** `Connection` lists `close`. */
  connectionClose = false
  /** `Connection` lists `keep-alive`. */
  connectionKeepalive = false
  /** `Connection` lists `upgrade`. */
  connectionUpgrade = false
  /** An `Upgrade` field is present. */
  upgrade = false
}

/**
 * Scans the field names of a parsed head once for the fields that decide framing and
 * persistence. The switch on the name length rejects most names with one comparison and no
 * string allocation (`nameIs` compares case-insensitively in place).
 * @param names - header names as received
 * @param values - header values, in the same order
 * @param out - the record to fill (reset first)
 * @internal
 */
export function scanFramingFields(
  names: readonly string[],
  values: readonly string[],
  out: FramingFields,
): void {
  let transferEncoding: string | undefined
  let contentLength = -1
  let contentLengthIndex = -1
  let contentLengthCount = 0
  let contentLengthError = CL_OK
  let hostIndex = -1
  let hostCount = 0
  let connectionClose = false
  let connectionKeepalive = false
  let connectionUpgrade = false
  let upgrade = false
  for (let i = 0; i < names.length; i++) {
    const name = names[i] as string
    switch (name.length) {
      case 4:
        if (nameIs(name, 'host')) {
          hostCount++
          hostIndex = i
        }
        break
      case 7:
        if (nameIs(name, 'upgrade')) upgrade = true
        break
      case 10:
        if (nameIs(name, 'connection')) {
          const value = values[i] as string
          if (hasToken(value, 'close')) connectionClose = true
          if (hasToken(value, 'keep-alive')) connectionKeepalive = true
          if (hasToken(value, 'upgrade')) connectionUpgrade = true
        }
        break
      case 14:
        if (nameIs(name, 'content-length')) {
          const length = parseContentLength(values[i] as string)
          if (contentLengthError === CL_OK) {
            if (length === -1) contentLengthError = CL_INVALID
            else if (contentLength !== -1 && length !== contentLength) {
              contentLengthError = CL_CONFLICT
            }
          }
          if (length !== -1) contentLength = length
          if (contentLengthIndex === -1) contentLengthIndex = i
          contentLengthCount++
        }
        break
      case 17:
        if (nameIs(name, 'transfer-encoding')) {
          const value = values[i] as string
          transferEncoding = transferEncoding === undefined ? value : `${transferEncoding},${value}`
        }
        break
      default:
        break
    }
  }
  out.transferEncoding = transferEncoding
  out.contentLength = contentLength
  out.contentLengthIndex = contentLengthIndex
  out.contentLengthCount = contentLengthCount
  out.contentLengthError = contentLengthError
  out.hostIndex = hostIndex
  out.hostCount = hostCount
  out.connectionClose = connectionClose
  out.connectionKeepalive = connectionKeepalive
  out.connectionUpgrade = connectionUpgrade
  out.upgrade = upgrade
}
