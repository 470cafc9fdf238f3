// Frame-level fuzzing of the native HTTP/2 engine (H2Options.engine 'native'): after the
// preface, sequences of valid, mutated and random frames (every type, unknown ones, random
// flags, lengths, stream ids and payloads, HPACK garbage) go to a real server on a real socket.
// Per case: the process does not crash, the connection either still answers a PING or ends
// with a GOAWAY carrying an RFC 9113 error code (never INTERNAL_ERROR: bad input is the
// client's fault), and a node:http2 client on another connection still gets its response.
// The seed is fixed so CI is reproducible; H2_FUZZ_SEED and H2_FUZZ_RUNS explore further.
import http2 from 'node:http2'
import { ResponseHeader } from '@pingora-ts/http'
import {
  H2_ERROR,
  H2_FLAG,
  H2_FRAME,
  type H2Frame,
  h2Frame,
  h2GetFields,
  hpackIndexed,
  hpackIndexedLiteral,
  hpackLiteral,
  RawH2Client,
} from '@pingora-ts/test-utils'
import fc from 'fast-check'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { HttpServerApp, HttpServerOptions } from '../../src/apps/http-app.ts'
import { HpackDecoder } from '../../src/protocols/http2/hpack/decoder.ts'
import { ListeningService } from '../../src/services/listening.ts'
import { portOf, startServer } from '../server/helpers.ts'

const SEED = Number(process.env.H2_FUZZ_SEED ?? 20261206)
const RUNS = Number(process.env.H2_FUZZ_RUNS ?? 300)
/** A case takes 5 to 30 ms (more on a loaded machine): long runs get room for the slow end. */
const TIMEOUT_MS = Math.max(60_000, RUNS * 100)
/** The largest error code RFC 9113 §7 defines (HTTP_1_1_REQUIRED). */
const MAX_ERROR_CODE = 0xd

/** Reads the whole request body, answers with its length. */
async function fuzzServer() {
  const app: HttpServerApp = {
    async processNewHttp(session) {
      if (!(await session.readRequest())) return undefined
      let length = 0
      for (;;) {
        const chunk = await session.readRequestBody()
        if (chunk === undefined) break
        length += chunk.length
      }
      await session.writeResponse(ResponseHeader.build(200), Buffer.from(String(length)))
      return session.finish()
    },
    serverOptions: (): HttpServerOptions => ({ h2c: true, h2: { engine: 'native' } }),
  }
  const service = new ListeningService('h2-native-fuzz', app)
  service.addTcp('127.0.0.1:0')
  await startServer([service])
  return portOf(service)
}

function u32(value: number): Buffer {
  const bytes = Buffer.alloc(4)
  bytes.writeUInt32BE(value >>> 0)
  return bytes
}

const post: Array<[string, string]> = [
  [':method', 'POST'],
  [':scheme', 'http'],
  [':path', '/upload'],
  [':authority', 'localhost'],
]

/** Builds frames; `id` gives the next new client stream id (ids must increase). */
type Render = (id: () => number) => Buffer

