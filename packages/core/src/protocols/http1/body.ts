import { PingoraError } from '@pingora-ts/error'
import { FIELD_VALUE_CHARS, TOKEN_CHARS } from '@pingora-ts/http'

// Local bindings: module-namespace lookups (as some bundlers and test runners emit) must not
// sit inside the per-byte loops.
const TOKEN_TABLE: Uint8Array = TOKEN_CHARS
const FIELD_VALUE_TABLE: Uint8Array = FIELD_VALUE_CHARS

import type { Stream } from '../l4/stream.ts'

/**
 * HTTP/1 message body framing: {@link BodyReader} decodes content-length, chunked and
 * close-delimited bodies from a {@link Stream}; {@link BodyWriter} encodes them. Port of
 * `pingora-core/src/protocols/http/v1/body.rs`.
 */

/** Longest chunk-size line (size, extensions and CRLF) accepted, in bytes. */
export const MAX_CHUNK_HEAD_BYTES = 8 * 1024
/** Largest trailer section accepted after the last chunk, in bytes. */
export const MAX_TRAILER_BYTES = 64 * 1024
/** Largest chunk size accepted (fits a double exactly). */
const MAX_CHUNK_SIZE = Number.MAX_SAFE_INTEGER

const CR = 0x0d
const LF = 0x0a

/** Where {@link BodyReader.feed} pushes back bytes past what it consumed (a {@link Stream}). */
export interface UnreadSink {
  /** Takes back bytes to be read again. */
  unread(chunk: Buffer): void
}

/** How a body is framed. */
export type BodyMode = 'none' | 'length' | 'chunked' | 'close'

const S_SIZE = 0
const S_SIZE_WS = 1
const S_EXT = 2
const S_SIZE_LF = 3
const S_DATA = 4
const S_DATA_CR = 5
const S_DATA_LF = 6
const S_TRAILER = 7
const S_TRAILER_LF = 8
const S_DONE = 9

const HEX = new Int8Array(256).fill(-1)
for (let i = 0; i < 10; i++) HEX[0x30 + i] = i
for (let i = 0; i < 6; i++) {
  HEX[0x41 + i] = 10 + i
  HEX[0x61 + i] = 10 + i
}

/**
 * Reads one message body from a stream according to its framing. Bytes past the end of the
 * body are pushed back into the stream for the next message (pipelining).
 */
export class BodyReader {
  /** The framing. */
  mode: BodyMode
  /** Whether the whole body has been read. */
  done: boolean
  /** Body bytes still expected in `length` mode; bytes left in the current chunk otherwise. */
  remaining: number
  /** Whether the body was read to its end through the framing (not cut by an error). */
  complete: boolean
  #state: number
  #headBytes: number
  #chunkSize: number
  #sizeDigits: number
  #trailerBytes: number
  #lineBytes: number
  #lineStart: boolean
  #errorSource: 'upstream' | 'downstream'

  /**
   * Creates a reader with no body (call an `init...` method to set the framing).
   * @param errorSource - the source stamped on framing errors
   */
  constructor(errorSource: 'upstream' | 'downstream') {
    this.mode = 'none'
    this.done = true
    this.remaining = 0
    this.complete = true
    this.#state = S_SIZE
    this.#headBytes = 0
    this.#chunkSize = 0
    this.#sizeDigits = 0
    this.#trailerBytes = 0
    this.#lineBytes = 0
    this.#lineStart = true
    this.#errorSource = errorSource
  }

  /** Sets an empty body. */
  initNone(): void {
    this.mode = 'none'
    this.done = true
    this.complete = true
    this.remaining = 0
  }

  /**
   * Sets a body of exactly `length` bytes.
   * @param length - the Content-Length
   */
  initLength(length: number): void {
    this.mode = 'length'
    this.remaining = length
    this.done = length === 0
    this.complete = this.done
  }

  /** Sets a chunked body. */
  initChunked(): void {
    this.mode = 'chunked'
    this.done = false
    this.complete = false
    this.remaining = 0
    this.#state = S_SIZE
    this.#headBytes = 0
    this.#chunkSize = 0
    this.#sizeDigits = 0
    this.#trailerBytes = 0
  }

