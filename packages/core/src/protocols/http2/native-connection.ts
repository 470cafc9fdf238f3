import type net from 'node:net'
import type { ReusedHttpStream } from '../http/reused-http-stream.ts'
import type { H2StreamHandler, ResolvedH2Options } from './connection.ts'
import {
  checkFrameHeader,
  DEFAULT_WINDOW,
  encodeGoaway,
  encodePing,
  encodeRstStream,
  encodeSettings,
  encodeWindowUpdate,
  FRAME_HEADER_LENGTH,
  FrameFlag,
  type FrameHandler,
  FrameReader,
  FrameType,
  H2ErrorCode,
  H2FrameError,
  MAX_MAX_FRAME_SIZE,
  MAX_WINDOW,
  MIN_MAX_FRAME_SIZE,
  paddedEnd,
  SETTINGS_ACK,
  SettingId,
  writeFrameHeader,
} from './frames.ts'
import { HpackDecoder } from './hpack/decoder.ts'
import { HpackEncoder } from './hpack/encoder.ts'
import { HpackError } from './hpack/hpack-error.ts'
import { NativeH2ServerSession, validateRequestFields } from './native-server.ts'

/** The client connection preface (RFC 9113 §3.4). */
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1')
/** The largest stream id: the first GOAWAY of a graceful shutdown names it. */
const MAX_STREAM_ID = 2 ** 31 - 1
/** How long a graceful shutdown waits for the PING answer between its two GOAWAY frames. */
const GOAWAY_PING_WAIT_MS = 1_000
/** How long a connection closed with GOAWAY may take to flush before it is destroyed. */
const CLOSE_LINGER_MS = 1_000
/** Control answers (SETTINGS ACK, PING ACK, RST_STREAM) queued and not yet flushed, at most. */
const MAX_QUEUED_CONTROL = 1_000
/** Bytes the socket may hold unsent before a client that does not read is cut off. */
const MAX_UNSENT_BYTES = 4 * 1024 * 1024
/** Frames that do no work (empty DATA or CONTINUATION, frames on closed streams) per second. */
const MAX_EMPTY_FRAMES_PER_SECOND = 1_000
/** Streams we reset whose late HEADERS (trailers in flight) are ignored, the newest ones. */
const MAX_REMEMBERED_RESETS = 256
/** CONTINUATION frames one header block may take. */
const MAX_CONTINUATIONS = 64
/** Queued output that is flushed at once instead of at the end of the tick. */
const FLUSH_AT_BYTES = 64 * 1024
/** A body piece up to this size is copied into its DATA frame (one buffer); larger ones are not. */
const COPY_DATA_UP_TO = 4096
/** Our own bit beside a header block's frame flags: its HEADERS depended on its own stream. */
const SELF_DEPENDENT = 0x100
/** Marks the opaque data of our own PING frames. */
const SHUTDOWN_PING = Buffer.from('pgts-sd0')
const KEEPALIVE_PING = Buffer.from('pgts-ka0')

/**
 * One HTTP/2 server connection on our own frame layer (the `native` engine of
 * {@link H2Options.engine}): preface, SETTINGS, flow control both ways, header blocks through
 * our HPACK codec, stream states, and the limits against the known attacks. Each request
 * stream is a {@link NativeH2ServerSession} handed to the app.
 * @internal
 */
export class NativeH2Connection implements FrameHandler {
  /** The connection's socket. */
  readonly socket: net.Socket
  /** The connection as the app sees it (shared by its sessions). */
  readonly connection: ReusedHttpStream
  /** The resolved options. */
  readonly settings: ResolvedH2Options
  /** The peer's SETTINGS_MAX_FRAME_SIZE. */
  peerMaxFrameSize: number
  /** Connection-level send window. */
  sendWindow: number
  /** The stream receive window we advertise. */
  readonly streamWindow: number
  readonly #handler: H2StreamHandler
  readonly #resolve: (value: undefined) => void
  readonly #reader: FrameReader
  readonly #decoder: HpackDecoder
  readonly #encoder: HpackEncoder
  readonly #streams: Map<number, NativeH2ServerSession>
  readonly #fields: string[]
  readonly #maxBufferedBytes: number
  /**
   * The connection receive window we keep: `connectionWindowSize`, but never under the 65 535
   * every connection starts with (SETTINGS cannot shrink it, RFC 9113 §6.9.2).
   */
  readonly #connectionWindow: number
  /** Ids of the streams we reset lately (a set and its insertion order, both bounded). */
  readonly #resetIds: Set<number>
  readonly #resetOrder: number[]
  #prefaceMatched: number
  #lastStreamId: number
  #peerInitialWindow: number
  #recvWindow: number
  #recvUnacked: number
  // Header block being assembled from HEADERS + CONTINUATION.
  #blockStream: number
  #blockFlags: number
  #blockParts: Buffer[] | undefined
  #blockLength: number
  #blockFrames: number
  // Output.
  #out: Buffer[]
  #outLength: number
  /** Views of large DATA payloads among #out (flushed with writev when there are any). */
  #outViews: number
  #flushScheduled: boolean
  #controlQueued: number
  #socketBlocked: boolean
  #drainWaiters: NativeH2ServerSession[]
  #blocked: NativeH2ServerSession[]
  // Limits.
  #resetWindowStart: number
  #resets: number
  #emptyWindowStart: number
  #emptyFrames: number
  // Shutdown.
  #goawayLastId: number
  #draining: boolean
  #peerGoaway: boolean
  #closed: boolean
  #cleaned: boolean
  #shutdownTimer: NodeJS.Timeout | undefined
  #pingTimer: NodeJS.Timeout | undefined
  #pingDeadline: NodeJS.Timeout | undefined
  #settingsDeadline: NodeJS.Timeout | undefined
  readonly #shutdown: AbortSignal
  readonly #onShutdown: () => void