/** Well-formed frames (and frame pairs) a real client sends. */
const validFrames: Render[] = [
  (id) =>
    h2Frame(
      H2_FRAME.HEADERS,
      H2_FLAG.END_HEADERS | H2_FLAG.END_STREAM,
      id(),
      hpackLiteral(h2GetFields('/a')),
    ),
  (id) => {
    const stream = id()
    return Buffer.concat([
      h2Frame(H2_FRAME.HEADERS, H2_FLAG.END_HEADERS, stream, hpackLiteral(post)),
      h2Frame(H2_FRAME.DATA, 0, stream, Buffer.from('part')),
      h2Frame(H2_FRAME.WINDOW_UPDATE, 0, stream, u32(1)),
      h2Frame(H2_FRAME.DATA, H2_FLAG.END_STREAM, stream, Buffer.from('end')),
    ])
  },
  (id) => {
    const stream = id()
    return Buffer.concat([
      h2Frame(H2_FRAME.HEADERS, H2_FLAG.END_STREAM, stream, hpackLiteral(h2GetFields('/split'))),
      h2Frame(H2_FRAME.CONTINUATION, H2_FLAG.END_HEADERS, stream, hpackIndexedLiteral('x-a', 'b')),
    ])
  },
  (id) =>
    h2Frame(
      H2_FRAME.HEADERS,
      H2_FLAG.END_HEADERS | H2_FLAG.END_STREAM,
      id(),
      Buffer.concat([
        hpackIndexed(2),
        hpackIndexed(6),
        hpackIndexed(4),
        hpackLiteral([[':authority', 'h']]),
      ]),
    ),
  (id) => {
    const stream = id()
    return Buffer.concat([
      h2Frame(H2_FRAME.HEADERS, H2_FLAG.END_HEADERS, stream, hpackLiteral(post)),
      h2Frame(H2_FRAME.RST_STREAM, 0, stream, u32(H2_ERROR.CANCEL)),
    ])
  },
  () => h2Frame(H2_FRAME.SETTINGS, 0, 0, Buffer.from([0, 4, 0, 0, 0x10, 0, 0, 5, 0, 0, 0x40, 0])),
  () => h2Frame(H2_FRAME.SETTINGS, H2_FLAG.ACK, 0),
  () => h2Frame(H2_FRAME.WINDOW_UPDATE, 0, 0, u32(1024)),
  () => h2Frame(H2_FRAME.PING, 0, 0, Buffer.alloc(8, 7)),
  (id) => h2Frame(H2_FRAME.PRIORITY, 0, id() + 100, Buffer.from([0, 0, 0, 1, 16])),
  () => h2Frame(0xfa, 0xff, 0, Buffer.from('unknown')),
]

/** HPACK-shaped garbage: integers, string lengths and Huffman bits at random. */
const hpackGarbage = fc
  .array(
    fc.oneof(
      fc.integer({ min: 0x80, max: 0xff }).map((b) => Buffer.from([b])), // indexed, any index
      fc.constantFrom(
        Buffer.from([0x7f, 0xff, 0xff, 0xff, 0xff, 0x0f]), // oversized integer
        Buffer.from([0x3f, 0xe1, 0xff, 0x03]), // table size update
        Buffer.from([0x20]), // table size update to 0
        Buffer.from([0x00, 0x81, 0xff, 0x01, 0x61]), // Huffman name of EOS bits
        Buffer.from([0x40, 0x7f, 0x80]), // string longer than the block
      ),
      fc.uint8Array({ maxLength: 16 }).map((b) => Buffer.from(b)),
    ),
    { maxLength: 6 },
  )
  .map((parts) => Buffer.concat(parts))

const payload = fc.oneof(
  fc.constant(Buffer.alloc(0)),
  fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)),
  fc.integer({ min: 0, max: 0xffffffff }).map(u32),
  fc.uint8Array({ minLength: 5, maxLength: 5 }).map((b) => Buffer.from(b)),
  fc.uint8Array({ minLength: 8, maxLength: 8 }).map((b) => Buffer.from(b)),
  hpackGarbage,
  fc.integer({ min: 16_380, max: 16_400 }).map((n) => Buffer.alloc(n, 0x61)),
)

const streamId = fc.oneof(
  fc.constant(0),
  fc.integer({ min: 1, max: 15 }),
  fc.integer({ min: 0, max: 0x7fffffff }),
)

const randomFrame = fc
  .record({
    type: fc.oneof(fc.integer({ min: 0, max: 9 }), fc.integer({ min: 10, max: 255 })),
    flags: fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(0, 1, 4, 5, 8, 0x20, 0x2d)),
    streamId,
    payload,
  })
  .map(
    (f): Render =>
      () =>
        h2Frame(f.type, f.flags, f.streamId, f.payload),
  )

