import { randomBytes } from 'node:crypto'

/**
 * Session ticket keys of {@link TlsSettings}: a fresh random key per rotation, and the check
 * that tells which key issued a ticket, so tickets of the previous key keep resuming for one
 * rotation period (the settings keep that key's contexts beside the current ones).
 *
 * ```text
 *  key (48 bytes) = name (16) | HMAC secret (16) | AES key (16)     (node:tls layout)
 *  ticket         = key name (16) | ...                             (checked by isIssuedUnder)
 * ```
 * @internal
 */

/** Size of a `node:tls` ticket key. @internal */
export const TICKET_KEY_BYTES = 48
/** Size of the key name a ticket starts with. @internal */
export const TICKET_KEY_NAME_BYTES = 16

/** A new random ticket key. @internal */
export function newTicketKey(): Buffer {
  return randomBytes(TICKET_KEY_BYTES)
}

/**
 * Whether a session ticket was issued under a key: `node:tls` tickets start with the 16-byte
 * name of the key that encrypted them.
 * @param ticket - the ticket the client offers
 * @param ticketKey - the key
 * @internal
 */
export function isIssuedUnder(ticket: Uint8Array, ticketKey: Buffer): boolean {
  if (ticket.length < TICKET_KEY_NAME_BYTES) return false
  for (let i = 0; i < TICKET_KEY_NAME_BYTES; i++) if (ticket[i] !== ticketKey[i]) return false
  return true
}

/**
 * Calls `rotate` every `intervalMs` on an unref'd timer (it never keeps the process alive). A
 * `rotate` that throws keeps the current key; the next interval tries again.
 * @param intervalMs - the rotation period
 * @param rotate - rotates the keys
 * @returns the timer, for `clearInterval`
 * @internal
 */
export function startTicketKeyRotation(intervalMs: number, rotate: () => void): NodeJS.Timeout {
  const timer = setInterval(() => {
    try {
      rotate()
    } catch {
      // Contexts were built from checked material; if OpenSSL still refuses, keep the current
      // key rather than crash from a timer.
    }
  }, intervalMs)
  timer.unref()
  return timer
}
