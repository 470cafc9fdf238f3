// The HTTP/2 frame layer (RFC 9113 §4 and §6): frame header parsing and serialising, the
// per-type length, flag and stream-id rules, padding, and a reader that cuts a byte stream into
// frames while holding at most one frame of the largest allowed size.

/** Frame types (RFC 9113 §6). @internal */
export const FrameType = {
  DATA: 0x0,
  HEADERS: 0x1,
  PRIORITY: 0x2,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PUSH_PROMISE: 0x5,
  PING: 0x6,
  GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8,
  CONTINUATION: 0x9,
} as const

/** Frame flags (RFC 9113 §6). @internal */
export const FrameFlag = {
  END_STREAM: 0x1,
  ACK: 0x1,
  END_HEADERS: 0x4,
  PADDED: 0x8,
  PRIORITY: 0x20,
} as const

/** Error codes of RST_STREAM and GOAWAY (RFC 9113 §7). @internal */
export const H2ErrorCode = {
  NO_ERROR: 0x0,
  PROTOCOL_ERROR: 0x1,
  INTERNAL_ERROR: 0x2,
  FLOW_CONTROL_ERROR: 0x3,
  SETTINGS_TIMEOUT: 0x4,
  STREAM_CLOSED: 0x5,
  FRAME_SIZE_ERROR: 0x6,
  REFUSED_STREAM: 0x7,
  CANCEL: 0x8,
  COMPRESSION_ERROR: 0x9,
  CONNECT_ERROR: 0xa,
  ENHANCE_YOUR_CALM: 0xb,
  INADEQUATE_SECURITY: 0xc,
  HTTP_1_1_REQUIRED: 0xd,
} as const

/** SETTINGS parameters (RFC 9113 §6.5.2). @internal */
export const SettingId = {
  HEADER_TABLE_SIZE: 0x1,
  ENABLE_PUSH: 0x2,
  MAX_CONCURRENT_STREAMS: 0x3,
  INITIAL_WINDOW_SIZE: 0x4,
  MAX_FRAME_SIZE: 0x5,
  MAX_HEADER_LIST_SIZE: 0x6,
} as const

/** The length of a frame header. @internal */
export const FRAME_HEADER_LENGTH = 9
/** The largest flow-control window (2^31 - 1). @internal */
export const MAX_WINDOW = 0x7fffffff
/** The initial window of every stream and connection before SETTINGS (RFC 9113 §6.9.2). @internal */
export const DEFAULT_WINDOW = 65_535
/** The smallest SETTINGS_MAX_FRAME_SIZE, and its initial value. @internal */
export const MIN_MAX_FRAME_SIZE = 16_384
/** The largest SETTINGS_MAX_FRAME_SIZE. @internal */
export const MAX_MAX_FRAME_SIZE = 0xffffff

/**
 * A protocol violation found in a frame: `code` is the RFC 9113 error code to send, `streamId`
 * the stream to reset for a stream error, or 0 for a connection error (GOAWAY).
 * @internal
 */
export class H2FrameError extends Error {
  /** The RFC 9113 error code. */
  readonly code: number
  /** 0 for a connection error, else the stream to reset. */
  readonly streamId: number
  constructor(code: number, streamId: number, message: string) {
    super(message)
    this.name = 'H2FrameError'
    this.code = code
    this.streamId = streamId
  }
}

/**
 * Checks a frame header against the rules of its type that need no connection state (RFC 9113
 * §6: stream id 0 or not, fixed lengths, SETTINGS ACK), and a frame a client may never send to
 * a server (PUSH_PROMISE). Returns `undefined` when it is fine, else the error to raise. Unknown
 * types are fine (they are ignored, §4.1). The frame size limit is checked by the reader.
 * @param type - the frame type
 * @param flags - its flags
 * @param streamId - its stream id
 * @param length - its payload length
 * @internal
 */