/** A valid frame with its type, flags, stream id or a payload byte changed. */
const mutatedFrame = fc
  .record({
    frame: fc.constantFrom(...validFrames),
    at: fc.nat(),
    value: fc.integer({ min: 0, max: 255 }),
  })
  .map(
    ({ frame, at, value }): Render =>
      (id) => {
        const copy = frame(id)
        // Never a length (bytes 0-2 of any frame: a render may hold several): the frame
        // boundaries stay in place. A longer length would leave the server waiting for the
        // rest of a frame (and the probe PING inside it) for good, with a stream open.
        const allowed: number[] = []
        for (let start = 0; start + 9 <= copy.length; ) {
          const end = Math.min(copy.length, start + 9 + copy.readUIntBE(start, 3))
          for (let i = start + 3; i < end; i++) allowed.push(i)
          start = end
        }
        copy[allowed[at % allowed.length] as number] = value
        return copy
      },
  )

/** SETTINGS values at and around every limit RFC 9113 §6.5.2 sets, and any 32-bit value. */
const settingValue = fc.oneof(
  fc.constantFrom(0, 1, 16_383, 16_384, 65_535, 0xffffff, 0x1000000, 0x7fffffff, 0x80000000),
  fc.constant(0xffffffff),
  fc.nat(),
)

/** A SETTINGS frame of 1 to 4 parameters, known (1-6) or not, with edge values. */
const randomSettings = fc
  .array(fc.tuple(fc.integer({ min: 0, max: 8 }), settingValue), { minLength: 1, maxLength: 4 })
  .map((pairs): Render => {
    const payload = Buffer.alloc(6 * pairs.length)
    pairs.forEach(([settingId, value], i) => {
      payload.writeUInt16BE(settingId, 6 * i)
      payload.writeUInt32BE(value >>> 0, 6 * i + 2)
    })
    return () => h2Frame(H2_FRAME.SETTINGS, 0, 0, payload)
  })

/** Window increments at and near 2^31 - 1 (overflow is FLOW_CONTROL_ERROR, §6.9.1). */
const increment = fc.constantFrom(
  1,
  65_535,
  0x7fffffff - 65_535,
  0x7fff0000,
  0x7ffffffe,
  0x7fffffff,
)

/** An open upload whose stream and connection windows are pushed toward 2^31 - 1. */
const windowEdge = fc.tuple(increment, increment).map(
  ([onStream, onConnection]): Render =>
    (id) => {
      const stream = id()
      return Buffer.concat([
        h2Frame(H2_FRAME.HEADERS, H2_FLAG.END_HEADERS, stream, hpackLiteral(post)),
        h2Frame(H2_FRAME.WINDOW_UPDATE, 0, stream, u32(onStream)),
        h2Frame(H2_FRAME.WINDOW_UPDATE, 0, 0, u32(onConnection)),
        h2Frame(H2_FRAME.DATA, H2_FLAG.END_STREAM, stream, Buffer.from('w')),
      ])
    },
)

/** Two requests sharing the dynamic table (an indexed literal, then a reference to it). */
const dynamicTablePair: Render = (id) => {
  const first = id()
  const second = id()
  return Buffer.concat([
    h2Frame(
      H2_FRAME.HEADERS,
      H2_FLAG.END_HEADERS | H2_FLAG.END_STREAM,
      first,
      Buffer.concat([
        hpackLiteral(h2GetFields('/d1')),
        hpackIndexedLiteral('x-dyn', 'v'.repeat(40)),
      ]),
    ),
    h2Frame(
      H2_FRAME.HEADERS,
      H2_FLAG.END_HEADERS | H2_FLAG.END_STREAM,
      second,
      Buffer.concat([hpackLiteral(h2GetFields('/d2')), hpackIndexed(62)]),
    ),
  ])
}

/** A valid upload with a mutated, random or edge frame between its HEADERS and its DATA. */
const interleaved = fc.oneof(mutatedFrame, randomFrame, randomSettings).map(
  (inner): Render =>
    (id) => {
      const stream = id()
      return Buffer.concat([
        h2Frame(H2_FRAME.HEADERS, H2_FLAG.END_HEADERS, stream, hpackLiteral(post)),
        inner(id),
        h2Frame(H2_FRAME.DATA, H2_FLAG.END_STREAM, stream, Buffer.from('after')),
      ])
    },
)