  constructor(
    connection: ReusedHttpStream,
    handler: H2StreamHandler,
    shutdown: AbortSignal,
    settings: ResolvedH2Options,
    resolve: (value: undefined) => void,
  ) {
    this.connection = connection
    this.socket = connection.stream.socket
    this.settings = settings
    this.peerMaxFrameSize = MIN_MAX_FRAME_SIZE
    this.sendWindow = DEFAULT_WINDOW
    this.streamWindow = settings.initialWindowSize
    this.#handler = handler
    this.#resolve = resolve
    this.#reader = new FrameReader(this, settings.maxFrameSize)
    this.#decoder = new HpackDecoder({
      maxDynamicTableSize: 4096,
      maxHeaderListSize: settings.maxHeaderListSize,
      maxHeaderListPairs: settings.maxHeaderListPairs,
    })
    this.#encoder = new HpackEncoder({})
    this.#streams = new Map()
    this.#fields = []
    this.#maxBufferedBytes = settings.maxSessionMemoryMb * 1024 * 1024
    this.#resetIds = new Set()
    this.#resetOrder = []
    this.#prefaceMatched = 0
    this.#lastStreamId = 0
    this.#peerInitialWindow = DEFAULT_WINDOW
    this.#connectionWindow = Math.max(settings.connectionWindowSize, DEFAULT_WINDOW)
    this.#recvWindow = this.#connectionWindow
    this.#recvUnacked = 0
    this.#blockStream = 0
    this.#blockFlags = 0
    this.#blockParts = undefined
    this.#blockLength = 0
    this.#blockFrames = 0
    this.#out = []
    this.#outLength = 0
    this.#outViews = 0
    this.#flushScheduled = false
    this.#controlQueued = 0
    this.#socketBlocked = false
    this.#drainWaiters = []
    this.#blocked = []
    this.#resetWindowStart = 0
    this.#resets = 0
    this.#emptyWindowStart = 0
    this.#emptyFrames = 0
    this.#goawayLastId = MAX_STREAM_ID
    this.#draining = false
    this.#peerGoaway = false
    this.#closed = false
    this.#cleaned = false
    this.#shutdownTimer = undefined
    this.#pingTimer = undefined
    this.#pingDeadline = undefined
    this.#settingsDeadline = undefined
    this.#shutdown = shutdown
    this.#onShutdown = () => this.gracefulShutdown()
  }

  /** Starts serving: our SETTINGS, then frames as they come. */
  start(): void {
    const socket = this.socket
    const settings = this.settings
    const pairs: Array<[number, number]> = [
      [SettingId.MAX_CONCURRENT_STREAMS, settings.maxConcurrentStreams],
      [SettingId.INITIAL_WINDOW_SIZE, settings.initialWindowSize],
      [SettingId.MAX_HEADER_LIST_SIZE, settings.maxHeaderListSize],
      [SettingId.ENABLE_PUSH, 0],
    ]
    if (settings.maxFrameSize !== MIN_MAX_FRAME_SIZE) {
      pairs.push([SettingId.MAX_FRAME_SIZE, settings.maxFrameSize])
    }
    this.queue(encodeSettings(pairs))
    if (settings.connectionWindowSize > DEFAULT_WINDOW) {
      this.queue(encodeWindowUpdate(0, settings.connectionWindowSize - DEFAULT_WINDOW))
    }
    this.#settingsDeadline = setTimeout(
      () => this.goaway(H2ErrorCode.SETTINGS_TIMEOUT, 'SETTINGS not acknowledged'),
      settings.settingsTimeoutMs,
    )
    this.#settingsDeadline.unref()
    socket.setNoDelay(true)
    socket.on('data', (chunk: Buffer) => this.#onData(chunk))
    socket.on('drain', () => this.#onDrain())
    socket.on('error', () => this.#onSocketClosed())
    socket.on('close', () => this.#onSocketClosed())
    socket.on('end', () => this.#onSocketClosed())
    socket.setTimeout(settings.idleTimeoutMs, () => this.#onIdle())
    if (settings.pingIntervalMs !== undefined) {
      this.#pingTimer = setInterval(() => this.#sendKeepalivePing(), settings.pingIntervalMs)
      this.#pingTimer.unref()
    }
    if (this.#shutdown.aborted) this.gracefulShutdown()
    else this.#shutdown.addEventListener('abort', this.#onShutdown, { once: true })
    socket.resume()
  }

  // ---- input -------------------------------------------------------------------------------

  #onData(chunk: Buffer): void {
    if (this.#closed) return
    try {
      if (this.#prefaceMatched < PREFACE.length) {
        const offset = this.#matchPreface(chunk)
        if (offset < 0) return
        if (offset === chunk.length) return
        chunk = chunk.subarray(offset)
      }
      this.#reader.push(chunk)
    } catch (error) {
      this.#onError(error)
    }
  }

  /** Checks the preface bytes in `chunk`; returns where frames start, or -1 when not yet. */
  #matchPreface(chunk: Buffer): number {
    let matched = this.#prefaceMatched
    let i = 0
    while (matched < PREFACE.length && i < chunk.length) {
      if (chunk[i] !== PREFACE[matched]) {
        throw new H2FrameError(H2ErrorCode.PROTOCOL_ERROR, 0, 'invalid connection preface')
      }
      matched++
      i++
    }
    this.#prefaceMatched = matched
    return matched < PREFACE.length ? -1 : i
  }

  #onError(error: unknown): void {
    if (error instanceof H2FrameError) {
      if (error.streamId === 0) this.goaway(error.code, error.message)
      else this.resetStream(error.streamId, error.code)
      return
    }
    if (error instanceof HpackError) {
      this.goaway(H2ErrorCode.COMPRESSION_ERROR, error.message)
      return
    }
    this.goaway(H2ErrorCode.INTERNAL_ERROR, 'internal error')
  }

  /** {@inheritDoc FrameHandler.onFrame} */
  onFrame(
    type: number,
    flags: number,
    streamId: number,
    payload: Buffer,
    start: number,
    end: number,
  ): boolean {
    if (this.#closed) return false
    if (
      this.#blockStream !== 0 &&
      (type !== FrameType.CONTINUATION || streamId !== this.#blockStream)
    ) {
      throw new H2FrameError(H2ErrorCode.PROTOCOL_ERROR, 0, 'header block interrupted')
    }
    const invalid = checkFrameHeader(type, flags, streamId, end - start)
    if (invalid !== undefined) {
      if (invalid.streamId === 0) throw invalid
      this.resetStream(invalid.streamId, invalid.code)
      return !this.#closed
    }
    switch (type) {
      case FrameType.DATA:
        this.#onDataFrame(flags, streamId, payload, start, end)
        break
      case FrameType.HEADERS:
        this.#onHeaders(flags, streamId, payload, start, end)
        break
      case FrameType.CONTINUATION:
        this.#onContinuation(flags, streamId, payload, start, end)
        break
      case FrameType.RST_STREAM:
        this.#onRstStream(streamId, payload.readUInt32BE(start))
        break
      case FrameType.SETTINGS:
        if ((flags & FrameFlag.ACK) === 0) this.#onSettings(payload, start, end)
        else this.#onSettingsAck()
        break
      case FrameType.PING:
        this.#onPing(flags, payload, start, end)
        break
      case FrameType.GOAWAY:
        this.#onGoaway()
        break
      case FrameType.WINDOW_UPDATE:
        this.#onWindowUpdate(streamId, payload.readUInt32BE(start) & MAX_WINDOW)
        break
      case FrameType.PRIORITY:
        if ((payload.readUInt32BE(start) & MAX_WINDOW) === streamId) {
          this.resetStream(streamId, H2ErrorCode.PROTOCOL_ERROR)
        }
        break
      default:
      // Unknown frame types are ignored (RFC 9113 §4.1).
    }
    return !this.#closed
  }

  #isIdle(streamId: number): boolean {
    return streamId > this.#lastStreamId
  }

  /** Counts a frame that did no work; too many per second end the connection. */
  #emptyFrame(): void {
    const now = Date.now()
    if (now - this.#emptyWindowStart >= 1000) {
      this.#emptyWindowStart = now
      this.#emptyFrames = 0
    }
    if (++this.#emptyFrames > MAX_EMPTY_FRAMES_PER_SECOND) {
      throw new H2FrameError(H2ErrorCode.ENHANCE_YOUR_CALM, 0, 'too many empty frames')
    }
  }

  #onDataFrame(flags: number, streamId: number, payload: Buffer, start: number, end: number): void {
    const length = end - start
    if (length > this.#recvWindow) {
      throw new H2FrameError(H2ErrorCode.FLOW_CONTROL_ERROR, 0, 'connection window exceeded')
    }
    this.#recvWindow -= length
    const stream = this.#streams.get(streamId)
    if (stream === undefined) {
      if (this.#isIdle(streamId)) {
        throw new H2FrameError(H2ErrorCode.PROTOCOL_ERROR, 0, 'DATA on an idle stream')
      }
      // A closed stream: the window goes back either way. Only an empty frame counts toward
      // the flood limit: a client streaming small messages may have many non-empty ones in
      // flight when our reset reaches it.
      this.consumed(length)
      if (length === 0) this.#emptyFrame()
      // Sent before the client saw our RST_STREAM (or past our GOAWAY): ignored (§5.1, §6.8).
      if (streamId > this.#goawayLastId || this.#resetIds.has(streamId)) return
      // The stream ended on both sides, or the client reset it: a stream error (§5.1, §6.1),
      // once: it is remembered as reset, so the client's further DATA on it is ignored.
      this.resetStream(streamId, H2ErrorCode.STREAM_CLOSED)
      return
    }
    const contentEnd = paddedEnd(payload, start, end, flags)
    if (stream.remoteEnded) {
      this.consumed(length)
      this.resetStream(streamId, H2ErrorCode.STREAM_CLOSED)
      return
    }
    if (length > stream.recvWindow) {
      this.consumed(length)
      this.resetStream(streamId, H2ErrorCode.FLOW_CONTROL_ERROR)
      return
    }
    stream.recvWindow -= length
    const dataStart = (flags & FrameFlag.PADDED) !== 0 ? start + 1 : start
    const padding = length - (contentEnd - dataStart)
    if (padding > 0) this.consumed(padding)
    const endStream = (flags & FrameFlag.END_STREAM) !== 0
    if (contentEnd === dataStart && !endStream) this.#emptyFrame()
    stream.receiveData(payload, dataStart, contentEnd, endStream, padding)
  }

  #onHeaders(flags: number, streamId: number, payload: Buffer, start: number, end: number): void {
    let from = start
    let blockFlags = flags
    const to = paddedEnd(payload, start, end, flags)
    if ((flags & FrameFlag.PADDED) !== 0) from++
    if ((flags & FrameFlag.PRIORITY) !== 0) {
      if (to - from < 5) {
        throw new H2FrameError(H2ErrorCode.FRAME_SIZE_ERROR, 0, 'HEADERS too short for PRIORITY')
      }
      // A stream error (RFC 9113 §5.3.1), once the block is decoded (the HPACK state).
      if ((payload.readUInt32BE(from) & MAX_WINDOW) === streamId) blockFlags |= SELF_DEPENDENT
      from += 5
    }
    if ((flags & FrameFlag.END_HEADERS) !== 0) {
      this.#headerBlock(blockFlags, streamId, payload, from, to)
      return
    }
    this.#blockStream = streamId
    this.#blockFlags = blockFlags
    this.#blockParts = [Buffer.from(payload.subarray(from, to))]
    this.#blockLength = to - from
    this.#blockFrames = 0
  }

  #onContinuation(
    flags: number,
    streamId: number,
    payload: Buffer,
    start: number,
    end: number,
  ): void {
    if (this.#blockStream !== streamId || this.#blockParts === undefined) {
      throw new H2FrameError(H2ErrorCode.PROTOCOL_ERROR, 0, 'CONTINUATION without a header block')
    }
    const length = end - start
    this.#blockLength += length
    if (
      ++this.#blockFrames > MAX_CONTINUATIONS ||
      this.#blockLength > this.settings.maxHeaderListSize + MIN_MAX_FRAME_SIZE
    ) {
      // CVE-2024-27316: a header block that never ends; the HPACK state cannot be kept
      // without decoding it, so the connection ends.
      throw new H2FrameError(H2ErrorCode.ENHANCE_YOUR_CALM, 0, 'header block too large')
    }
    if (length > 0) this.#blockParts.push(Buffer.from(payload.subarray(start, end)))
    if ((flags & FrameFlag.END_HEADERS) === 0) return
    const block =
      this.#blockParts.length === 1
        ? (this.#blockParts[0] as Buffer)
        : Buffer.concat(this.#blockParts, this.#blockLength)
    const blockFlags = this.#blockFlags
    this.#blockStream = 0
    this.#blockParts = undefined
    this.#blockLength = 0
    this.#headerBlock(blockFlags, streamId, block, 0, block.length)
  }

  /** A complete header block: a new request, or trailers. */
  #headerBlock(flags: number, streamId: number, block: Buffer, start: number, end: number): void {
    const fields = this.#fields
    fields.length = 0
    let tooLarge = false
    try {
      this.#decoder.decode(block, start, end, fields)
    } catch (error) {
      if (error instanceof HpackError && error.kind === 'header-list-too-large') tooLarge = true
      else throw error
    }
    const endStream = (flags & FrameFlag.END_STREAM) !== 0
    const existing = this.#streams.get(streamId)
    if (existing !== undefined) {
      // Trailers.
      if (existing.remoteEnded) {
        this.resetStream(streamId, H2ErrorCode.STREAM_CLOSED)
        return
      }
      if (!endStream || tooLarge || hasPseudo(fields) || (flags & SELF_DEPENDENT) !== 0) {
        this.resetStream(streamId, H2ErrorCode.PROTOCOL_ERROR)
        return
      }
      existing.receiveData(block, start, start, true, 0)
      return
    }
    if ((streamId & 1) === 0) {
      throw new H2FrameError(H2ErrorCode.PROTOCOL_ERROR, 0, 'even stream id from a client')
    }
    if (streamId <= this.#lastStreamId) {
      // A closed stream. After our RST_STREAM, or past our GOAWAY, the client may have sent
      // trailers before it knew: ignored (RFC 9113 §5.1 "closed", §6.8; nghttp2 does the same).
      if (streamId > this.#goawayLastId || this.#resetIds.has(streamId)) {
        this.#emptyFrame()
        return
      }
      throw new H2FrameError(H2ErrorCode.STREAM_CLOSED, 0, 'HEADERS on a closed stream')
    }
    this.#lastStreamId = streamId
    if (streamId > this.#goawayLastId) return // after our GOAWAY: ignored (RFC 9113 §6.8)
    if ((flags & SELF_DEPENDENT) !== 0) {
      this.resetStream(streamId, H2ErrorCode.PROTOCOL_ERROR)
      return
    }
    if (tooLarge) {
      this.#respondBare(streamId, 431, endStream)
      return
    }
    if (
      this.#streams.size >= this.settings.maxConcurrentStreams ||
      this.#bufferedBytes() > this.#maxBufferedBytes
    ) {
      this.resetStream(streamId, H2ErrorCode.REFUSED_STREAM)
      return
    }
    const malformed = validateRequestFields(fields)
    if (malformed !== undefined) {
      this.resetStream(streamId, H2ErrorCode.PROTOCOL_ERROR)
      return
    }
    const session = new NativeH2ServerSession(this, streamId, fields.slice(), endStream)
    if (endStream && session.declaredLength > 0) {
      // RFC 9113 §8.1.1: a content-length the (absent) DATA frames cannot match.
      this.resetStream(streamId, H2ErrorCode.PROTOCOL_ERROR)
      return
    }
    this.#streams.set(streamId, session)
    let result: unknown
    try {
      result = this.#handler(session)
    } catch {
      session.shutdown()
      return
    }
    if (isPromiseLike(result)) {
      result.then(
        () => session.finishNow(),
        () => session.shutdown(),
      )
    } else {
      session.finishNow()
    }
  }

  /**
   * Bytes the connection holds for the peer: request bodies received and not yet read by the
   * app (the connection window not yet given back) and output queued or unsent on the socket.
   * Past `maxSessionMemoryMb` new streams are refused. (A header block being assembled is
   * bounded on its own, and is complete by the time a stream opens.)
   */
  #bufferedBytes(): number {
    return (
      this.#connectionWindow -
      this.#recvWindow -
      this.#recvUnacked +
      this.#outLength +
      this.socket.writableLength
    )
  }

  /** Answers a stream with a bodiless status (431 for a header list over the limit). */
  #respondBare(streamId: number, status: number, remoteEnded: boolean): void {
    const block = this.#encoder.encode([':status', String(status), 'content-length', '0'])
    const frame = Buffer.allocUnsafe(FRAME_HEADER_LENGTH + block.length)
    writeFrameHeader(
      frame,
      0,
      block.length,
      FrameType.HEADERS,
      FrameFlag.END_HEADERS | FrameFlag.END_STREAM,
      streamId,
    )
    block.copy(frame, FRAME_HEADER_LENGTH)
    this.queue(frame)
    if (!remoteEnded) {
      this.queue(encodeRstStream(streamId, H2ErrorCode.NO_ERROR))
      this.#rememberReset(streamId)
    }
    this.#countReset()
  }

  #onRstStream(streamId: number, code: number): void {
    if (this.#isIdle(streamId)) {
      throw new H2FrameError(H2ErrorCode.PROTOCOL_ERROR, 0, 'RST_STREAM on an idle stream')
    }
    const stream = this.#streams.get(streamId)
    if (stream === undefined) {
      this.#emptyFrame()
      return
    }
    this.closeStream(stream, code, true)
    // Every client reset counts, NO_ERROR too: the code is the client's choice, and a rapid
    // reset with NO_ERROR costs the server as much as with CANCEL.
    this.#countReset()
  }

  #onSettings(payload: Buffer, start: number, end: number): void {
    for (let i = start; i < end; i += 6) {
      const id = payload.readUInt16BE(i)
      const value = payload.readUInt32BE(i + 2)
      switch (id) {
        case SettingId.HEADER_TABLE_SIZE:
          this.#encoder.setPeerMaxTableSize(value)
          break
        case SettingId.ENABLE_PUSH:
          if (value > 1) throw new H2FrameError(H2ErrorCode.PROTOCOL_ERROR, 0, 'ENABLE_PUSH > 1')
          break
        case SettingId.INITIAL_WINDOW_SIZE: {
          if (value > MAX_WINDOW) {
            throw new H2FrameError(
              H2ErrorCode.FLOW_CONTROL_ERROR,
              0,
              'INITIAL_WINDOW_SIZE > 2^31-1',
            )
          }
          const delta = value - this.#peerInitialWindow
          this.#peerInitialWindow = value
          for (const stream of this.#streams.values()) {
            stream.sendWindow += delta
            if (stream.sendWindow > MAX_WINDOW) {
              throw new H2FrameError(H2ErrorCode.FLOW_CONTROL_ERROR, 0, 'stream window overflow')
            }
          }
          if (delta > 0) this.#resumeBlocked()
          break
        }
        case SettingId.MAX_FRAME_SIZE:
          if (value < MIN_MAX_FRAME_SIZE || value > MAX_MAX_FRAME_SIZE) {
            throw new H2FrameError(H2ErrorCode.PROTOCOL_ERROR, 0, 'MAX_FRAME_SIZE out of range')
          }
          this.peerMaxFrameSize = value
          break
        default:
        // MAX_CONCURRENT_STREAMS (we push nothing), MAX_HEADER_LIST_SIZE (advisory), unknown.
      }
    }
    this.#queueControl(SETTINGS_ACK)
  }

  /** The client acknowledged our SETTINGS (we send them once): the timeout is off. */
  #onSettingsAck(): void {
    if (this.#settingsDeadline === undefined) return
    clearTimeout(this.#settingsDeadline)
    this.#settingsDeadline = undefined
  }

  /** The peer's SETTINGS_INITIAL_WINDOW_SIZE: each new stream's send window. */
  get peerInitialWindow(): number {
    return this.#peerInitialWindow
  }

  #onPing(flags: number, payload: Buffer, start: number, end: number): void {
    const opaque = payload.subarray(start, end)
    if ((flags & FrameFlag.ACK) === 0) {
      this.#queueControl(encodePing(opaque, true))
      return
    }
    if (opaque.equals(SHUTDOWN_PING)) this.#finalGoaway()
    else if (opaque.equals(KEEPALIVE_PING) && this.#pingDeadline !== undefined) {
      clearTimeout(this.#pingDeadline)
      this.#pingDeadline = undefined
    }
  }

  #onGoaway(): void {
    // The client opens no more streams; those in flight finish.
    this.#peerGoaway = true
    if (this.#streams.size === 0) this.#endAfterLastStream()
  }

  #onWindowUpdate(streamId: number, increment: number): void {
    if (streamId === 0) {
      if (increment === 0) {
        throw new H2FrameError(H2ErrorCode.PROTOCOL_ERROR, 0, 'WINDOW_UPDATE of 0')
      }
      this.sendWindow += increment
      if (this.sendWindow > MAX_WINDOW) {
        throw new H2FrameError(H2ErrorCode.FLOW_CONTROL_ERROR, 0, 'connection window overflow')
      }
      this.#resumeBlocked()
      return
    }
    if (this.#isIdle(streamId)) {
      throw new H2FrameError(H2ErrorCode.PROTOCOL_ERROR, 0, 'WINDOW_UPDATE on an idle stream')
    }
    const stream = this.#streams.get(streamId)
    if (stream === undefined) return
    if (increment === 0) {
      this.resetStream(streamId, H2ErrorCode.PROTOCOL_ERROR)
      return
    }
    stream.sendWindow += increment
    if (stream.sendWindow > MAX_WINDOW) {
      this.resetStream(streamId, H2ErrorCode.FLOW_CONTROL_ERROR)
      return
    }
    if (stream.hasPendingData()) this.#resumeBlocked()
  }

  // ---- flow control ------------------------------------------------------------------------

  /**
   * Gives `length` bytes of the connection window back (the app consumed them, or they were
   * discarded); sends WINDOW_UPDATE once half the window is used.
   * @param length - the bytes
   */
  consumed(length: number): void {
    this.#recvUnacked += length
    if (this.#recvUnacked >= this.#connectionWindow >>> 1) {
      this.queue(encodeWindowUpdate(0, this.#recvUnacked))
      this.#recvWindow += this.#recvUnacked
      this.#recvUnacked = 0
    }
  }

  /**
   * Marks a stream as waiting for send window.
   * @param stream - the stream with pending DATA
   */
  block(stream: NativeH2ServerSession): void {
    if (!this.#blocked.includes(stream)) this.#blocked.push(stream)
  }

  #resumeBlocked(): void {
    const blocked = this.#blocked
    if (blocked.length === 0) return
    // A stream whose last DATA goes out here may close, and closeStream takes it out of
    // #blocked: walk the old list and collect the streams still waiting in a new one.
    this.#blocked = []
    for (let i = 0; i < blocked.length; i++) {
      const stream = blocked[i] as NativeH2ServerSession
      if (stream.hasPendingData() && !stream.sendPending()) this.block(stream)
    }
  }

  /**
   * Waits for the socket to drain; the stream's pending write resolves then.
   * @param stream - the stream whose write waits
   */
  waitDrain(stream: NativeH2ServerSession): void {
    this.#drainWaiters.push(stream)
  }

  /** Whether the socket has more unsent bytes than it wants (writes should wait). */
  get socketBlocked(): boolean {
    return this.#socketBlocked
  }

  #onDrain(): void {
    this.#socketBlocked = false
    const waiters = this.#drainWaiters
    if (waiters.length === 0) return
    this.#drainWaiters = []
    for (let i = 0; i < waiters.length; i++) (waiters[i] as NativeH2ServerSession).onDrain()
  }

  // ---- output ------------------------------------------------------------------------------

  /**
   * Queues bytes for the socket; they go out at the end of the tick, with every other
   * stream's, in one write.
   * @param bytes - whole frames
   */
  queue(bytes: Buffer): void {
    if (this.#closed) return
    this.#out.push(bytes)
    this.#outLength += bytes.length
    if (this.#outLength >= FLUSH_AT_BYTES) this.flush()
    else if (!this.#flushScheduled) {
      this.#flushScheduled = true
      setImmediate(flushConnection, this)
    }
  }

  #queueControl(frame: Buffer): void {
    if (
      ++this.#controlQueued > MAX_QUEUED_CONTROL ||
      this.socket.writableLength > MAX_UNSENT_BYTES
    ) {
      throw new H2FrameError(H2ErrorCode.ENHANCE_YOUR_CALM, 0, 'too many frames to answer')
    }
    this.queue(frame)
  }

  /** Writes the queued frames now. */
  flush(): void {
    this.#flushScheduled = false
    this.#controlQueued = 0
    const out = this.#out
    const views = this.#outViews
    this.#outViews = 0
    if (out.length === 0 || this.socket.destroyed) {
      out.length = 0
      this.#outLength = 0
      return
    }
    if (views === 0 || out.length === 1) {
      const bytes = out.length === 1 ? (out[0] as Buffer) : Buffer.concat(out, this.#outLength)
      out.length = 0
      this.#outLength = 0
      if (!this.socket.write(bytes)) this.#socketBlocked = true
      return
    }
    // Large DATA payloads are queued as views of the app's buffers: hand them to the socket as
    // they are (one writev once uncorked) instead of copying everything into one buffer.
    const socket = this.socket
    let ok = true
    socket.cork()
    for (let i = 0; i < out.length; i++) ok = socket.write(out[i] as Buffer)
    socket.uncork()
    out.length = 0
    this.#outLength = 0
    if (!ok) this.#socketBlocked = true
  }

  /**
   * Encodes a header block for `streamId` into HEADERS (+ CONTINUATION) frames, leaving
   * `extra` bytes free at the end of the returned buffer for a DATA frame.
   * @param streamId - the stream
   * @param fields - flat `[name, value, ...]`
   * @param endStream - sets END_STREAM
   * @param extra - bytes to reserve after the frames
   * @returns the buffer and where the reserved bytes start
   */
  encodeHeaders(streamId: number, fields: string[], endStream: boolean, extra: number): Buffer {
    const block = this.#encoder.encode(fields)
    const maxFrame = this.peerMaxFrameSize
    const flags = endStream ? FrameFlag.END_STREAM : 0
    if (block.length <= maxFrame) {
      const frame = Buffer.allocUnsafe(FRAME_HEADER_LENGTH + block.length + extra)
      writeFrameHeader(
        frame,
        0,
        block.length,
        FrameType.HEADERS,
        flags | FrameFlag.END_HEADERS,
        streamId,
      )
      block.copy(frame, FRAME_HEADER_LENGTH)
      return frame
    }
    const frames = Math.ceil(block.length / maxFrame)
    const frame = Buffer.allocUnsafe(frames * FRAME_HEADER_LENGTH + block.length + extra)
    let offset = 0
    for (let i = 0, at = 0; i < frames; i++, at += maxFrame) {
      const length = Math.min(maxFrame, block.length - at)
      const last = i === frames - 1
      offset = writeFrameHeader(
        frame,
        offset,
        length,
        i === 0 ? FrameType.HEADERS : FrameType.CONTINUATION,
        (i === 0 ? flags : 0) | (last ? FrameFlag.END_HEADERS : 0),
        streamId,
      )
      block.copy(frame, offset, at, at + length)
      offset += length
    }
    return frame
  }

  /**
   * Frames as much of `data[offset..]` as the windows allow into DATA frames and queues them.
   * @param stream - the stream
   * @param data - the bytes
   * @param offset - where to start
   * @param endStream - set END_STREAM on the frame with the last byte
   * @returns the new offset (`data.length` when all went out)
   */
  sendData(
    stream: NativeH2ServerSession,
    data: Uint8Array,
    offset: number,
    endStream: boolean,
  ): number {
    const total = data.length
    const maxFrame = this.peerMaxFrameSize
    while (offset < total) {
      const room = Math.min(this.sendWindow, stream.sendWindow, maxFrame, total - offset)
      if (room <= 0) return offset
      const last = offset + room === total
      const flags = last && endStream ? FrameFlag.END_STREAM : 0
      if (room <= COPY_DATA_UP_TO) {
        const frame = Buffer.allocUnsafe(FRAME_HEADER_LENGTH + room)
        writeFrameHeader(frame, 0, room, FrameType.DATA, flags, stream.id)
        frame.set(data.subarray(offset, offset + room), FRAME_HEADER_LENGTH)
        this.queue(frame)
      } else {
        const header = Buffer.allocUnsafe(FRAME_HEADER_LENGTH)
        writeFrameHeader(header, 0, room, FrameType.DATA, flags, stream.id)
        this.queue(header)
        const view = data.subarray(offset, offset + room)
        this.#outViews++
        this.queue(
          Buffer.isBuffer(view) ? view : Buffer.from(view.buffer, view.byteOffset, view.length),
        )
      }
      this.sendWindow -= room
      stream.sendWindow -= room
      offset += room
    }
    return offset
  }

  /**
   * Sends WINDOW_UPDATE for a stream whose app consumed `increment` bytes.
   * @param streamId - the stream
   * @param increment - the bytes
   */
  sendWindowUpdate(streamId: number, increment: number): void {
    this.queue(encodeWindowUpdate(streamId, increment))
  }

  /**
   * Resets a stream from the app's side (a timer, `finish`, `shutdown`): like
   * {@link NativeH2Connection.resetStream}, and a limit it trips ends the connection instead of
   * throwing.
   * @param streamId - the stream
   * @param code - the error code
   */
  abortStream(streamId: number, code: number): void {
    try {
      this.resetStream(streamId, code)
    } catch (error) {
      this.#onError(error)
    }
  }

  /**
   * Sends RST_STREAM and closes the stream (a stream error); counts toward the reset limit.
   * @param streamId - the stream
   * @param code - the error code
   */
  resetStream(streamId: number, code: number): void {
    if (this.#closed) return
    this.#queueControl(encodeRstStream(streamId, code))
    const stream = this.#streams.get(streamId)
    if (stream === undefined || !stream.remoteEnded) this.#rememberReset(streamId)
    if (stream !== undefined) this.closeStream(stream, code, false)
    if (code !== H2ErrorCode.NO_ERROR) this.#countReset()
  }

  /** Remembers a stream we reset while the client could still send on it (bounded). */
  #rememberReset(streamId: number): void {
    const ids = this.#resetIds
    if (ids.has(streamId)) return
    const order = this.#resetOrder
    if (order.length >= MAX_REMEMBERED_RESETS) ids.delete(order.shift() as number)
    ids.add(streamId)
    order.push(streamId)
  }

  /** Counts a stream that ended in a reset: too many per second end the connection. */
  #countReset(): void {
    const now = Date.now()
    if (now - this.#resetWindowStart >= 1000) {
      this.#resetWindowStart = now
      this.#resets = 0
    }
    if (++this.#resets > this.settings.maxResetsPerSecond) {
      // Rapid reset (CVE-2023-44487) and MadeYouReset (CVE-2025-8671).
      throw new H2FrameError(H2ErrorCode.ENHANCE_YOUR_CALM, 0, 'too many stream resets')
    }
  }

  /**
   * Removes a stream: both sides ended, or reset.
   * @param stream - the stream
   * @param code - the reset code, or -1 for a clean close
   * @param byPeer - whether the client reset it
   */
  closeStream(stream: NativeH2ServerSession, code: number, byPeer: boolean): void {
    if (this.#streams.get(stream.id) !== stream) return
    this.#streams.delete(stream.id)
    const index = this.#blocked.indexOf(stream)
    if (index !== -1) this.#blocked.splice(index, 1)
    const unread = stream.onClosed(code, byPeer)
    if (unread > 0) this.consumed(unread)
    if (this.#streams.size === 0 && (this.#peerGoaway || this.#goawayLastId !== MAX_STREAM_ID)) {
      // The last stream of a connection that is going away.
      this.#endAfterLastStream()
    }
  }

  /**
   * Closes a connection that is going away once its last stream is done: after our final
   * GOAWAY, at once; after the client's, with a GOAWAY(NO_ERROR) of ours first (RFC 9113 §6.8:
   * an endpoint SHOULD always send GOAWAY before closing).
   */
  #endAfterLastStream(): void {
    if (this.#goawayLastId !== MAX_STREAM_ID) this.#end()
    else this.goaway(H2ErrorCode.NO_ERROR)
  }

  // ---- lifetime ----------------------------------------------------------------------------

  /**
   * Ends the connection with GOAWAY(code): streams are reset, the socket closes once flushed.
   * @param code - the error code
   * @param debug - what went wrong
   */
  goaway(code: number, debug?: string): void {
    if (this.#closed) return
    this.#reader.stop()
    // Never above a GOAWAY already sent (RFC 9113 §6.8): streams past it were ignored.
    const lastId = Math.min(this.#lastStreamId, this.#goawayLastId)
    this.queue(encodeGoaway(lastId, code, debug))
    this.#end()
  }

  /** Starts a graceful shutdown: GOAWAY(max id) and a PING, then GOAWAY(last id). */
  gracefulShutdown(): void {
    if (this.#closed || this.#draining) return
    this.#draining = true
    this.queue(encodeGoaway(MAX_STREAM_ID, H2ErrorCode.NO_ERROR))
    this.queue(encodePing(SHUTDOWN_PING, false))
    this.#shutdownTimer = setTimeout(() => this.#finalGoaway(), GOAWAY_PING_WAIT_MS)
    this.#shutdownTimer.unref()
  }

  #finalGoaway(): void {
    if (this.#closed || this.#goawayLastId !== MAX_STREAM_ID) return
    if (this.#shutdownTimer !== undefined) clearTimeout(this.#shutdownTimer)
    this.#goawayLastId = this.#lastStreamId
    this.queue(encodeGoaway(this.#lastStreamId, H2ErrorCode.NO_ERROR))
    if (this.#streams.size === 0) this.#end()
  }

  /**
   * No byte either way for `idleTimeoutMs`. Without streams the connection is idle and goes.
   * With streams, it goes only when the client stopped in the middle of a frame or of a header
   * block: nothing on any stream can move until the rest comes, and a live client sends a frame
   * whole (nginx closes such a connection after `client_header_timeout`). A stream that waits
   * between whole frames is the app's read timeout's, as on the `node` engine.
   */
  #onIdle(): void {
    if (this.#closed) return
    if (this.#streams.size === 0) this.goaway(H2ErrorCode.NO_ERROR, 'idle')
    else if (this.#reader.bufferedLength > 0 || this.#blockStream !== 0) {
      this.goaway(H2ErrorCode.NO_ERROR, 'idle in the middle of a frame')
    }
  }

  #sendKeepalivePing(): void {
    if (this.#closed || this.#pingDeadline !== undefined) return
    this.queue(encodePing(KEEPALIVE_PING, false))
    this.#pingDeadline = setTimeout(() => this.#destroy(), this.settings.pingTimeoutMs)
    this.#pingDeadline.unref()
  }

  /** Flushes and half-closes; destroys after a linger if the client keeps it open. */
  #end(): void {
    if (this.#closed) return
    this.flush()
    this.#closeStreams()
    this.#closed = true
    this.socket.end()
    const linger = setTimeout(() => this.socket.destroy(), CLOSE_LINGER_MS)
    linger.unref()
    this.#cleanup()
  }

  #destroy(): void {
    if (!this.#closed) {
      this.#closeStreams()
      this.#closed = true
    }
    this.socket.destroy()
    this.#cleanup()
  }

  #closeStreams(): void {
    if (this.#streams.size === 0) return
    const streams = [...this.#streams.values()]
    this.#streams.clear()
    this.#blocked.length = 0
    for (const stream of streams) stream.onClosed(H2ErrorCode.CANCEL, true)
  }

  #onSocketClosed(): void {
    if (!this.socket.destroyed && !this.#closed) {
      // 'end' from the client: nothing more comes.
      this.#destroy()
      return
    }
    if (!this.#closed) {
      this.#closeStreams()
      this.#closed = true
    }
    this.#cleanup()
  }

  #cleanup(): void {
    if (this.#cleaned) return
    this.#cleaned = true
    if (this.#pingTimer !== undefined) clearInterval(this.#pingTimer)
    if (this.#pingDeadline !== undefined) clearTimeout(this.#pingDeadline)
    if (this.#shutdownTimer !== undefined) clearTimeout(this.#shutdownTimer)
    if (this.#settingsDeadline !== undefined) clearTimeout(this.#settingsDeadline)
    this.#settingsDeadline = undefined
    this.#pingTimer = undefined
    this.#pingDeadline = undefined
    this.#shutdownTimer = undefined
    this.#shutdown.removeEventListener('abort', this.#onShutdown)
    const waiters = this.#drainWaiters
    this.#drainWaiters = []
    for (let i = 0; i < waiters.length; i++) (waiters[i] as NativeH2ServerSession).onDrain()
    if (this.socket.destroyed) this.#resolve(undefined)
    else this.socket.once('close', () => this.#resolve(undefined))
  }

  /** Whether the connection is closed (no more frames go out). */
  get closed(): boolean {
    return this.#closed
  }
}

function flushConnection(connection: NativeH2Connection): void {
  connection.flush()
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as Partial<PromiseLike<unknown>> | undefined)?.then === 'function'
}

function hasPseudo(fields: string[]): boolean {
  for (let i = 0; i < fields.length; i += 2) {
    if ((fields[i] as string).charCodeAt(0) === 0x3a) return true
  }
  return false
}

/**
 * Serves one HTTP/2 connection on our own frame layer; resolves when it is closed.
 * @param connection - the accepted connection (its buffered bytes go back to the socket)
 * @param handler - serves one stream
 * @param shutdown - aborted when the server starts to shut down
 * @param settings - the resolved options
 * @internal
 */
export function serveNativeH2Connection(
  connection: ReusedHttpStream,
  handler: H2StreamHandler,
  shutdown: AbortSignal,
  settings: ResolvedH2Options,
): Promise<undefined> {
  connection.stream.detach()
  return new Promise<undefined>((resolve) => {
    new NativeH2Connection(connection, handler, shutdown, settings, resolve).start()
  })
}
