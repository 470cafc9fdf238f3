import { PingoraError } from '@pingora-ts/error'
import type { FailToProxy } from './proxy-trait.ts'
import type { Session } from './session.ts'

const UPSTREAM_TIMEOUTS = new Set(['ReadTimedout', 'WriteTimedout', 'ConnectTimedout'])
const CLIENT_GONE = new Set(['ReadError', 'WriteError', 'ConnectionClosed', 'ReadTimedout'])

/**
 * The status a fatal error maps to (Pingora's mapping, plus 504 for upstream timeouts as
 * nginx does): the error's own status for `HTTPStatus`/`CustomCode` types; upstream errors →
 * 502 (timeouts → 504); downstream read/write/closed errors → `undefined` (nobody to
 * answer); other
 * downstream errors → 400; internal and unset → 500.
 * @param error - the error
 */
export function errorStatus(error: PingoraError): number | undefined {
  if (error.status !== undefined) return error.status
  switch (error.source) {
    case 'upstream':
      return UPSTREAM_TIMEOUTS.has(error.type) ? 504 : 502
    case 'downstream':
      return CLIENT_GONE.has(error.type) ? undefined : 400
    default:
      return 500
  }
}

/**
 * The default `failToProxy`: answers with {@link errorStatus}'s code (a canned empty response:
 * `Content-Length: 0`, `Cache-Control: private, no-store`) unless a response was already
 * started or the client is gone, and keeps the client connection only when the error came
 * from the upstream and the response was written completely. Call it from your own
 * `failToProxy` to keep the default behaviour.
 * @param session - the proxy session
 * @param error - the fatal error
 */
export async function defaultFailToProxy(
  session: Session,
  error: PingoraError,
): Promise<FailToProxy> {
  const code = errorStatus(error)
  // A 1xx (e.g. 100 Continue) may precede the error: only a final header rules out an answer.
  const written = session.responseWritten
  if (code === undefined || (written !== undefined && written.status >= 200)) {
    return { errorCode: undefined, canReuseDownstream: false }
  }
  try {
    await session.respondError(code)
  } catch (error) {
    if (!PingoraError.is(error)) throw error
    return { errorCode: undefined, canReuseDownstream: false }
  }
  return { errorCode: code, canReuseDownstream: error.source === 'upstream' }
}

/**
 * The one-line record of a failed request, for the `logging` phase of programs that log
 * upstream failures: the status sent, the request, then the error (type, source, context
 * naming the peer, cause): `502 GET /, Host: example.com: ConnectRefused Upstream context:
 * connecting to 127.0.0.1:8000 ...`. The status is the response already written, else what
 * {@link errorStatus} maps the error to (`-` when nothing was written and the client is gone).
 * @param session - the proxy session
 * @param error - the error `logging` received
 * @example
 * ```ts
 * logging(session: Session, error: PingoraError | undefined) {
 *   if (error !== undefined) process.stderr.write(`${failedRequestLine(session, error)}\n`)
 * }
 * ```
 */
export function failedRequestLine(session: Session, error: PingoraError): string {
  const status = session.responseWritten?.status ?? errorStatus(error) ?? '-'
  const message = error.message.replaceAll('\n', ' ')
  return `${status} ${session.requestSummary()}: ${message}`
}
