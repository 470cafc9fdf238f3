/**
 * HTTP request and response headers that keep every header name's case and order, and every
 * byte of the request target, so a proxy forwards what it received unchanged. The header model
 * every other pingora-ts package uses; the TypeScript counterpart of `pingora-http`.
 *
 * Names, values and targets are JS strings holding bytes as latin1 (`'binary'`): char code `n`
 * is byte `n`, so obs-text (0x80-0xFF) round-trips losslessly through `Buffer`s.
 *
 * Use {@link RequestHeader.build} / {@link ResponseHeader.build} to create headers (validated),
 * `fromRaw` in parsers (trusted), `toH1Wire` / `toH2Headers` to send them. See the package
 * README for an API sketch and benchmark numbers.
 *
 * @module @pingora-ts/http
 * @packageDocumentation
 */
export { canonicalReason } from './canonical-reason.ts'
export {
  FIELD_VALUE_CHARS,
  isToken,
  isValidHeaderValue,
  isValidRequestTarget,
  REQUEST_TARGET_CHARS,
  TOKEN_CHARS,
} from './chars.ts'
export type { H2Headers } from './h2-fields.ts'
export { HeaderMap, type HeaderValueInput } from './header-map.ts'
export { type HttpVersion, isHttpVersion } from './http-version.ts'
export {
  type RequestH2Options,
  RequestHeader,
  type RequestHeaderBuildOptions,
} from './request-header.ts'
export { ResponseHeader, type ResponseHeaderBuildOptions } from './response-header.ts'