export function checkFrameHeader(
  type: number,
  flags: number,
  streamId: number,
  length: number,
): H2FrameError | undefined {
  switch (type) {
    case FrameType.DATA:
    case FrameType.HEADERS:
    case FrameType.CONTINUATION:
      if (streamId === 0) return connectionError(H2ErrorCode.PROTOCOL_ERROR, 'frame on stream 0')
      return undefined
    case FrameType.PRIORITY:
      if (streamId === 0) return connectionError(H2ErrorCode.PROTOCOL_ERROR, 'PRIORITY on stream 0')
      if (length !== 5) {
        return new H2FrameError(H2ErrorCode.FRAME_SIZE_ERROR, streamId, 'PRIORITY length is not 5')
      }
      return undefined
    case FrameType.RST_STREAM:
      if (streamId === 0) {
        return connectionError(H2ErrorCode.PROTOCOL_ERROR, 'RST_STREAM on stream 0')
      }
      if (length !== 4) {
        return connectionError(H2ErrorCode.FRAME_SIZE_ERROR, 'RST_STREAM length is not 4')
      }
      return undefined
    case FrameType.SETTINGS:
      if (streamId !== 0) {
        return connectionError(H2ErrorCode.PROTOCOL_ERROR, 'SETTINGS on a stream')
      }
      if ((flags & FrameFlag.ACK) !== 0 && length !== 0) {
        return connectionError(H2ErrorCode.FRAME_SIZE_ERROR, 'SETTINGS ACK with a payload')
      }
      if (length % 6 !== 0) {
        return connectionError(H2ErrorCode.FRAME_SIZE_ERROR, 'SETTINGS length not a multiple of 6')
      }
      return undefined
    case FrameType.PUSH_PROMISE:
      return connectionError(H2ErrorCode.PROTOCOL_ERROR, 'PUSH_PROMISE from a client')
    case FrameType.PING:
      if (streamId !== 0) return connectionError(H2ErrorCode.PROTOCOL_ERROR, 'PING on a stream')
      if (length !== 8) return connectionError(H2ErrorCode.FRAME_SIZE_ERROR, 'PING length is not 8')
      return undefined
    case FrameType.GOAWAY:
      if (streamId !== 0) return connectionError(H2ErrorCode.PROTOCOL_ERROR, 'GOAWAY on a stream')
      if (length < 8) return connectionError(H2ErrorCode.FRAME_SIZE_ERROR, 'GOAWAY shorter than 8')
      return undefined
    case FrameType.WINDOW_UPDATE:
      if (length !== 4) {
        return connectionError(H2ErrorCode.FRAME_SIZE_ERROR, 'WINDOW_UPDATE length is not 4')
      }
      return undefined
    default:
      return undefined
  }
}

function connectionError(code: number, message: string): H2FrameError {
  return new H2FrameError(code, 0, message)
}

/**
 * Where the content of a DATA or HEADERS payload ends once its padding is removed
 * (RFC 9113 §6.1): `end` itself without the PADDED flag. Throws a connection PROTOCOL_ERROR
 * when the pad length does not fit the payload.
 * @param buffer - the bytes
 * @param start - the payload's first byte
 * @param end - one past its last byte
 * @param flags - the frame's flags
 * @internal
 */
export function paddedEnd(buffer: Uint8Array, start: number, end: number, flags: number): number {
  if ((flags & FrameFlag.PADDED) === 0) return end
  if (start >= end)
    throw connectionError(H2ErrorCode.PROTOCOL_ERROR, 'PADDED frame without pad length')
  const pad = buffer[start] as number
  if (pad >= end - start) {
    throw connectionError(H2ErrorCode.PROTOCOL_ERROR, 'padding longer than the payload')
  }
  return end - pad
}

/**
 * Writes a 9-byte frame header at `offset`.
 * @param target - the buffer
 * @param offset - where the header starts
 * @param length - the payload length (at most 2^24 - 1)
 * @param type - the frame type
 * @param flags - the flags
 * @param streamId - the stream id (the reserved bit is written as 0)
 * @returns the offset after the header
 * @internal
 */
export function writeFrameHeader(
  target: Buffer,
  offset: number,
  length: number,
  type: number,
  flags: number,
  streamId: number,
): number {
  target[offset] = (length >>> 16) & 0xff
  target[offset + 1] = (length >>> 8) & 0xff
  target[offset + 2] = length & 0xff
  target[offset + 3] = type
  target[offset + 4] = flags
  target.writeUInt32BE(streamId & MAX_WINDOW, offset + 5)
  return offset + FRAME_HEADER_LENGTH
}

/**
 * A whole frame: header and a copy of `payload`.
 * @param type - the frame type
 * @param flags - the flags
 * @param streamId - the stream id
 * @param payload - the payload, or `undefined` for none
 * @internal
 */
export function encodeFrame(
  type: number,
  flags: number,
  streamId: number,
  payload?: Uint8Array,
): Buffer {
  const length = payload === undefined ? 0 : payload.length
  const frame = Buffer.allocUnsafe(FRAME_HEADER_LENGTH + length)
  writeFrameHeader(frame, 0, length, type, flags, streamId)
  if (payload !== undefined) frame.set(payload, FRAME_HEADER_LENGTH)
  return frame
}