  /** Sets a body that ends when the peer closes (responses and upgraded connections). */
  initClose(): void {
    this.mode = 'close'
    this.done = false
    this.complete = false
    this.remaining = 0
  }

  /**
   * Reads the next piece of body; `undefined` at its end.
   * @param stream - where to read from
   * @param timeoutMs - the read timeout
   * @throws PingoraError `ConnectionClosed` when the peer closes before the framing says the
   *   body ended; `H1Error` on invalid chunked encoding; read errors from the stream
   */
  async read(stream: Stream, timeoutMs: number | undefined): Promise<Buffer | undefined> {
    while (!this.done) {
      const chunk = stream.tryRead() ?? (await stream.read(timeoutMs, 'reading body'))
      if (chunk === undefined) {
        if (this.mode === 'close') {
          this.done = true
          this.complete = true
          return undefined
        }
        this.done = true
        throw new PingoraError('ConnectionClosed', {
          source: this.#errorSource,
          context:
            this.mode === 'length'
              ? `peer closed with ${this.remaining} body bytes left`
              : 'peer closed inside a chunked body',
        })
      }
      const data = this.feed(stream, chunk)
      if (data !== undefined) return data
    }
    return undefined
  }

  /**
   * Decodes one received chunk: returns the body bytes it holds (possibly `undefined` when it held
   * only framing) and pushes bytes past the body's end back into `stream`.
   */
  feed(stream: UnreadSink, chunk: Buffer): Buffer | undefined {
    switch (this.mode) {
      case 'length': {
        const remaining = this.remaining
        if (chunk.length < remaining) {
          this.remaining = remaining - chunk.length
          return chunk
        }
        this.remaining = 0
        this.done = true
        this.complete = true
        if (chunk.length > remaining) {
          stream.unread(chunk.subarray(remaining))
          return chunk.subarray(0, remaining)
        }
        return chunk
      }
      case 'chunked':
        return this.#feedChunked(stream, chunk)
      case 'close':
        return chunk
      default:
        stream.unread(chunk)
        this.done = true
        return undefined
    }
  }

