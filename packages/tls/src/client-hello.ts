import type { Socket } from 'node:net'

/** What a TLS ClientHello asks for, read before the handshake starts. */
export interface ClientHelloInfo {
  /** SNI host name (lower case), or `undefined` when the client sent none. */
  readonly servername: string | undefined
  /** ALPN protocols offered, in the client's order (empty when none). */
  readonly alpn: readonly string[]
  /**
   * The session ticket offered for resumption: the first TLS 1.3 PSK identity, else the TLS 1.2
   * `session_ticket` extension; `undefined` when none. A view into the parsed bytes.
   */
  readonly ticket: Uint8Array | undefined
}

/** The result of {@link parseClientHello} when more bytes are needed. */
export const INCOMPLETE = 'incomplete'

const RECORD_HEADER = 5
const HANDSHAKE_RECORD = 0x16
const CLIENT_HELLO = 0x01
const EXT_SERVER_NAME = 0x0000
const EXT_ALPN = 0x0010
const EXT_SESSION_TICKET = 0x0023
const EXT_PRE_SHARED_KEY = 0x0029
/** RFC 8446 §4: handshake messages fit a 24-bit length, but no sane ClientHello exceeds this. */
const MAX_CLIENT_HELLO = 65_536

/**
 * Parses the TLS ClientHello at the start of a connection (RFC 8446 §4.1.2, RFC 6066 §3,
 * RFC 7301 §3.1), possibly spread over several records. Returns {@link INCOMPLETE} when
 * `data` is a prefix of one, and `undefined` when it is not a ClientHello at all.
 * @param data - the bytes received so far
 */
export function parseClientHello(
  data: Uint8Array,
): ClientHelloInfo | typeof INCOMPLETE | undefined {
  // Gather the handshake message from consecutive handshake records.
  let offset = 0
  const parts: Uint8Array[] = []
  let have = 0
  let need = -1
  while (need < 0 || have < need) {
    if (data.length < offset + RECORD_HEADER)
      return data[0] === HANDSHAKE_RECORD || data.length === 0 ? INCOMPLETE : undefined
    if (data[offset] !== HANDSHAKE_RECORD || data[offset + 1] !== 0x03) return undefined
    const length = u16(data, offset + 3)
    if (length === 0) return undefined
    if (data.length < offset + RECORD_HEADER + length) return INCOMPLETE
    const fragment = data.subarray(offset + RECORD_HEADER, offset + RECORD_HEADER + length)
    parts.push(fragment)
    have += fragment.length
    offset += RECORD_HEADER + length
    if (need < 0 && have >= 4) {
      const head = parts.length === 1 ? fragment : concat(parts, have)
      if (head[0] !== CLIENT_HELLO) return undefined
      need = 4 + (((head[1] ?? 0) << 16) | ((head[2] ?? 0) << 8) | (head[3] ?? 0))
      if (need > MAX_CLIENT_HELLO) return undefined
    }
  }
  const message = parts.length === 1 ? parts[0] : concat(parts, have)
  return message === undefined ? undefined : parseBody(message.subarray(4, need))
}

function parseBody(body: Uint8Array): ClientHelloInfo | undefined {
  // legacy_version(2) random(32) session_id<0..32> cipher_suites<2..> compression<1..> extensions<..>
  let p = 34
  if (body.length < p + 1) return undefined
  p += 1 + (body[p] ?? 0)
  if (body.length < p + 2) return undefined
  p += 2 + u16(body, p)
  if (body.length < p + 1) return undefined
  p += 1 + (body[p] ?? 0)
  if (body.length < p + 2) return { servername: undefined, alpn: [], ticket: undefined }
  const end = Math.min(body.length, p + 2 + u16(body, p))
  p += 2
  let servername: string | undefined
  let ticket12: Uint8Array | undefined
  let ticket13: Uint8Array | undefined
  const alpn: string[] = []
  while (p + 4 <= end) {
    const type = u16(body, p)
    const length = u16(body, p + 2)
    const start = p + 4
    p = start + length
    if (p > end) return undefined
    if (type === EXT_SERVER_NAME) servername = readServerName(body, start, p)
    else if (type === EXT_ALPN) readAlpn(body, start, p, alpn)
    else if (type === EXT_SESSION_TICKET && length > 0) ticket12 = body.subarray(start, p)
    else if (type === EXT_PRE_SHARED_KEY) ticket13 = readFirstIdentity(body, start, p)
  }
  return { servername, alpn, ticket: ticket13 ?? ticket12 }
}

function readServerName(body: Uint8Array, start: number, end: number): string | undefined {
  let p = start + 2
  while (p + 3 <= end) {
    const type = body[p]
    const length = u16(body, p + 1)
    p += 3
    if (p + length > end) return undefined
    // name_type 0 is host_name; it is the only one defined.
    if (type === 0)
      return Buffer.from(body.subarray(p, p + length))
        .toString('latin1')
        .toLowerCase()
    p += length
  }
  return undefined
}

function readAlpn(body: Uint8Array, start: number, end: number, out: string[]): void {
  let p = start + 2
  while (p < end) {
    const length = body[p] ?? 0
    p += 1
    if (length === 0 || p + length > end) return
    out.push(Buffer.from(body.subarray(p, p + length)).toString('latin1'))
    p += length
  }
}

/** RFC 8446 §4.2.11: identities<7..2^16-1>, each opaque identity<1..2^16-1> + uint32 age. */
function readFirstIdentity(body: Uint8Array, start: number, end: number): Uint8Array | undefined {
  if (start + 4 > end) return undefined
  const length = u16(body, start + 2)
  const from = start + 4
  if (length === 0 || from + length > end) return undefined
  return body.subarray(from, from + length)
}

function u16(data: Uint8Array, at: number): number {
  return ((data[at] ?? 0) << 8) | (data[at + 1] ?? 0)
}

function concat(parts: Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size)
  let at = 0
  for (const part of parts) {
    out.set(part, at)
    at += part.length
  }
  return out
}

/**
 * Reads a socket until its TLS ClientHello is complete, then pushes every byte back
 * (`unshift`) so `new tls.TLSSocket(socket, ...)` sees the whole handshake. Lets a listener
 * pick the `SecureContext` before the handshake (see {@link TlsSettings.contextFor}). Resolves
 * `undefined` when the bytes are not a ClientHello or the socket ends first. Apply the
 * handshake timeout around it.
 * @param socket - a freshly accepted TCP socket
 */
export function readClientHello(socket: Socket): Promise<ClientHelloInfo | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    const finish = (result: ClientHelloInfo | undefined, error?: Error, ended = false) => {
      socket.off('data', onData)
      socket.off('end', onEnd)
      socket.off('error', onError)
      socket.pause()
      // After `end` the bytes are useless (and unshift would throw); the socket is finished.
      if (size > 0 && !ended)
        socket.unshift(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size))
      if (error !== undefined) reject(error)
      else resolve(result)
    }
    const onData = (chunk: Buffer) => {
      chunks.push(chunk)
      size += chunk.length
      const data = chunks.length === 1 ? chunk : Buffer.concat(chunks, size)
      const result = parseClientHello(data)
      if (result === INCOMPLETE) {
        if (size > MAX_CLIENT_HELLO + 1024) finish(undefined)
        return
      }
      finish(result)
    }
    const onEnd = () => finish(undefined, undefined, true)
    const onError = (error: Error) => finish(undefined, error)
    socket.on('data', onData)
    socket.once('end', onEnd)
    socket.once('error', onError)
  })
}