/**
 * A SETTINGS frame with the given `[id, value]` pairs.
 * @param pairs - the settings
 * @internal
 */
export function encodeSettings(pairs: ReadonlyArray<readonly [number, number]>): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_HEADER_LENGTH + 6 * pairs.length)
  writeFrameHeader(frame, 0, 6 * pairs.length, FrameType.SETTINGS, 0, 0)
  let offset = FRAME_HEADER_LENGTH
  for (const [id, value] of pairs) {
    frame.writeUInt16BE(id, offset)
    frame.writeUInt32BE(value >>> 0, offset + 2)
    offset += 6
  }
  return frame
}

/** The SETTINGS ACK frame (shared, never modified). @internal */
export const SETTINGS_ACK: Buffer = encodeFrame(FrameType.SETTINGS, FrameFlag.ACK, 0)

/**
 * A PING frame.
 * @param opaque - the 8 bytes of opaque data
 * @param isAck - `true` for the answer to a PING
 * @internal
 */
export function encodePing(opaque: Uint8Array, isAck: boolean): Buffer {
  return encodeFrame(FrameType.PING, isAck ? FrameFlag.ACK : 0, 0, opaque)
}

/**
 * A GOAWAY frame.
 * @param lastStreamId - the last stream the sender processed (or may process)
 * @param code - the error code
 * @param debug - optional debug data
 * @internal
 */
export function encodeGoaway(lastStreamId: number, code: number, debug?: string): Buffer {
  const debugLength = debug === undefined ? 0 : Buffer.byteLength(debug)
  const frame = Buffer.allocUnsafe(FRAME_HEADER_LENGTH + 8 + debugLength)
  writeFrameHeader(frame, 0, 8 + debugLength, FrameType.GOAWAY, 0, 0)
  frame.writeUInt32BE(lastStreamId & MAX_WINDOW, 9)
  frame.writeUInt32BE(code >>> 0, 13)
  if (debug !== undefined) frame.write(debug, 17)
  return frame
}

/**
 * An RST_STREAM frame.
 * @param streamId - the stream
 * @param code - the error code
 * @internal
 */
export function encodeRstStream(streamId: number, code: number): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_HEADER_LENGTH + 4)
  writeFrameHeader(frame, 0, 4, FrameType.RST_STREAM, 0, streamId)
  frame.writeUInt32BE(code >>> 0, 9)
  return frame
}

/**
 * A WINDOW_UPDATE frame.
 * @param streamId - the stream, or 0 for the connection
 * @param increment - the window increment (1 to 2^31 - 1)
 * @internal
 */
export function encodeWindowUpdate(streamId: number, increment: number): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_HEADER_LENGTH + 4)
  writeFrameHeader(frame, 0, 4, FrameType.WINDOW_UPDATE, 0, streamId)
  frame.writeUInt32BE(increment & MAX_WINDOW, 9)
  return frame
}

/**
 * What a {@link FrameReader} hands each whole frame to. `payload` is valid only during the
 * call unless the handler keeps a reference to it (it is never reused by the reader).
 * @internal
 */
export interface FrameHandler {
  /**
   * Handles one frame.
   * @param type - the frame type
   * @param flags - its flags
   * @param streamId - its stream id (the reserved bit cleared)
   * @param payload - the buffer holding the payload
   * @param start - the payload's first byte in `payload`
   * @param end - one past its last byte
   * @returns `false` to stop reading (the connection is going away)
   */
  onFrame(
    type: number,
    flags: number,
    streamId: number,
    payload: Buffer,
    start: number,
    end: number,
  ): boolean
}

/**
 * Cuts a byte stream into frames (RFC 9113 §4.1). A frame larger than `maxFrameSize` throws a
 * connection FRAME_SIZE_ERROR as soon as its header is read; a frame split over reads is
 * gathered in one buffer of exactly its size, so the reader never holds more than one frame of
 * the largest allowed size. Frames wholly inside one read are handed over as views of it
 * (no copy).
 * @internal
 */
export class FrameReader {
  readonly #handler: FrameHandler
  readonly #maxFrameSize: number
  /** A frame split over reads: its bytes so far (the header first). */
  #partial: Buffer | undefined
  #partialLength: number
  #stopped: boolean