  #invalid(context: string): PingoraError {
    this.done = true
    this.complete = false
    return new PingoraError('H1Error', {
      source: this.#errorSource,
      context: `invalid chunked body: ${context}`,
    })
  }

  #feedChunked(stream: UnreadSink, chunk: Buffer): Buffer | undefined {
    const length = chunk.length
    let i = 0
    while (i < length) {
      const state = this.#state
      if (state === S_DATA) {
        const take = Math.min(this.remaining, length - i)
        const data = chunk.subarray(i, i + take)
        this.remaining -= take
        i += take
        if (this.remaining === 0) this.#state = S_DATA_CR
        if (i < length) stream.unread(chunk.subarray(i))
        return data
      }
      const byte = chunk[i] as number
      i++
      if (state <= S_SIZE_LF) {
        if (++this.#headBytes > MAX_CHUNK_HEAD_BYTES)
          throw this.#invalid('chunk-size line too long')
      }
      switch (state) {
        case S_SIZE: {
          const digit = HEX[byte] as number
          if (digit !== -1) {
            if (++this.#sizeDigits > 13) throw this.#invalid('chunk size too large')
            this.#chunkSize = this.#chunkSize * 16 + digit
            if (this.#chunkSize > MAX_CHUNK_SIZE) throw this.#invalid('chunk size too large')
            break
          }
          if (this.#sizeDigits === 0) throw this.#invalid('missing chunk size')
          if (byte === CR) this.#state = S_SIZE_LF
          else if (byte === 0x3b) this.#state = S_EXT
          else if (byte === 0x20 || byte === 0x09) this.#state = S_SIZE_WS
          else throw this.#invalid('bad byte in chunk size')
          break
        }
        case S_SIZE_WS:
          // BWS before a chunk extension (RFC 9112 §7.1.1).
          if (byte === 0x3b) this.#state = S_EXT
          else if (byte === CR) this.#state = S_SIZE_LF
          else if (byte !== 0x20 && byte !== 0x09) throw this.#invalid('bad byte after chunk size')
          break
        case S_EXT:
          // Extensions are tolerated and ignored; they may not contain CTLs.
          if (byte === CR) this.#state = S_SIZE_LF
          else if (FIELD_VALUE_TABLE[byte] !== 1) throw this.#invalid('bad byte in chunk extension')
          break
        case S_SIZE_LF:
          if (byte !== LF) throw this.#invalid('bare CR in chunk-size line')
          this.#headBytes = 0
          this.#sizeDigits = 0
          if (this.#chunkSize === 0) {
            this.#state = S_TRAILER
            this.#lineBytes = 0
            this.#lineStart = true
          } else {
            this.remaining = this.#chunkSize
            this.#chunkSize = 0
            this.#state = S_DATA
          }
          break
        case S_DATA_CR:
          if (byte !== CR) throw this.#invalid('missing CRLF after chunk data')
          this.#state = S_DATA_LF
          break
        case S_DATA_LF:
          if (byte !== LF) throw this.#invalid('missing CRLF after chunk data')
          this.#state = S_SIZE
          break
        case S_TRAILER:
          // Trailer fields are checked for syntax and discarded (as Pingora does).
          if (++this.#trailerBytes > MAX_TRAILER_BYTES) throw this.#invalid('trailers too large')
          if (byte === CR) {
            this.#state = S_TRAILER_LF
          } else if (this.#lineStart) {
            if (TOKEN_TABLE[byte] !== 1) throw this.#invalid('bad trailer field')
            this.#lineStart = false
            this.#lineBytes = 1
          } else if (FIELD_VALUE_TABLE[byte] !== 1 && byte !== 0x3a) {
            throw this.#invalid('bad byte in trailer field')
          } else {
            this.#lineBytes++
          }
          break
        case S_TRAILER_LF:
          if (byte !== LF) throw this.#invalid('bare CR in trailers')
          if (this.#lineBytes === 0) {
            this.#state = S_DONE
            this.done = true
            this.complete = true
            if (i < length) stream.unread(chunk.subarray(i))
            return undefined
          }
          this.#state = S_TRAILER
          this.#lineBytes = 0
          this.#lineStart = true
          break
        default:
          throw this.#invalid('unexpected state')
      }
    }
    return undefined
  }
}

/** Collects what {@link BodyReader.feed} pushes back (one piece per feed). */
class PushedBack implements UnreadSink {
  rest: Buffer | undefined = undefined
  unread(chunk: Buffer): void {
    this.rest = chunk
  }
}

/**
 * Checks the start of a chunked body for invalid framing without consuming it: runs a
 * chunked decoder over `pieces` (the bytes already received, in order) and reports the first
 * error. Bytes past the end of the body (a pipelined request) are not looked at. A server uses
 * it to refuse a request whose body is already known to be malformed before forwarding its head.
 * @param pieces - the received bytes of the body, in order
 * @returns why the framing is invalid, or `undefined` when it is valid so far
 */
export function checkChunkedPrefix(pieces: readonly Buffer[]): string | undefined {
  const reader = new BodyReader('downstream')
  reader.initChunked()
  const pushed = new PushedBack()
  try {
    for (let i = 0; i < pieces.length; i++) {
      let piece: Buffer | undefined = pieces[i] as Buffer
      while (piece !== undefined && !reader.done) {
        pushed.rest = undefined
        reader.feed(pushed, piece)
        piece = pushed.rest
      }
      if (reader.done) return undefined
    }
  } catch (error) {
    return PingoraError.is(error) ? (error.context ?? error.message) : String(error)
  }
  return undefined
}

const CHUNK_END = Buffer.from('\r\n', 'latin1')
const LAST_CHUNK = '0\r\n\r\n'
/** Bodies smaller than this are copied into one buffer with their chunk framing. */
const COALESCE_LIMIT = 16 * 1024
/** Bodies up to this size are written with their head as one latin1 string. */
const STRING_JOIN_LIMIT = 1024

function latin1(data: Uint8Array): string {
  const bytes =
    data instanceof Buffer ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength)
  return bytes.toString('latin1')
}

/**
 * Writes one message body to a stream with its framing.
 */
export class BodyWriter {
  /** The framing. */
  mode: BodyMode
  /** Bytes still allowed in `length` mode. */
  remaining: number
  /** Whether the body has been finished (last chunk written or length reached). */
  finished: boolean
  /** Application body bytes written. */
  bytesWritten: number
  #errorSource: 'upstream' | 'downstream'

  /**
   * Creates a writer with no body.
   * @param errorSource - the source stamped on write errors
   */
  constructor(errorSource: 'upstream' | 'downstream') {
    this.mode = 'none'
    this.remaining = 0
    this.finished = false
    this.bytesWritten = 0
    this.#errorSource = errorSource
  }

  /**
   * Sets the framing.
   * @param mode - how the body is framed
   * @param length - the Content-Length in `length` mode
   */
  init(mode: BodyMode, length = 0): void {
    this.mode = mode
    this.remaining = length
    this.finished = false
    this.bytesWritten = 0
  }

  /** Whether the body was written completely: every declared byte sent, or finished. */
  get complete(): boolean {
    return this.mode === 'length' ? this.remaining === 0 : this.finished
  }

  /**
   * Frames `data` for the wire (a chunk header for chunked), or returns `undefined` for none.
   * `prefix` (a pending head) is written in the same call.
   * @returns whether the socket buffer is below its high-water mark
   * @throws PingoraError `H1Error` when more bytes than the Content-Length are written
   */
  write(stream: Stream, data: Uint8Array, prefix: string | undefined): boolean {
    const length = data.length
    switch (this.mode) {
      case 'length': {
        if (length > this.remaining) {
          throw new PingoraError('H1Error', {
            source: 'internal',
            context: `body larger than Content-Length (${length} bytes, ${this.remaining} left)`,
          })
        }
        this.remaining -= length
        this.bytesWritten += length
        return writeWithPrefix(stream, prefix, data)
      }
      case 'chunked': {
        if (length === 0) return prefix === undefined ? true : stream.write(prefix)
        this.bytesWritten += length
        const sizeLine = `${length.toString(16)}\r\n`
        const head = prefix === undefined ? sizeLine : prefix + sizeLine
        if (length <= COALESCE_LIMIT) {
          const out = Buffer.allocUnsafe(head.length + length + 2)
          out.write(head, 0, 'latin1')
          out.set(data, head.length)
          out[head.length + length] = CR
          out[head.length + length + 1] = LF
          return stream.write(out)
        }
        stream.cork()
        stream.write(head)
        stream.write(data)
        const ok = stream.write(CHUNK_END)
        stream.uncork()
        return ok
      }
      case 'close':
        this.bytesWritten += length
        return writeWithPrefix(stream, prefix, data)
      default:
        // No body allowed (HEAD, 204, 304): the bytes are dropped.
        return prefix === undefined ? true : stream.write(prefix)
    }
  }

  /**
   * The bytes that end the body (the last chunk for chunked), marking it finished.
   * @returns the terminator, or `''` when none is needed
   */
  finish(): string {
    if (this.finished) return ''
    this.finished = true
    return this.mode === 'chunked' ? LAST_CHUNK : ''
  }

  /** The error source for write failures. */
  get errorSource(): 'upstream' | 'downstream' {
    return this.#errorSource
  }
}

function writeWithPrefix(stream: Stream, prefix: string | undefined, data: Uint8Array): boolean {
  if (prefix === undefined) return data.length === 0 ? true : stream.write(data)
  if (data.length === 0) return stream.write(prefix)
  if (data.length <= STRING_JOIN_LIMIT) {
    // A small body joins the head as text: Node writes a latin1 string from native code with
    // no JS buffer to allocate and fill.
    return stream.write(prefix + latin1(data))
  }
  if (data.length <= COALESCE_LIMIT) {
    const out = Buffer.allocUnsafe(prefix.length + data.length)
    out.write(prefix, 0, 'latin1')
    out.set(data, prefix.length)
    return stream.write(out)
  }
  stream.cork()
  stream.write(prefix)
  const ok = stream.write(data)
  stream.uncork()
  return ok
}
