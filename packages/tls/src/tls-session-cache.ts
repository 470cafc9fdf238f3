import type { TLSSocket } from 'node:tls'

/**
 * A bounded LRU of client TLS sessions, so upstream connections resume instead of doing a full
 * handshake. Key it by everything that must match for a session to be reused (address, SNI,
 * CA, client certificate: core uses the peer's reuse hash). Pingora has no upstream resumption;
 * this is opt-in.
 *
 * ```ts
 * const socket = tls.connect({ ...options, session: cache.get(key) })
 * cache.track(socket, key)
 * ```
 */
export class TlsSessionCache {
  readonly #sessions: Map<string, Buffer>
  readonly #maxEntries: number

  /**
   * Creates an empty cache.
   * @param maxEntries - how many sessions to keep; the least recently used go first
   * @defaultValue maxEntries `1024`
   */
  constructor(maxEntries = 1024) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) {
      throw new RangeError(`maxEntries must be an integer >= 1, got ${String(maxEntries)}`)
    }
    this.#sessions = new Map()
    this.#maxEntries = maxEntries
  }

  /** How many sessions are cached. */
  get size(): number {
    return this.#sessions.size
  }

  /**
   * The session to resume for a key, if any.
   * @param key - the connection identity
   */
  get(key: string): Buffer | undefined {
    const session = this.#sessions.get(key)
    if (session !== undefined) {
      this.#sessions.delete(key)
      this.#sessions.set(key, session)
    }
    return session
  }

  /**
   * Stores a session (the newest one wins).
   * @param key - the connection identity
   * @param session - from the socket's `session` event
   */
  set(key: string, session: Buffer): void {
    this.#sessions.delete(key)
    if (this.#sessions.size >= this.#maxEntries) {
      const oldest = this.#sessions.keys().next()
      if (oldest.done !== true) this.#sessions.delete(oldest.value)
    }
    this.#sessions.set(key, session)
  }

  /**
   * Forgets the session for a key (after a failed resumption or a certificate error).
   * @param key - the connection identity
   */
  delete(key: string): void {
    this.#sessions.delete(key)
  }

  /**
   * Stores every session a client socket receives (TLS 1.3 tickets arrive after the handshake).
   * @param socket - a client TLS socket
   * @param key - the connection identity
   */
  track(socket: TLSSocket, key: string): void {
    socket.on('session', (session: Buffer) => this.set(key, session))
  }
}