  /**
   * @param handler - receives the frames
   * @param maxFrameSize - the largest payload accepted (our SETTINGS_MAX_FRAME_SIZE)
   */
  constructor(handler: FrameHandler, maxFrameSize: number) {
    this.#handler = handler
    this.#maxFrameSize = maxFrameSize
    this.#partial = undefined
    this.#partialLength = 0
    this.#stopped = false
  }

  /** Bytes held for a frame that is not complete yet. */
  get bufferedLength(): number {
    return this.#partialLength
  }

  /**
   * Feeds the next bytes read; hands every complete frame to the handler.
   * @param chunk - the bytes
   * @throws H2FrameError FRAME_SIZE_ERROR for a frame over the limit (or what the handler throws)
   */
  push(chunk: Buffer): void {
    if (this.#stopped) return
    let offset = 0
    if (this.#partial !== undefined) {
      offset = this.#fillPartial(chunk)
      if (offset < 0) return
    }
    const length = chunk.length
    const handler = this.#handler
    while (length - offset >= FRAME_HEADER_LENGTH) {
      const payloadLength =
        ((chunk[offset] as number) << 16) |
        ((chunk[offset + 1] as number) << 8) |
        (chunk[offset + 2] as number)
      if (payloadLength > this.#maxFrameSize) throw this.#tooLarge(payloadLength)
      const end = offset + FRAME_HEADER_LENGTH + payloadLength
      if (end > length) break
      const keepGoing = handler.onFrame(
        chunk[offset + 3] as number,
        chunk[offset + 4] as number,
        chunk.readUInt32BE(offset + 5) & MAX_WINDOW,
        chunk,
        offset + FRAME_HEADER_LENGTH,
        end,
      )
      offset = end
      if (!keepGoing) {
        this.#stopped = true
        return
      }
    }
    if (offset < length) this.#startPartial(chunk, offset)
  }

  #tooLarge(payloadLength: number): H2FrameError {
    this.#stopped = true
    return connectionError(
      H2ErrorCode.FRAME_SIZE_ERROR,
      `frame of ${payloadLength} bytes over the limit of ${this.#maxFrameSize}`,
    )
  }

  #startPartial(chunk: Buffer, offset: number): void {
    const rest = chunk.length - offset
    let size = FRAME_HEADER_LENGTH
    if (rest >= FRAME_HEADER_LENGTH) {
      const payloadLength =
        ((chunk[offset] as number) << 16) |
        ((chunk[offset + 1] as number) << 8) |
        (chunk[offset + 2] as number)
      size += payloadLength
    }
    const partial = Buffer.allocUnsafe(size)
    chunk.copy(partial, 0, offset)
    this.#partial = partial
    this.#partialLength = rest
  }

  /** Completes the split frame from `chunk`; returns where the rest of `chunk` starts, or -1. */
  #fillPartial(chunk: Buffer): number {
    let partial = this.#partial as Buffer
    let filled = this.#partialLength
    let offset = 0
    if (partial.length === FRAME_HEADER_LENGTH && filled < FRAME_HEADER_LENGTH) {
      const take = Math.min(FRAME_HEADER_LENGTH - filled, chunk.length)
      chunk.copy(partial, filled, 0, take)
      filled += take
      offset = take
      if (filled < FRAME_HEADER_LENGTH) {
        this.#partialLength = filled
        return -1
      }
      const payloadLength =
        ((partial[0] as number) << 16) | ((partial[1] as number) << 8) | (partial[2] as number)
      if (payloadLength > this.#maxFrameSize) throw this.#tooLarge(payloadLength)
      if (payloadLength > 0) {
        const grown = Buffer.allocUnsafe(FRAME_HEADER_LENGTH + payloadLength)
        partial.copy(grown, 0, 0, FRAME_HEADER_LENGTH)
        partial = grown
      }
    }
    const take = Math.min(partial.length - filled, chunk.length - offset)
    chunk.copy(partial, filled, offset, offset + take)
    filled += take
    offset += take
    if (filled < partial.length) {
      this.#partial = partial
      this.#partialLength = filled
      return -1
    }
    this.#partial = undefined
    this.#partialLength = 0
    const keepGoing = this.#handler.onFrame(
      partial[3] as number,
      partial[4] as number,
      partial.readUInt32BE(5) & MAX_WINDOW,
      partial,
      FRAME_HEADER_LENGTH,
      partial.length,
    )
    if (!keepGoing) {
      this.#stopped = true
      return -1
    }
    return offset
  }

  /** Stops reading: later bytes are dropped. */
  stop(): void {
    this.#stopped = true
    this.#partial = undefined
    this.#partialLength = 0
  }
}
