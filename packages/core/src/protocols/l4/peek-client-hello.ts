import { PingoraError } from '@pingora-ts/error'
import { type ClientHelloInfo, INCOMPLETE, parseClientHello } from '@pingora-ts/tls'
import type { Stream } from './stream.ts'

/** How many bytes {@link peekClientHello} buffers at most unless told otherwise. */
export const DEFAULT_CLIENT_HELLO_PEEK_BYTES = 32 * 1024

/** How long {@link peekClientHello} waits for a whole ClientHello unless told otherwise. */
export const DEFAULT_CLIENT_HELLO_PEEK_TIMEOUT_MS = 10_000

/** Limits of {@link peekClientHello}. */
export interface PeekClientHelloOptions {
  /**
   * The most bytes buffered while looking for the end of the ClientHello; a longer one counts
   * as "not a ClientHello". @defaultValue {@link DEFAULT_CLIENT_HELLO_PEEK_BYTES}
   */
  readonly maxBytes?: number | undefined
  /**
   * How long the whole ClientHello may take to arrive, in ms.
   * @defaultValue {@link DEFAULT_CLIENT_HELLO_PEEK_TIMEOUT_MS}
   */
  readonly timeoutMs?: number | undefined
}

/**
 * Reads a TLS ClientHello from the start of a stream without terminating TLS (the
 * `ssl_preread` of nginx's stream module), then puts every byte back with `stream.unread`, so
 * the raw connection can be relayed as is. Resolves the SNI name and ALPN list, or `undefined`
 * when the first bytes are not a ClientHello, the hello exceeds `maxBytes` or the client ends
 * first.
 * @param stream - a freshly accepted stream nothing has read from yet
 * @param options - size and time limits
 * @throws PingoraError `ReadTimedout` (source `'downstream'`) when the ClientHello is not
 *   complete within `timeoutMs`; `ReadError` when the connection fails
 */
export async function peekClientHello(
  stream: Stream,
  options: PeekClientHelloOptions = {},
): Promise<ClientHelloInfo | undefined> {
  const maxBytes = options.maxBytes ?? DEFAULT_CLIENT_HELLO_PEEK_BYTES
  const timeoutMs = options.timeoutMs ?? DEFAULT_CLIENT_HELLO_PEEK_TIMEOUT_MS
  const deadline = Date.now() + timeoutMs
  let buffered: Buffer | undefined
  try {
    for (;;) {
      const remaining = deadline - Date.now()
      if (remaining <= 0) throw peekTimeout(timeoutMs)
      let chunk: Buffer | undefined
      try {
        chunk = await stream.read(remaining, 'reading the TLS ClientHello')
      } catch (error) {
        if (PingoraError.is(error) && error.type === 'ReadTimedout') throw peekTimeout(timeoutMs)
        throw error
      }
      if (chunk === undefined) return undefined
      buffered = buffered === undefined ? chunk : Buffer.concat([buffered, chunk])
      const result = parseClientHello(buffered)
      if (result === undefined || buffered.length > maxBytes) return undefined
      // The ticket is a view into bytes about to be relayed (and maybe freed): keep a copy.
      if (result !== INCOMPLETE) return { ...result, ticket: result.ticket?.slice() }
      if (buffered.length >= maxBytes) return undefined
    }
  } finally {
    if (buffered !== undefined) stream.unread(buffered)
  }
}

function peekTimeout(timeoutMs: number): PingoraError {
  return new PingoraError('ReadTimedout', {
    source: 'downstream',
    context: `TLS ClientHello not received within ${timeoutMs}ms`,
  })
}