/** A dynamic-table pair with one byte of either header block changed (HPACK state under mutation). */
const mutatedPair = fc.record({ at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }).map(
  ({ at, value }): Render =>
    (id) => {
      const copy = dynamicTablePair(id)
      const firstLength = copy.readUIntBE(0, 3)
      const secondLength = copy.readUIntBE(9 + firstLength, 3)
      const offset = at % (firstLength + secondLength)
      copy[offset < firstLength ? 9 + offset : 18 + offset] = value
      return copy
    },
)

const frames = fc.array(
  fc.oneof(
    { arbitrary: fc.constantFrom(...validFrames, dynamicTablePair), weight: 6 },
    { arbitrary: mutatedFrame, weight: 2 },
    { arbitrary: randomFrame, weight: 2 },
    { arbitrary: fc.oneof(randomSettings, windowEdge, interleaved, mutatedPair), weight: 2 },
  ),
  { minLength: 1, maxLength: 6 },
)

/** Raw bytes after the frames: a truncated or lying frame header, or nothing. */
const tail = fc.option(
  fc.uint8Array({ minLength: 1, maxLength: 24 }).map((b) => Buffer.from(b)),
  {
    freq: 4,
  },
)

function goawayCodes(received: H2Frame[]): number[] {
  return received.filter((f) => f.type === H2_FRAME.GOAWAY).map((f) => f.payload.readUInt32BE(4))
}

function resetCodes(received: H2Frame[]): number[] {
  return received
    .filter((f) => f.type === H2_FRAME.RST_STREAM)
    .map((f) => f.payload.readUInt32BE(0))
}

const PROBE = Buffer.from('fuzzprob')

/** Resolves `'pong'` when the server answers our probe PING, `'closed'` when it closes. */
async function probe(c: RawH2Client): Promise<'pong' | 'closed'> {
  c.send(h2Frame(H2_FRAME.PING, 0, 0, PROBE))
  try {
    await c.waitFor(
      (f) => f.type === H2_FRAME.PING && f.flags === H2_FLAG.ACK && f.payload.equals(PROBE),
    )
    return 'pong'
  } catch {
    return 'closed'
  }
}

/** How long a probe may wait before the case counts as a stall (the server must answer or close). */
const STALL_MS = 10_000

/** Resolves `'stalled'` when `promise` has not settled within {@link STALL_MS}. */
async function orStall<T>(promise: Promise<T>): Promise<T | 'stalled'> {
  let timer: NodeJS.Timeout | undefined
  const stalled = new Promise<'stalled'>((resolve) => {
    timer = setTimeout(() => resolve('stalled'), STALL_MS)
  })
  try {
    return await Promise.race([promise, stalled])
  } finally {
    clearTimeout(timer)
  }
}

/**
 * The `:status` of the first response on `streamId`, from a decoder fed every header block the
 * server sent on the connection in order: the server's HPACK stream (dynamic table, size
 * updates after a SETTINGS_HEADER_TABLE_SIZE) must decode, or this throws.
 */
function responseStatus(received: H2Frame[], streamId: number): string | undefined {
  const decoder = new HpackDecoder({
    maxDynamicTableSize: 4096,
    maxHeaderListSize: 1 << 20,
    maxHeaderListPairs: 1000,
  })
  let parts: Buffer[] = []
  for (const f of received) {
    if (f.type !== H2_FRAME.HEADERS && f.type !== H2_FRAME.CONTINUATION) continue
    parts.push(f.payload)
    if ((f.flags & H2_FLAG.END_HEADERS) === 0) continue
    const block = Buffer.concat(parts)
    parts = []
    const fields: string[] = []
    decoder.decode(block, 0, block.length, fields)
    if (f.streamId === streamId && fields[0] === ':status') return fields[1]
  }
  return undefined
}

