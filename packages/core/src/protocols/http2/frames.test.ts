import { describe, expect, it } from 'vitest'
import {
  checkFrameHeader,
  encodeFrame,
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
  paddedEnd,
  SETTINGS_ACK,
} from './frames.ts'

interface Seen {
  type: number
  flags: number
  streamId: number
  payload: Buffer
}

function collect(maxFrameSize = 16_384, stopAfter = Number.POSITIVE_INFINITY) {
  const frames: Seen[] = []
  const handler: FrameHandler = {
    onFrame(type, flags, streamId, payload, start, end) {
      frames.push({ type, flags, streamId, payload: Buffer.from(payload.subarray(start, end)) })
      return frames.length < stopAfter
    },
  }
  return { frames, reader: new FrameReader(handler, maxFrameSize) }
}

function thrown(fn: () => unknown): H2FrameError {
  try {
    fn()
  } catch (error) {
    expect(error).toBeInstanceOf(H2FrameError)
    return error as H2FrameError
  }
  throw new Error('expected an H2FrameError')
}

describe('frame serialising', () => {
  it('writes the 9-byte header: 24-bit length, type, flags, 31-bit stream id', () => {
    const frame = encodeFrame(FrameType.DATA, FrameFlag.END_STREAM, 0x7fffffff, Buffer.from('abc'))
    expect([...frame.subarray(0, 9)]).toEqual([0, 0, 3, 0, 1, 0x7f, 0xff, 0xff, 0xff])
    expect(frame.subarray(9).toString()).toBe('abc')
    // The reserved bit is never sent.
    const high = encodeFrame(FrameType.HEADERS, 0, 0xffffffff)
    expect(high.readUInt32BE(5)).toBe(0x7fffffff)
  })

  it('encodes SETTINGS, its ACK, PING, GOAWAY, RST_STREAM and WINDOW_UPDATE', () => {
    const settings = encodeSettings([
      [3, 100],
      [4, 0x7fffffff],
    ])
    expect(settings.length).toBe(9 + 12)
    expect(settings.readUInt16BE(9)).toBe(3)
    expect(settings.readUInt32BE(11)).toBe(100)
    expect(settings.readUInt16BE(15)).toBe(4)
    expect(settings.readUInt32BE(17)).toBe(0x7fffffff)
    expect([...SETTINGS_ACK]).toEqual([0, 0, 0, 4, 1, 0, 0, 0, 0])
    const ping = encodePing(Buffer.from('12345678'), true)
    expect(ping[4]).toBe(FrameFlag.ACK)
    expect(ping.subarray(9).toString()).toBe('12345678')
    const goaway = encodeGoaway(7, H2ErrorCode.ENHANCE_YOUR_CALM, 'calm')
    expect(goaway.readUIntBE(0, 3)).toBe(12)
    expect(goaway.readUInt32BE(9)).toBe(7)
    expect(goaway.readUInt32BE(13)).toBe(0xb)
    expect(goaway.subarray(17).toString()).toBe('calm')
    const rst = encodeRstStream(5, H2ErrorCode.REFUSED_STREAM)
    expect(rst.readUInt32BE(5)).toBe(5)
    expect(rst.readUInt32BE(9)).toBe(7)
    const update = encodeWindowUpdate(0, 1 << 30)
    expect(update[3]).toBe(FrameType.WINDOW_UPDATE)
    expect(update.readUInt32BE(9)).toBe(1 << 30)
  })
})

