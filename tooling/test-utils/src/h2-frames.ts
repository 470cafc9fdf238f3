import net from 'node:net'

/** HTTP/2 frame types (RFC 9113 §6). */
export const H2_FRAME = {
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

/** HTTP/2 frame flags. */
export const H2_FLAG = {
  END_STREAM: 0x1,
  ACK: 0x1,
  END_HEADERS: 0x4,
  PADDED: 0x8,
  PRIORITY: 0x20,
} as const

/** HTTP/2 error codes (RFC 9113 §7). */
export const H2_ERROR = {
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

/** The client connection preface. */
export const H2_CLIENT_PREFACE: Buffer = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1')

interface FrameWaiter {
  test: (frame: H2Frame) => boolean
  resolve: (frame: H2Frame) => void
}

/** One received frame. */
export interface H2Frame {
  readonly type: number
  readonly flags: number
  readonly streamId: number
  readonly payload: Buffer
}

/**
 * Encodes one frame.
 * @param type - the frame type
 * @param flags - the flags
 * @param streamId - the stream id
 * @param payload - the payload
 */
export function h2Frame(
  type: number,
  flags: number,
  streamId: number,
  payload: Buffer = Buffer.alloc(0),
): Buffer {
  const header = Buffer.alloc(9)
  header.writeUIntBE(payload.length, 0, 3)
  header[3] = type
  header[4] = flags
  header.writeUInt32BE(streamId & 0x7fffffff, 5)
  return Buffer.concat([header, payload])
}

/**
 * A SETTINGS frame.
 * @param pairs - `[identifier, value]` pairs
 */
export function h2Settings(pairs: ReadonlyArray<readonly [number, number]> = []): Buffer {
  const payload = Buffer.alloc(6 * pairs.length)
  pairs.forEach(([id, value], i) => {
    payload.writeUInt16BE(id, i * 6)
    payload.writeUInt32BE(value, i * 6 + 2)
  })
  return h2Frame(H2_FRAME.SETTINGS, 0, 0, payload)
}

/**
 * An RST_STREAM frame.
 * @param streamId - the stream
 * @param code - the error code
 */
export function h2RstStream(streamId: number, code: number): Buffer {
  const payload = Buffer.alloc(4)
  payload.writeUInt32BE(code, 0)
  return h2Frame(H2_FRAME.RST_STREAM, 0, streamId, payload)
}

/**
 * An HPACK integer (RFC 7541 §5.1) as bytes.
 * @param value - the integer
 * @param prefixBits - how many bits of the first byte hold it (1-8)
 * @param firstByte - the first byte's other bits (the representation's pattern)
 */
export function hpackInteger(value: number, prefixBits: number, firstByte: number): number[] {
  const max = (1 << prefixBits) - 1
  if (value < max) return [firstByte | value]
  const out = [firstByte | max]
  let rest = value - max
  while (rest >= 128) {
    out.push((rest % 128) + 128)
    rest = Math.floor(rest / 128)
  }
  out.push(rest)
  return out
}

/**
 * An HPACK string literal (RFC 7541 §5.2) without Huffman coding: its length, then its octets.
 * @param text - the octets (a string is taken as latin1)
 */
export function hpackString(text: string | Buffer): Buffer {
  const bytes = typeof text === 'string' ? Buffer.from(text, 'latin1') : text
  return Buffer.concat([Buffer.from(hpackInteger(bytes.length, 7, 0)), bytes])
}

/**
 * An HPACK header block of literal fields without indexing and without Huffman coding: the
 * bytes go on the wire exactly as given, so a test can send what a conforming client never would
 * (upper-case names, CR/LF/NUL, connection-specific fields).
 * @param fields - `[name, value]` pairs in order
 */
export function hpackLiteral(
  fields: ReadonlyArray<readonly [string | Buffer, string | Buffer]>,
): Buffer {
  const parts: Buffer[] = []
  for (const [name, value] of fields) {
    parts.push(Buffer.from([0x00]), hpackString(name), hpackString(value))
  }
  return Buffer.concat(parts)
}

/**
 * An HPACK literal field WITH incremental indexing (it enters the dynamic table at index 62).
 * @param name - the field name
 * @param value - the field value
 */
export function hpackIndexedLiteral(name: string, value: string | Buffer): Buffer {
  return Buffer.concat([Buffer.from([0x40]), hpackString(name), hpackString(value)])
}

/**
 * An HPACK indexed field reference (one byte for indexes below 127).
 * @param index - the static (1-61) or dynamic (62+) table index
 */
export function hpackIndexed(index: number): Buffer {
  return Buffer.from(hpackInteger(index, 7, 0x80))
}

/**
 * The pseudo-header fields of a POST, with `content-length` when given.
 * @param path - `:path`
 * @param contentLength - the `content-length` field's value, or none
 * @param authority - `:authority`
 */
export function h2PostFields(
  path = '/',
  contentLength?: number,
  authority = 'localhost',
): Array<[string, string]> {
  const fields: Array<[string, string]> = [
    [':method', 'POST'],
    [':scheme', 'http'],
    [':path', path],
    [':authority', authority],
  ]
  if (contentLength !== undefined) fields.push(['content-length', String(contentLength)])
  return fields
}

/** The pseudo-header fields of a plain GET. */
export function h2GetFields(path = '/', authority = 'localhost'): Array<[string, string]> {
  return [
    [':method', 'GET'],
    [':scheme', 'http'],
    [':path', path],
    [':authority', authority],
  ]
}

/**
 * A raw HTTP/2 client over cleartext TCP for protocol tests: it sends the bytes it is given,
 * parses the frames it receives, and acknowledges the server's SETTINGS (unless told not to).
 */
export class RawH2Client {
  /** The TCP connection. */
  readonly socket: net.Socket
  /** Every frame received so far, in order. */
  readonly frames: H2Frame[]
  /** Resolves when the connection is closed. */
  readonly closed: Promise<void>
  #buffer: Buffer
  #waiters: FrameWaiter[]
  readonly #ackSettings: boolean

  private constructor(socket: net.Socket, ackSettings: boolean) {
    this.socket = socket
    this.frames = []
    this.#buffer = Buffer.alloc(0)
    this.#waiters = []
    this.#ackSettings = ackSettings
    this.closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
    socket.on('error', () => {})
    socket.on('data', (chunk: Buffer) => this.#onData(chunk))
  }

  /**
   * Connects to 127.0.0.1:`port` and sends the preface and an initial SETTINGS frame.
   * @param port - the server port
   * @param options - `settings` for the initial SETTINGS frame, `ackSettings` (default true)
   */
  static async connect(
    port: number,
    options: { settings?: ReadonlyArray<readonly [number, number]>; ackSettings?: boolean } = {},
  ): Promise<RawH2Client> {
    const socket = net.connect(port, '127.0.0.1')
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve())
      socket.once('error', reject)
    })
    const client = new RawH2Client(socket, options.ackSettings !== false)
    client.send(Buffer.concat([H2_CLIENT_PREFACE, h2Settings(options.settings ?? [])]))
    return client
  }

  /**
   * Writes raw bytes.
   * @param data - the bytes
   */
  send(data: Buffer): boolean {
    if (this.socket.destroyed) return false
    return this.socket.write(data)
  }

  /**
   * Sends a HEADERS frame with literal fields.
   * @param streamId - the stream id (odd)
   * @param fields - the fields, pseudo-headers first
   * @param endStream - set END_STREAM
   */
  headers(
    streamId: number,
    fields: ReadonlyArray<readonly [string | Buffer, string | Buffer]>,
    endStream = true,
  ): void {
    this.send(
      h2Frame(
        H2_FRAME.HEADERS,
        H2_FLAG.END_HEADERS | (endStream ? H2_FLAG.END_STREAM : 0),
        streamId,
        hpackLiteral(fields),
      ),
    )
  }

  /**
   * Resolves with the first frame (already received or still to come) that passes `test`;
   * rejects when the connection closes first.
   * @param test - the predicate
   */
  waitFor(test: (frame: H2Frame) => boolean): Promise<H2Frame> {
    const found = this.frames.find(test)
    if (found !== undefined) return Promise.resolve(found)
    return new Promise<H2Frame>((resolve, reject) => {
      this.#waiters.push({ test, resolve })
      void this.closed.then(() => {
        const again = this.frames.find(test)
        if (again !== undefined) resolve(again)
        else reject(new Error('connection closed before the awaited frame'))
      })
    })
  }

  /** Resolves with the GOAWAY frame's error code once one arrives. */
  async goawayCode(): Promise<number> {
    const frame = await this.waitFor((f) => f.type === H2_FRAME.GOAWAY)
    return frame.payload.readUInt32BE(4)
  }

  /**
   * Resolves with the error code of the RST_STREAM for `streamId`.
   * @param streamId - the stream
   */
  async rstCode(streamId: number): Promise<number> {
    const frame = await this.waitFor(
      (f) => f.type === H2_FRAME.RST_STREAM && f.streamId === streamId,
    )
    return frame.payload.readUInt32BE(0)
  }

  /**
   * Resolves with the `:status` of the response HEADERS on `streamId` (read from the first
   * byte of the block when it is one of HPACK's static status entries, else parsed literally).
   * @param streamId - the stream
   */
  async status(streamId: number): Promise<number> {
    const frame = await this.waitFor((f) => f.type === H2_FRAME.HEADERS && f.streamId === streamId)
    return decodeStatus(frame.payload, frame.flags)
  }

  /** Closes the connection. */
  close(): void {
    this.socket.destroy()
  }

  #onData(chunk: Buffer): void {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk])
    while (this.#buffer.length >= 9) {
      const length = this.#buffer.readUIntBE(0, 3)
      if (this.#buffer.length < 9 + length) break
      const frame: H2Frame = {
        type: this.#buffer[3] as number,
        flags: this.#buffer[4] as number,
        streamId: this.#buffer.readUInt32BE(5) & 0x7fffffff,
        payload: Buffer.from(this.#buffer.subarray(9, 9 + length)),
      }
      this.#buffer = this.#buffer.subarray(9 + length)
      this.frames.push(frame)
      if (
        this.#ackSettings &&
        frame.type === H2_FRAME.SETTINGS &&
        (frame.flags & H2_FLAG.ACK) === 0
      ) {
        this.send(h2Frame(H2_FRAME.SETTINGS, H2_FLAG.ACK, 0))
      }
      for (let i = this.#waiters.length - 1; i >= 0; i--) {
        const waiter = this.#waiters[i] as FrameWaiter
        if (waiter.test(frame)) {
          this.#waiters.splice(i, 1)
          waiter.resolve(frame)
        }
      }
    }
  }
}

// HPACK static table entries 8-14 are `:status` 200, 204, 206, 304, 400, 404, 500.
const STATIC_STATUS: Record<number, number> = {
  8: 200,
  9: 204,
  10: 206,
  11: 304,
  12: 400,
  13: 404,
  14: 500,
}

function decodeStatus(block: Buffer, flags: number): number {
  let offset = 0
  if ((flags & H2_FLAG.PADDED) !== 0) offset += 1
  if ((flags & H2_FLAG.PRIORITY) !== 0) offset += 5
  const first = block[offset] as number
  if ((first & 0x80) !== 0) {
    const status = STATIC_STATUS[first & 0x7f]
    if (status !== undefined) return status
  }
  // A literal with the indexed name `:status` (index 8-14) and a literal 3-digit value.
  const nameIndex = first & 0x0f
  if (nameIndex >= 8 && nameIndex <= 14) {
    const length = (block[offset + 1] as number) & 0x7f
    if ((block[offset + 1] as number) & 0x80) return -1 // Huffman-coded: not decoded here
    return Number(block.subarray(offset + 2, offset + 2 + length).toString('latin1'))
  }
  return -1
}