/**
 * After a PING answer, a GET on a new stream of the same connection: the connection must still
 * work (a response, or a refusal), so a desynchronised HPACK table or lost stream state shows.
 */
async function followUp(c: RawH2Client, streamId: number): Promise<string> {
  c.headers(streamId, h2GetFields('/follow-up'))
  try {
    const frame = await c.waitFor(
      (f) =>
        ((f.type === H2_FRAME.HEADERS || f.type === H2_FRAME.RST_STREAM) &&
          f.streamId === streamId) ||
        f.type === H2_FRAME.GOAWAY,
    )
    if (frame.type === H2_FRAME.HEADERS) return `status ${responseStatus(c.frames, streamId)}`
    return frame.type === H2_FRAME.RST_STREAM ? 'refused' : 'goaway'
  } catch {
    return 'closed'
  }
}

/** One request from node:http2 on a fresh connection; resolves with status and body. */
function wellBehaved(port: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`)
    session.on('error', reject)
    const request = session.request({ ':method': 'POST', ':path': '/ok' })
    let status = 0
    const chunks: Buffer[] = []
    request.on('response', (headers) => {
      status = Number(headers[':status'])
    })
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      session.close()
      resolve({ status, body: Buffer.concat(chunks).toString() })
    })
    request.on('error', reject)
    request.end('hello')
  })
}

describe('native HTTP/2 engine: frame fuzzing', () => {
  const crashes: unknown[] = []
  const onCrash = (error: unknown) => crashes.push(error)
  beforeEach(() => {
    process.on('uncaughtException', onCrash)
    process.on('unhandledRejection', onCrash)
  })
  afterEach(() => {
    process.off('uncaughtException', onCrash)
    process.off('unhandledRejection', onCrash)
  })

  it(
    `survives ${RUNS} random frame sequences with RFC codes, keeps serving`,
    async () => {
      const port = await fuzzServer()
      let pongs = 0
      let goaways = 0
      await fc.assert(
        fc.asyncProperty(frames, tail, async (sequence, garbage) => {
          const c = await RawH2Client.connect(port)
          try {
            let next = -1
            const id = () => {
              next += 2
              return next
            }
            c.send(Buffer.concat(sequence.map((render) => render(id))))
            let outcome: 'pong' | 'closed'
            if (garbage === null) {
              const answer = await orStall(probe(c))
              expect(answer).not.toBe('stalled')
              outcome = answer === 'stalled' ? 'closed' : answer
              if (outcome === 'pong') {
                const served = await orStall(followUp(c, id()))
                expect(served).not.toBe('stalled')
                // A served GET is answered 200 (the app reads the empty body and says "0").
                if (served.startsWith('status')) expect(served).toBe('status 200')
              }
            } else {
              // The bytes may leave a frame half read: the server waits for the rest. Ending
              // our side must end the connection either way.
              c.send(garbage)
              c.socket.end()
              outcome = 'closed'
            }
            if (outcome === 'pong') {
              pongs++
              c.socket.end()
            }
            await c.closed
            const codes = goawayCodes(c.frames)
            if (codes.length > 0) goaways++
            for (const code of [...codes, ...resetCodes(c.frames)]) {
              expect(code).toBeLessThanOrEqual(MAX_ERROR_CODE)
              expect(code).not.toBe(H2_ERROR.INTERNAL_ERROR)
            }
          } finally {
            c.close()
          }
          expect(await wellBehaved(port)).toEqual({ status: 200, body: '5' })
          expect(crashes).toEqual([])
        }),
        { seed: SEED, numRuns: RUNS },
      )
      // The generators reach both outcomes (a fuzzer that only ever hits GOAWAY tests little).
      expect(pongs).toBeGreaterThan(RUNS / 12)
      expect(goaways).toBeGreaterThan(RUNS / 12)
      if (process.env.H2_FUZZ_REPORT) process.stderr.write(`pongs ${pongs} goaways ${goaways}\n`)
    },
    TIMEOUT_MS,
  )
})
