import { ResponseHeader } from '@pingora-ts/http'
import { getCachedDate } from './date.ts'

/** The `Server` header value of generated error responses. */
export const SERVER_NAME = 'pingora-ts'

/**
 * Builds a bodiless error response: the status, `Server: pingora-ts`, `Date`,
 * `Content-Length: 0` and `Cache-Control: private, no-store`. Port of
 * `pingora-core/src/protocols/http/error_resp.rs`.
 * @param status - the status code
 */
export function generateErrorResponse(status: number): ResponseHeader {
  const response = ResponseHeader.build(status)
  response.insertHeader('Server', SERVER_NAME)
  response.insertHeader('Date', getCachedDate())
  response.insertHeader('Content-Length', '0')
  response.insertHeader('Cache-Control', 'private, no-store')
  return response
}