describe('FrameReader', () => {
  const frames = [
    encodeFrame(FrameType.HEADERS, FrameFlag.END_HEADERS, 1, Buffer.from('header block')),
    encodeFrame(FrameType.DATA, 0, 1, Buffer.alloc(100, 0x61)),
    encodeFrame(FrameType.DATA, FrameFlag.END_STREAM, 1),
    encodePing(Buffer.alloc(8, 2), false),
  ]
  const wire = Buffer.concat(frames)

  it('reads frames from one chunk without copying', () => {
    const { frames: seen, reader } = collect()
    reader.push(wire)
    expect(seen.map((f) => [f.type, f.flags, f.streamId, f.payload.length])).toEqual([
      [FrameType.HEADERS, FrameFlag.END_HEADERS, 1, 12],
      [FrameType.DATA, 0, 1, 100],
      [FrameType.DATA, FrameFlag.END_STREAM, 1, 0],
      [FrameType.PING, 0, 0, 8],
    ])
    expect(reader.bufferedLength).toBe(0)
  })

  it('reads the same frames whatever the chunking (every split point, and byte by byte)', () => {
    const expected = collect()
    expected.reader.push(wire)
    for (let split = 1; split < wire.length; split++) {
      const { frames: seen, reader } = collect()
      reader.push(wire.subarray(0, split))
      reader.push(wire.subarray(split))
      expect(seen).toEqual(expected.frames)
    }
    const { frames: seen, reader } = collect()
    for (let i = 0; i < wire.length; i++) reader.push(wire.subarray(i, i + 1))
    expect(seen).toEqual(expected.frames)
  })

  it('holds at most one frame: a split frame is buffered at exactly its size', () => {
    const { reader } = collect()
    reader.push(wire.subarray(0, 9 + 12 + 5))
    expect(reader.bufferedLength).toBe(5)
    reader.push(wire.subarray(9 + 12 + 5, 9 + 12 + 9 + 50))
    expect(reader.bufferedLength).toBe(9 + 50)
  })

  it('refuses a frame over the size limit as soon as its header is read (FRAME_SIZE_ERROR)', () => {
    const { frames: seen, reader } = collect(16_384)
    const big = Buffer.alloc(9)
    big.writeUIntBE(16_385, 0, 3)
    big[3] = FrameType.DATA
    big.writeUInt32BE(1, 5)
    const error = thrown(() => reader.push(big))
    expect(error.code).toBe(H2ErrorCode.FRAME_SIZE_ERROR)
    expect(error.streamId).toBe(0)
    expect(seen).toEqual([])
    // Split before the length is complete: refused when the header completes.
    const second = collect(16_384)
    second.reader.push(big.subarray(0, 4))
    expect(thrown(() => second.reader.push(big.subarray(4))).code).toBe(
      H2ErrorCode.FRAME_SIZE_ERROR,
    )
    // A frame of exactly the limit is fine.
    const third = collect(16_384)
    third.reader.push(encodeFrame(FrameType.DATA, 0, 1, Buffer.alloc(16_384)))
    expect(third.frames.length).toBe(1)
  })

  it('stops when the handler says so; later bytes are dropped', () => {
    const { frames: seen, reader } = collect(16_384, 2)
    reader.push(wire)
    expect(seen.length).toBe(2)
    reader.push(wire)
    expect(seen.length).toBe(2)
  })

  it('hands over unknown frame types (the connection ignores them, RFC 9113 §4.1)', () => {
    const { frames: seen, reader } = collect()
    reader.push(encodeFrame(0xfa, 0xff, 3, Buffer.from('x')))
    expect(seen[0]?.type).toBe(0xfa)
  })
})

describe('checkFrameHeader (RFC 9113 §6)', () => {
  const connection = (type: number, flags: number, streamId: number, length: number) =>
    checkFrameHeader(type, flags, streamId, length)
  const cases: Array<[string, number, number, number, number, number, number]> = [
    // what, type, flags, stream, length, expected code, expected stream (0 = connection)
    ['DATA on stream 0', FrameType.DATA, 0, 0, 1, H2ErrorCode.PROTOCOL_ERROR, 0],
    ['HEADERS on stream 0', FrameType.HEADERS, 0, 0, 1, H2ErrorCode.PROTOCOL_ERROR, 0],
    ['CONTINUATION on stream 0', FrameType.CONTINUATION, 0, 0, 1, H2ErrorCode.PROTOCOL_ERROR, 0],
    ['PRIORITY on stream 0', FrameType.PRIORITY, 0, 0, 5, H2ErrorCode.PROTOCOL_ERROR, 0],
    ['PRIORITY of 4 bytes', FrameType.PRIORITY, 0, 3, 4, H2ErrorCode.FRAME_SIZE_ERROR, 3],
    ['RST_STREAM on stream 0', FrameType.RST_STREAM, 0, 0, 4, H2ErrorCode.PROTOCOL_ERROR, 0],
    ['RST_STREAM of 5 bytes', FrameType.RST_STREAM, 0, 1, 5, H2ErrorCode.FRAME_SIZE_ERROR, 0],
    ['SETTINGS on a stream', FrameType.SETTINGS, 0, 1, 0, H2ErrorCode.PROTOCOL_ERROR, 0],
    ['SETTINGS ACK with payload', FrameType.SETTINGS, 1, 0, 6, H2ErrorCode.FRAME_SIZE_ERROR, 0],
    ['SETTINGS of 7 bytes', FrameType.SETTINGS, 0, 0, 7, H2ErrorCode.FRAME_SIZE_ERROR, 0],
    ['PUSH_PROMISE from a client', FrameType.PUSH_PROMISE, 4, 1, 4, H2ErrorCode.PROTOCOL_ERROR, 0],
    ['PING on a stream', FrameType.PING, 0, 1, 8, H2ErrorCode.PROTOCOL_ERROR, 0],
    ['PING of 7 bytes', FrameType.PING, 0, 0, 7, H2ErrorCode.FRAME_SIZE_ERROR, 0],
    ['GOAWAY on a stream', FrameType.GOAWAY, 0, 1, 8, H2ErrorCode.PROTOCOL_ERROR, 0],
    ['GOAWAY of 7 bytes', FrameType.GOAWAY, 0, 0, 7, H2ErrorCode.FRAME_SIZE_ERROR, 0],
    ['WINDOW_UPDATE of 3 bytes', FrameType.WINDOW_UPDATE, 0, 0, 3, H2ErrorCode.FRAME_SIZE_ERROR, 0],
  ]
  for (const [what, type, flags, streamId, length, code, errorStream] of cases) {
    it(`refuses ${what}`, () => {
      const error = connection(type, flags, streamId, length)
      expect(error?.code).toBe(code)
      expect(error?.streamId).toBe(errorStream)
    })
  }

  it('accepts well-formed frames and unknown types', () => {
    expect(connection(FrameType.DATA, 1, 1, 0)).toBeUndefined()
    expect(connection(FrameType.SETTINGS, 0, 0, 12)).toBeUndefined()
    expect(connection(FrameType.SETTINGS, 1, 0, 0)).toBeUndefined()
    expect(connection(FrameType.PING, 1, 0, 8)).toBeUndefined()
    expect(connection(FrameType.GOAWAY, 0, 0, 20)).toBeUndefined()
    expect(connection(FrameType.WINDOW_UPDATE, 0, 5, 4)).toBeUndefined()
    expect(connection(FrameType.PRIORITY, 0, 5, 5)).toBeUndefined()
    expect(connection(0x42, 0xff, 0, 100)).toBeUndefined()
  })
})

describe('paddedEnd (RFC 9113 §6.1)', () => {
  it('removes the padding of a PADDED frame', () => {
    const payload = Buffer.from([3, 0x61, 0x62, 0, 0, 0])
    expect(paddedEnd(payload, 0, payload.length, FrameFlag.PADDED)).toBe(3)
    expect(paddedEnd(payload, 0, payload.length, 0)).toBe(payload.length)
    // Padding that fills the whole rest of the payload is fine.
    expect(paddedEnd(Buffer.from([2, 0, 0]), 0, 3, FrameFlag.PADDED)).toBe(1)
  })

  it('refuses a pad length that does not fit (connection PROTOCOL_ERROR)', () => {
    expect(thrown(() => paddedEnd(Buffer.from([3, 0, 0]), 0, 3, FrameFlag.PADDED)).code).toBe(
      H2ErrorCode.PROTOCOL_ERROR,
    )
    expect(thrown(() => paddedEnd(Buffer.alloc(0), 0, 0, FrameFlag.PADDED)).code).toBe(
      H2ErrorCode.PROTOCOL_ERROR,
    )
  })

  it('keeps the header length constant', () => {
    expect(FRAME_HEADER_LENGTH).toBe(9)
  })
})
