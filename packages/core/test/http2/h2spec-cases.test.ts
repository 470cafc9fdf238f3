// The conformance cases of h2spec (an HTTP/2 conformance tool: its `http2`, `hpack` and
// `generic` groups, 147 cases with --strict), written as our own raw-frame tests so that CI
// checks them without the tool: one test per h2spec case, named after the RFC 9113 (or RFC 7541)
// section it checks, with h2spec's own id (RFC 7540 numbering) in brackets. bench/h2/h2spec.sh
// runs the real tool against both engines when it is at hand.
//
// Every case runs on the native engine (our frame layer) and on the node engine (nghttp2).
// Where nghttp2 answers differently from what RFC 9113 asks, the case says so in a `node`
// outcome with a comment: that is nghttp2's behaviour, asserted so that a change shows.
import { readFileSync } from 'node:fs'
import net from 'node:net'
import tls from 'node:tls'
import { ResponseHeader } from '@pingora-ts/http'
import {
  certs,
  H2_ERROR,
  H2_FLAG,
  H2_FRAME,
  type H2Frame,
  h2Frame,
  h2GetFields,
  h2PostFields,
  h2RstStream,
  h2Settings,
  hpackInteger,
  hpackLiteral,
  hpackString,
  RawH2Client,
} from '@pingora-ts/test-utils'
import { TlsSettings } from '@pingora-ts/tls'
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest'
import type { HttpServerApp } from '../../src/apps/http-app.ts'
import type { H2Engine, H2Options } from '../../src/protocols/http2/connection.ts'
import { Server } from '../../src/server/server.ts'
import { ListeningService } from '../../src/services/listening.ts'
import { portOf } from '../server/helpers.ts'

/** What the app saw of one request. */
interface Seen {
  method: string
  uri: string
  fields: Array<[string, string]>
  body: string
}

const RESPONSE = Buffer.from('hello from the h2spec cases')

/**
 * An h2c server on `engine`: reads each request body whole, records the request, and answers
 * 200 with {@link RESPONSE}; `/gate/NAME` waits for `release(NAME)` first (its stream stays
 * "half-closed (remote)" meanwhile).
 */
async function startCaseServer(engine: H2Engine, h2: H2Options = {}, tls = false) {
  const seen: Seen[] = []
  const gates = new Map<string, () => void>()
  const waits = new Map<string, Promise<void>>()
  const gate = (name: string): Promise<void> => {
    let wait = waits.get(name)
    if (wait === undefined) {
      wait = new Promise<void>((resolve) => gates.set(name, resolve))
      waits.set(name, wait)
    }
    return wait
  }
  const app: HttpServerApp = {
    async processNewHttp(session) {
      if (!(await session.readRequest())) return undefined
      const header = session.requestHeader
      const chunks: Buffer[] = []
      for (;;) {
        const chunk = await session.readRequestBody()
        if (chunk === undefined) break
        chunks.push(chunk)
      }
      seen.push({
        method: header.method,
        uri: header.uri,
        fields: [...header.headers],
        body: Buffer.concat(chunks).toString(),
      })
      if (header.uri.startsWith('/gate/')) await gate(header.uri.slice(6))
      await session.writeResponse(ResponseHeader.build(200), RESPONSE)
      return session.finish()
    },
    serverOptions: () => ({ h2c: true, h2: { ...h2, engine } }),
  }
  const service = new ListeningService(`h2spec-cases-${engine}`, app)
  if (tls) {
    const settings = TlsSettings.intermediate(certs.localhost.cert, certs.localhost.key)
    service.addTlsWithSettings('127.0.0.1:0', undefined, settings.enableH2())
  } else service.addTcp('127.0.0.1:0')
  const server = new Server({ configuration: { gracePeriodSeconds: 1 } })
  server.addServices([service])
  await server.start()
  return {
    port: portOf(service),
    seen,
    release: (name: string) => {
      void gate(name)
      gates.get(name)?.()
    },
    stop: () => {
      for (const open of gates.values()) open()
      return server.shutdown({ graceful: false })
    },
  }
}

type CaseServer = Awaited<ReturnType<typeof startCaseServer>>

async function client(port: number, options?: Parameters<typeof RawH2Client.connect>[1]) {
  const c = await RawH2Client.connect(port, options)
  onTestFinished(() => c.close())
  return c
}

// ---- frames and header blocks --------------------------------------------------------------

function get(path: string): Array<[string, string]> {
  return h2GetFields(path)
}

/** A HEADERS frame carrying `block` (an encoded header block) with `flags`. */
function headers(streamId: number, block: Buffer, flags: number): Buffer {
  return h2Frame(H2_FRAME.HEADERS, flags, streamId, block)
}

const END_BOTH = H2_FLAG.END_HEADERS | H2_FLAG.END_STREAM

function data(streamId: number, text: string, endStream: boolean): Buffer {
  return h2Frame(H2_FRAME.DATA, endStream ? H2_FLAG.END_STREAM : 0, streamId, Buffer.from(text))
}

function continuation(streamId: number, block: Buffer, endHeaders: boolean): Buffer {
  return h2Frame(H2_FRAME.CONTINUATION, endHeaders ? H2_FLAG.END_HEADERS : 0, streamId, block)
}

/** A PRIORITY frame: `dependency` (E bit when `exclusive`) and `weight` (1-256). */
function priority(streamId: number, dependency: number, weight: number, exclusive = false): Buffer {
  const payload = Buffer.alloc(5)
  payload.writeUInt32BE(((exclusive ? 0x80000000 : 0) | dependency) >>> 0)
  payload[4] = weight - 1
  return h2Frame(H2_FRAME.PRIORITY, 0, streamId, payload)
}

function windowUpdate(streamId: number, increment: number): Buffer {
  const payload = Buffer.alloc(4)
  payload.writeUInt32BE(increment >>> 0)
  return h2Frame(H2_FRAME.WINDOW_UPDATE, 0, streamId, payload)
}

function goawayFrame(lastStreamId: number, code: number): Buffer {
  const payload = Buffer.alloc(8)
  payload.writeUInt32BE(lastStreamId)
  payload.writeUInt32BE(code, 4)
  return h2Frame(H2_FRAME.GOAWAY, 0, 0, payload)
}

function ping(opaque: string, ack = false): Buffer {
  return h2Frame(H2_FRAME.PING, ack ? H2_FLAG.ACK : 0, 0, Buffer.from(opaque, 'latin1'))
}

// HPACK pieces (RFC 7541 §5 and §6), written out byte by byte.
/** An HPACK integer with an `prefix`-bit prefix, the first byte's other bits `first`. */
/** A string literal: raw octets, or (hex) Huffman-coded octets. */
function huff(hex: string): Buffer {
  const bytes = Buffer.from(hex, 'hex')
  return Buffer.concat([Buffer.from(hpackInteger(bytes.length, 7, 0x80)), bytes])
}

/** The block of a GET with static-table references for `:method`, `:scheme` (and `:path /`). */
function getBlock(path: string): Buffer {
  const parts: Buffer[] = [Buffer.from([0x82, 0x86])] // :method GET, :scheme http
  if (path === '/') parts.push(Buffer.from([0x84]))
  else parts.push(Buffer.from(hpackInteger(4, 4, 0x00)), hpackString(path)) // :path, literal value
  parts.push(Buffer.from(hpackInteger(1, 4, 0x00)), hpackString('localhost')) // :authority, literal value
  return Buffer.concat(parts)
}

// Huffman codes from RFC 7541 Appendix C.4.
const HUFF_CUSTOM_KEY = '25a849e95ba97d7f'
const HUFF_CUSTOM_VALUE = '25a849e95bb8e8b4bf'
const HUFF_NO_CACHE = 'a8eb10649cbf'
/** `cache-control` in the static table (RFC 7541 Appendix A). */
const CACHE_CONTROL = 24

// ---- outcomes -------------------------------------------------------------------------------

/**
 * What the server must do: a connection error (GOAWAY with one of `codes`, then close), a
 * stream error (RST_STREAM with one of `codes` on the case's stream, the connection goes on),
 * a 200 response on the case's stream, or nothing at all (a PING sent after is answered).
 */
type Outcome =
  | { readonly goaway: readonly number[] }
  | { readonly rst: readonly number[] }
  | { readonly response: true }
  | { readonly ignored: true }
  | { readonly refused: readonly number[] }

const { PROTOCOL_ERROR, FLOW_CONTROL_ERROR, STREAM_CLOSED, FRAME_SIZE_ERROR, COMPRESSION_ERROR } =
  H2_ERROR
const goaway = (...codes: number[]): Outcome => ({ goaway: codes })
const rst = (...codes: number[]): Outcome => ({ rst: codes })
const RESPONSE_200: Outcome = { response: true }
const IGNORED: Outcome = { ignored: true }
/**
 * The node engine's answer to many errors: GOAWAY(INTERNAL_ERROR) on Node 20 where RFC 9113
 * names a code (one of the traps ADR 0026 lists; h2spec passes it, as the connection closes),
 * a GOAWAY with the RFC's code on Node 24. Stands for `goaway(INTERNAL_ERROR, ...expected codes)`.
 */
const NODE_INTERNAL: Outcome = { refused: [-1] }
/**
 * Whether this Node's nghttp2 ignores PRIORITY frames (RFC 9113 §5.3.2 deprecates them): 1.69
 * (Node 22.23) and 1.70 (Node 24) do, 1.61 (Node 20) does not.
 */
const NGHTTP2_IGNORES_PRIORITY = (() => {
  const [major = 0, minor = 0] = (process.versions.nghttp2 ?? '0.0').split('.').map(Number)
  return major > 1 || (major === 1 && minor >= 69)
})()

/** Waits for a PING ACK carrying `opaque`; no GOAWAY may come first. */
async function pong(c: RawH2Client, opaque: string): Promise<void> {
  c.send(ping(opaque))
  const frame = await c.waitFor(
    (f) =>
      f.type === H2_FRAME.GOAWAY ||
      (f.type === H2_FRAME.PING &&
        (f.flags & H2_FLAG.ACK) !== 0 &&
        f.payload.toString() === opaque),
  )
  expect(frame.type).toBe(H2_FRAME.PING)
}

async function expectOutcome(
  c: RawH2Client,
  streamId: number,
  outcome: Outcome,
  engine: H2Engine,
): Promise<void> {
  if ('goaway' in outcome) {
    expect(outcome.goaway).toContain(await c.goawayCode())
    // The node engine leaves the socket open after some of its GOAWAY frames until the client
    // closes it (h2spec takes the GOAWAY alone); ours closes it.
    if (engine === 'native') await c.closed
    return
  }
  if ('refused' in outcome) {
    // A stream error or a connection error, either.
    const frame = await c.waitFor(
      (f) =>
        f.type === H2_FRAME.GOAWAY || (f.type === H2_FRAME.RST_STREAM && f.streamId === streamId),
    )
    const code = frame.payload.readUInt32BE(frame.type === H2_FRAME.GOAWAY ? 4 : 0)
    expect(outcome.refused).toContain(code)
    return
  }
  if ('rst' in outcome) {
    const frame = await c.waitFor(
      (f) =>
        f.type === H2_FRAME.GOAWAY || (f.type === H2_FRAME.RST_STREAM && f.streamId === streamId),
    )
    expect(frame.type).toBe(H2_FRAME.RST_STREAM)
    expect(outcome.rst).toContain(frame.payload.readUInt32BE(0))
    // A stream error leaves the connection up.
    await pong(c, 'after-rs')
    return
  }
  if ('response' in outcome) {
    const frame = await c.waitFor(
      (f) =>
        f.type === H2_FRAME.GOAWAY ||
        (f.type === H2_FRAME.RST_STREAM && f.streamId === streamId) ||
        (f.type === H2_FRAME.HEADERS && f.streamId === streamId),
    )
    expect(frame.type).toBe(H2_FRAME.HEADERS)
    expect(await c.status(streamId)).toBe(200)
    return
  }
  await pong(c, 'ignored!')
  expect(c.frames.some((f) => f.type === H2_FRAME.GOAWAY || f.type === H2_FRAME.RST_STREAM)).toBe(
    false,
  )
}

/** The DATA frames received on `streamId`. */
function dataFrames(c: RawH2Client, streamId: number): H2Frame[] {
  return c.frames.filter((f) => f.type === H2_FRAME.DATA && f.streamId === streamId)
}

/** Waits until the response on `streamId` ended (END_STREAM on HEADERS or DATA). */
function responseEnded(c: RawH2Client, streamId: number): Promise<H2Frame> {
  return c.waitFor(
    (f) =>
      f.streamId === streamId &&
      (f.type === H2_FRAME.DATA || f.type === H2_FRAME.HEADERS) &&
      (f.flags & H2_FLAG.END_STREAM) !== 0,
  )
}

function settingsOf(frame: H2Frame): Map<number, number> {
  const out = new Map<number, number>()
  for (let i = 0; i < frame.payload.length; i += 6) {
    out.set(frame.payload.readUInt16BE(i), frame.payload.readUInt32BE(i + 2))
  }
  return out
}

/** Waits for the server's ACK of our SETTINGS (one more than ACKs seen so far). */
function settingsAck(c: RawH2Client, count = 1): Promise<H2Frame> {
  let seen = 0
  return c.waitFor(
    (f) => f.type === H2_FRAME.SETTINGS && (f.flags & H2_FLAG.ACK) !== 0 && ++seen >= count,
  )
}

// ---- the cases ----------------------------------------------------------------------------

interface Case {
  /** RFC section and what is checked, with the h2spec id in brackets. */
  readonly name: string
  /** The stream the outcome is about. */
  readonly stream?: number
  /** Sends the frames (after the preface and our SETTINGS); may wait for answers. */
  readonly send: (c: RawH2Client, server: CaseServer) => unknown
  readonly expect: Outcome
  /** nghttp2's answer where it differs from `expect` (the reason in a comment). */
  readonly node?: Outcome
  /** Checks after the outcome (what the app saw). */
  readonly after?: (c: RawH2Client, server: CaseServer, engine: H2Engine) => unknown
}

const DUMMY = hpackLiteral([['x-dummy', 'dummy']])

const cases: Case[] = [
  // RFC 9113 §4.1 Frame Format
  {
    name: '§4.1 ignores a frame of unknown type [http2/4.1/1]',
    send: (c) => c.send(h2Frame(0x16, 0, 0, Buffer.alloc(8))),
    expect: IGNORED,
  },
  {
    name: '§4.1 ignores undefined flags (a PING with flags 0x16) [http2/4.1/2]',
    send: async (c) => {
      c.send(h2Frame(H2_FRAME.PING, 0x16, 0, Buffer.from('flags!!!')))
      const answer = await c.waitFor((f) => f.type === H2_FRAME.PING)
      expect(answer.flags).toBe(H2_FLAG.ACK)
      expect(answer.payload.toString()).toBe('flags!!!')
    },
    expect: IGNORED,
  },
  {
    name: '§4.1 ignores the reserved bit of the stream id [http2/4.1/3]',
    send: async (c) => {
      const frame = h2Frame(H2_FRAME.PING, 0, 0, Buffer.from('reserved'))
      frame[5] = 0x80
      c.send(frame)
      const answer = await c.waitFor((f) => f.type === H2_FRAME.PING)
      expect(answer.payload.toString()).toBe('reserved')
    },
    expect: IGNORED,
  },
  // RFC 9113 §4.2 Frame Size
  {
    name: '§4.2 takes a DATA frame of 2^14 octets [http2/4.2/1]',
    stream: 1,
    send: (c) => {
      c.send(headers(1, hpackLiteral(h2PostFields('/max-frame', 16_384)), H2_FLAG.END_HEADERS))
      c.send(h2Frame(H2_FRAME.DATA, H2_FLAG.END_STREAM, 1, Buffer.alloc(16_384, 0x61)))
    },
    expect: RESPONSE_200,
    after: (_c, server) => {
      expect(server.seen.find((s) => s.uri === '/max-frame')?.body.length).toBe(16_384)
    },
  },
  {
    name: '§4.2 answers DATA over SETTINGS_MAX_FRAME_SIZE with FRAME_SIZE_ERROR [http2/4.2/2]',
    stream: 1,
    send: (c) => {
      c.send(headers(1, hpackLiteral(h2PostFields('/too-big')), H2_FLAG.END_HEADERS))
      c.send(h2Frame(H2_FRAME.DATA, H2_FLAG.END_STREAM, 1, Buffer.alloc(16_385)))
    },
    // A frame too large to read is a connection error for us (RFC 9113 §4.2 allows it: the
    // server cannot tell what else the frame would have changed); h2spec takes either.
    expect: goaway(FRAME_SIZE_ERROR),
  },
  {
    name: '§4.2 answers HEADERS over SETTINGS_MAX_FRAME_SIZE with a connection FRAME_SIZE_ERROR [http2/4.2/3]',
    send: (c) => {
      const big = hpackLiteral([...get('/big-headers'), ['x-big', 'x'.repeat(16_400)]])
      c.send(headers(1, big, END_BOTH))
    },
    expect: goaway(FRAME_SIZE_ERROR),
  },
  // RFC 9113 §4.3 Field Section Compression and Decompression
  {
    name: '§4.3 ends the connection on a header block that does not decode (COMPRESSION_ERROR) [http2/4.3/1]',
    send: (c) => c.send(headers(1, Buffer.from([0x40]), END_BOTH)),
    expect: goaway(COMPRESSION_ERROR),
  },
  {
    name: '§4.3 refuses a PRIORITY frame inside a header block (PROTOCOL_ERROR) [http2/4.3/2]',
    send: (c) => {
      c.send(headers(1, hpackLiteral(get('/split')), H2_FLAG.END_STREAM))
      c.send(priority(1, 0, 255))
      c.send(continuation(1, DUMMY, true))
    },
    expect: goaway(PROTOCOL_ERROR),
  },
  {
    name: '§4.3 refuses HEADERS of another stream inside a header block (PROTOCOL_ERROR) [http2/4.3/3]',
    send: (c) => {
      c.send(headers(1, hpackLiteral(get('/split')), 0))
      c.send(headers(3, hpackLiteral(get('/other')), END_BOTH))
      c.send(continuation(1, DUMMY, true))
    },
    expect: goaway(PROTOCOL_ERROR),
    after: (_c, server) => expect(server.seen.some((s) => s.uri === '/other')).toBe(false),
  },
  // RFC 9113 §5.1 Stream States
  {
    name: '§5.1 idle: DATA is a connection PROTOCOL_ERROR [http2/5.1/1]',
    send: (c) => c.send(data(1, 'test', true)),
    expect: goaway(PROTOCOL_ERROR),
  },
  {
    name: '§5.1 idle: RST_STREAM is a connection PROTOCOL_ERROR [http2/5.1/2]',
    send: (c) => c.send(h2RstStream(1, H2_ERROR.CANCEL)),
    expect: goaway(PROTOCOL_ERROR),
    // nghttp2: GOAWAY(INTERNAL_ERROR) on Node 20 (see NODE_INTERNAL).
    node: NODE_INTERNAL,
  },
  {
    name: '§5.1 idle: WINDOW_UPDATE is a connection PROTOCOL_ERROR [http2/5.1/3]',
    send: (c) => c.send(windowUpdate(1, 100)),
    expect: goaway(PROTOCOL_ERROR),
    // nghttp2: GOAWAY(INTERNAL_ERROR) on Node 20 (see NODE_INTERNAL).
    node: NODE_INTERNAL,
  },
  {
    name: '§5.1 idle: CONTINUATION is a connection PROTOCOL_ERROR [http2/5.1/4]',
    send: (c) => c.send(continuation(1, hpackLiteral(get('/c')), true)),
    expect: goaway(PROTOCOL_ERROR),
  },
  {
    name: '§5.1 half-closed (remote): DATA is a stream error STREAM_CLOSED [http2/5.1/5]',
    stream: 1,
    send: (c) => {
      c.send(headers(1, hpackLiteral(get('/gate/5.1-5')), END_BOTH))
      c.send(data(1, 'test', true))
    },
    expect: rst(STREAM_CLOSED),
    // nghttp2 makes it a connection error.
    node: goaway(STREAM_CLOSED),
  },
  {
    name: '§5.1 half-closed (remote): HEADERS is a stream error STREAM_CLOSED [http2/5.1/6]',
    stream: 1,
    send: (c) => {
      c.send(headers(1, hpackLiteral(get('/gate/5.1-6')), END_BOTH))
      c.send(headers(1, hpackLiteral([['x-trailer', '1']]), END_BOTH))
    },
    expect: rst(STREAM_CLOSED),
    // nghttp2: GOAWAY(INTERNAL_ERROR) on Node 20 (see NODE_INTERNAL).
    node: NODE_INTERNAL,
  },
  {
    name: '§5.1 half-closed (remote): CONTINUATION is a connection PROTOCOL_ERROR (§6.10) [http2/5.1/7]',
    send: (c) => {
      c.send(headers(1, hpackLiteral(get('/gate/5.1-7')), END_BOTH))
      c.send(continuation(1, DUMMY, true))
    },
    expect: goaway(PROTOCOL_ERROR),
  },
  {
    name: "§5.1 closed: DATA after the client's RST_STREAM is a stream error STREAM_CLOSED [http2/5.1/8]",
    stream: 1,
    send: (c) => {
      c.send(headers(1, hpackLiteral(h2PostFields('/reset-then-data')), H2_FLAG.END_HEADERS))
      c.send(h2RstStream(1, H2_ERROR.CANCEL))
      c.send(data(1, 'test', true))
    },
    expect: rst(STREAM_CLOSED),
    // nghttp2 ignores frames on a stream it no longer knows (h2spec fails it here).
    node: IGNORED,
  },
  {
    name: "§5.1 closed: HEADERS after the client's RST_STREAM is a STREAM_CLOSED error [http2/5.1/9]",
    send: (c) => {
      c.send(headers(1, hpackLiteral(h2PostFields('/reset-then-headers')), H2_FLAG.END_HEADERS))
      c.send(h2RstStream(1, H2_ERROR.CANCEL))
      c.send(headers(1, hpackLiteral([['x-trailer', '1']]), END_BOTH))
    },
    // §5.1 allows a stream or a connection error; a HEADERS frame on a closed stream (the HPACK
    // state moved on) is a connection error for us.
    expect: goaway(STREAM_CLOSED),
    // nghttp2 ignores it (h2spec fails it here).
    node: IGNORED,
  },
  {
    name: "§5.1 closed: CONTINUATION after the client's RST_STREAM is a connection PROTOCOL_ERROR [http2/5.1/10]",
    send: (c) => {
      c.send(headers(1, hpackLiteral(h2PostFields('/reset-then-cont')), H2_FLAG.END_HEADERS))
      c.send(h2RstStream(1, H2_ERROR.CANCEL))
      c.send(continuation(1, DUMMY, true))
    },
    expect: goaway(PROTOCOL_ERROR),
  },
  {
    name: '§5.1 closed: DATA after both sides ended is a STREAM_CLOSED error [http2/5.1/11] [http2/6.1/2]',
    stream: 1,
    send: async (c) => {
      c.send(headers(1, hpackLiteral(get('/closed-data')), END_BOTH))
      await responseEnded(c, 1)
      c.send(data(1, 'test', true))
    },
    // §6.1 names a stream error; §5.1 a connection error: RST_STREAM answers both.
    expect: rst(STREAM_CLOSED),
    // nghttp2 ignores it (h2spec fails it here).
    node: IGNORED,
  },
  {
    name: '§5.1 closed: HEADERS after both sides ended is a connection STREAM_CLOSED [http2/5.1/12]',
    send: async (c) => {
      c.send(headers(1, hpackLiteral(get('/closed-headers')), END_BOTH))
      await responseEnded(c, 1)
      c.send(headers(1, hpackLiteral(get('/closed-headers')), END_BOTH))
    },
    expect: goaway(STREAM_CLOSED),
    // nghttp2 ignores it (h2spec fails it here).
    node: IGNORED,
  },
  {
    name: '§5.1 closed: CONTINUATION after both sides ended is a connection PROTOCOL_ERROR [http2/5.1/13]',
    send: async (c) => {
      c.send(headers(1, hpackLiteral(get('/closed-cont')), END_BOTH))
      await responseEnded(c, 1)
      c.send(continuation(1, DUMMY, true))
    },
    expect: goaway(PROTOCOL_ERROR),
  },
  // RFC 9113 §5.1.1 Stream Identifiers
  {
    name: '§5.1.1 an even stream id from a client is a connection PROTOCOL_ERROR [http2/5.1.1/1]',
    send: (c) => c.send(headers(2, hpackLiteral(get('/even')), END_BOTH)),
    expect: goaway(PROTOCOL_ERROR),
    // nghttp2: GOAWAY(INTERNAL_ERROR) on Node 20 (see NODE_INTERNAL).
    node: NODE_INTERNAL,
    after: (_c, server) => expect(server.seen.some((s) => s.uri === '/even')).toBe(false),
  },
  {
    name: '§5.1.1 a stream id lower than one already opened is a connection error [http2/5.1.1/2]',
    send: (c) => {
      c.send(headers(5, hpackLiteral(get('/five')), END_BOTH))
      c.send(headers(3, hpackLiteral(get('/three')), END_BOTH))
    },
    // RFC 9113 §5.1.1 names PROTOCOL_ERROR; stream 3 is also "closed" (§5.1: STREAM_CLOSED).
    expect: goaway(PROTOCOL_ERROR, STREAM_CLOSED),
    // nghttp2 answers stream 5 and ignores the HEADERS on stream 3 (h2spec fails it here).
    node: IGNORED,
    after: (_c, server) => expect(server.seen.some((s) => s.uri === '/three')).toBe(false),
  },
  // RFC 9113 §5.3.1 Stream Dependencies
  {
    name: '§5.3.1 HEADERS depending on its own stream is a stream PROTOCOL_ERROR [http2/5.3.1/1]',
    stream: 1,
    send: (c) => {
      // The block adds `x-sync: 1` to the dynamic table: it must be decoded all the same.
      const block = Buffer.concat([
        Buffer.from([0, 0, 0, 1, 15]),
        hpackLiteral(get('/self')),
        Buffer.from([0x40]),
        hpackString('x-sync'),
        hpackString('1'),
      ])
      c.send(headers(1, block, END_BOTH | H2_FLAG.PRIORITY))
    },
    expect: rst(PROTOCOL_ERROR),
    // nghttp2: GOAWAY(INTERNAL_ERROR) on Node 20 (see NODE_INTERNAL).
    node: NODE_INTERNAL,
    after: async (c, server, engine) => {
      if (engine === 'node') return // the connection is gone
      // The HPACK state went on: dynamic entry 62 is the field of the refused block.
      c.send(headers(3, Buffer.concat([getBlock('/synced'), Buffer.from([0xbe])]), END_BOTH))
      expect(await c.status(3)).toBe(200)
      expect(server.seen.find((s) => s.uri === '/synced')?.fields).toContainEqual(['x-sync', '1'])
      expect(server.seen.some((s) => s.uri === '/self')).toBe(false)
    },
  },
  {
    name: '§5.3.1 PRIORITY depending on its own stream is a stream PROTOCOL_ERROR [http2/5.3.1/2]',
    stream: 1,
    send: (c) => c.send(priority(1, 1, 16)),
    expect: rst(PROTOCOL_ERROR),
    // nghttp2 1.61 (Node 20) makes it a connection error; 1.69+ ignores PRIORITY frames.
    node: NGHTTP2_IGNORES_PRIORITY ? IGNORED : goaway(PROTOCOL_ERROR),
  },
  // RFC 9113 §5.4.1 Connection Error Handling
  {
    name: '§5.4.1 a PING on a stream ends the connection with GOAWAY first [http2/5.4.1/1] [http2/5.4.1/2 strict]',
    send: (c) => c.send(h2Frame(H2_FRAME.PING, 0, 3, Buffer.alloc(8))),
    expect: goaway(PROTOCOL_ERROR),
    // nghttp2: GOAWAY(INTERNAL_ERROR) on Node 20 (see NODE_INTERNAL).
    node: NODE_INTERNAL,
  },
  // RFC 9113 §5.5 Extending HTTP/2
  {
    name: '§5.5 ignores an unknown extension frame [http2/5.5/1]',
    send: (c) => c.send(h2Frame(0x16, 0, 0, Buffer.alloc(8))),
    expect: IGNORED,
  },
  {
    name: '§5.5 an unknown frame inside a header block is a connection PROTOCOL_ERROR [http2/5.5/2]',
    send: (c) => {
      c.send(headers(1, hpackLiteral(get('/ext')), H2_FLAG.END_STREAM))
      c.send(h2Frame(0x16, 0, 0, Buffer.alloc(8)))
    },
    expect: goaway(PROTOCOL_ERROR),
  },
  // RFC 9113 §6.1 DATA
  {
    name: '§6.1 DATA on stream 0 is a connection PROTOCOL_ERROR [http2/6.1/1]',
    send: (c) => c.send(data(0, 'test', true)),
    expect: goaway(PROTOCOL_ERROR),
  },
  {
    name: '§6.1 DATA whose pad length reaches past the frame is a connection PROTOCOL_ERROR [http2/6.1/3]',
    send: (c) => {
      c.send(headers(1, hpackLiteral(h2PostFields('/bad-pad')), H2_FLAG.END_HEADERS))
      c.send(
        h2Frame(H2_FRAME.DATA, H2_FLAG.PADDED | H2_FLAG.END_STREAM, 1, Buffer.from('\x06Test')),
      )
    },
    expect: goaway(PROTOCOL_ERROR),
  },
  // RFC 9113 §6.2 HEADERS
  {
    name: '§6.2 a PRIORITY frame before END_HEADERS is a connection PROTOCOL_ERROR [http2/6.2/1]',
    send: (c) => {
      c.send(headers(1, hpackLiteral(h2PostFields('/prio-in-block')), 0))
      c.send(priority(1, 0, 255))
      c.send(continuation(1, DUMMY, true))
    },
    expect: goaway(PROTOCOL_ERROR),
  },
  {
    name: '§6.2 HEADERS of another stream before END_HEADERS is a connection PROTOCOL_ERROR [http2/6.2/2]',
    send: (c) => {
      c.send(headers(1, hpackLiteral(h2PostFields('/first')), 0))
      c.send(headers(3, hpackLiteral(get('/second')), END_BOTH))
      c.send(continuation(1, DUMMY, true))
    },
    expect: goaway(PROTOCOL_ERROR),
  },
  {
    name: '§6.2 HEADERS on stream 0 is a connection PROTOCOL_ERROR [http2/6.2/3]',
    send: (c) => c.send(headers(0, hpackLiteral(get('/zero')), END_BOTH)),
    expect: goaway(PROTOCOL_ERROR),
    // nghttp2: GOAWAY(INTERNAL_ERROR) on Node 20 (see NODE_INTERNAL).
    node: NODE_INTERNAL,
  },
  {
    name: '§6.2 HEADERS whose pad length reaches past the frame is a PROTOCOL_ERROR [http2/6.2/4]',
    stream: 1,
    send: (c) => {
      const block = hpackLiteral(get('/bad-pad'))
      c.send(
        h2Frame(
          H2_FRAME.HEADERS,
          END_BOTH | H2_FLAG.PADDED,
          1,
          Buffer.concat([Buffer.from([block.length + 2]), block]),
        ),
      )
    },
    // §6.2 makes it a connection error; h2spec takes a stream error too.
    expect: goaway(PROTOCOL_ERROR),
  },
  // RFC 9113 §6.3 PRIORITY
  {
    name: '§6.3 PRIORITY on stream 0 is a connection PROTOCOL_ERROR [http2/6.3/1]',
    send: (c) => c.send(priority(0, 1, 16)),
    expect: goaway(PROTOCOL_ERROR),
    // nghttp2 1.61 (Node 20): GOAWAY(INTERNAL_ERROR); 1.69+ ignores PRIORITY frames.
    node: NGHTTP2_IGNORES_PRIORITY ? IGNORED : NODE_INTERNAL,
  },
  {
    name: '§6.3 PRIORITY of 4 octets is a stream FRAME_SIZE_ERROR [http2/6.3/2]',
    stream: 1,
    send: (c) => {
      c.send(headers(1, hpackLiteral(get('/gate/6.3-2')), END_BOTH))
      c.send(h2Frame(H2_FRAME.PRIORITY, 0, 1, Buffer.from([0x80, 0, 0, 1])))
    },
    expect: rst(FRAME_SIZE_ERROR),
    // nghttp2 makes it a connection error.
    node: goaway(FRAME_SIZE_ERROR),
  },
  // RFC 9113 §6.4 RST_STREAM
  {
    name: '§6.4 RST_STREAM on stream 0 is a connection PROTOCOL_ERROR [http2/6.4/1]',
    send: (c) => c.send(h2RstStream(0, H2_ERROR.CANCEL)),
    expect: goaway(PROTOCOL_ERROR),
    // nghttp2: GOAWAY(INTERNAL_ERROR) on Node 20 (see NODE_INTERNAL).
    node: NODE_INTERNAL,
  },
  {
    name: '§6.4 RST_STREAM on an idle stream is a connection PROTOCOL_ERROR [http2/6.4/2]',
    send: (c) => c.send(h2RstStream(1, H2_ERROR.CANCEL)),
    expect: goaway(PROTOCOL_ERROR),
    // nghttp2: GOAWAY(INTERNAL_ERROR) on Node 20 (see NODE_INTERNAL).
    node: NODE_INTERNAL,
  },
  {
    name: '§6.4 RST_STREAM of 3 octets is a connection FRAME_SIZE_ERROR [http2/6.4/3]',
    send: (c) => {
      c.send(headers(1, hpackLiteral(get('/gate/6.4-3')), END_BOTH))
      c.send(h2Frame(H2_FRAME.RST_STREAM, 0, 1, Buffer.alloc(3)))
    },
    expect: goaway(FRAME_SIZE_ERROR),
  },
  // RFC 9113 §6.5 SETTINGS
  {
    name: '§6.5 a SETTINGS ACK with a payload is a connection FRAME_SIZE_ERROR [http2/6.5/1]',
    send: (c) => c.send(h2Frame(H2_FRAME.SETTINGS, H2_FLAG.ACK, 0, Buffer.alloc(1))),
    expect: goaway(FRAME_SIZE_ERROR),
  },
  {
    name: '§6.5 SETTINGS on a stream is a connection PROTOCOL_ERROR [http2/6.5/2]',
    send: (c) => c.send(h2Frame(H2_FRAME.SETTINGS, 0, 1, Buffer.from([0, 3, 0, 0, 0, 100]))),
    expect: goaway(PROTOCOL_ERROR),
    // nghttp2: GOAWAY(INTERNAL_ERROR) on Node 20 (see NODE_INTERNAL).
    node: NODE_INTERNAL,
  },
  {
    name: '§6.5 SETTINGS of 3 octets is a connection FRAME_SIZE_ERROR [http2/6.5/3]',
    send: (c) => c.send(h2Frame(H2_FRAME.SETTINGS, 0, 0, Buffer.from([0, 3, 0]))),
    expect: goaway(FRAME_SIZE_ERROR),
  },
  // RFC 9113 §6.5.2 Defined Settings
  {
    name: '§6.5.2 SETTINGS_ENABLE_PUSH of 2 is a connection PROTOCOL_ERROR [http2/6.5.2/1]',
    send: (c) => c.send(h2Settings([[0x2, 2]])),
    expect: goaway(PROTOCOL_ERROR),
    // nghttp2: GOAWAY(INTERNAL_ERROR) on Node 20 (see NODE_INTERNAL).
    node: NODE_INTERNAL,
  },
  {
    name: '§6.5.2 SETTINGS_INITIAL_WINDOW_SIZE of 2^31 is a connection FLOW_CONTROL_ERROR [http2/6.5.2/2] [http2/6.9.2/3]',
    send: (c) => c.send(h2Settings([[0x4, 2 ** 31]])),
    expect: goaway(FLOW_CONTROL_ERROR),
    // nghttp2: GOAWAY(INTERNAL_ERROR) on Node 20 (see NODE_INTERNAL).
    node: NODE_INTERNAL,
  },
  {
    name: '§6.5.2 SETTINGS_MAX_FRAME_SIZE of 16383 is a connection PROTOCOL_ERROR [http2/6.5.2/3]',
    send: (c) => c.send(h2Settings([[0x5, 16_383]])),
    expect: goaway(PROTOCOL_ERROR),
    // nghttp2: GOAWAY(INTERNAL_ERROR) on Node 20 (see NODE_INTERNAL).
    node: NODE_INTERNAL,
  },
  {
    name: '§6.5.2 SETTINGS_MAX_FRAME_SIZE of 2^24 is a connection PROTOCOL_ERROR [http2/6.5.2/4]',
    send: (c) => c.send(h2Settings([[0x5, 2 ** 24]])),
    expect: goaway(PROTOCOL_ERROR),
    // nghttp2: GOAWAY(INTERNAL_ERROR) on Node 20 (see NODE_INTERNAL).
    node: NODE_INTERNAL,
  },
  {
    name: '§6.5.2 ignores an unknown setting (and ACKs it) [http2/6.5.2/5]',
    send: async (c) => {
      await settingsAck(c)
      c.send(h2Settings([[0xff, 1]]))
      await settingsAck(c, 2)
    },
    expect: IGNORED,
  },
  // RFC 9113 §6.5.3 Settings Synchronization
  {
    name: '§6.5.3 applies repeated SETTINGS_INITIAL_WINDOW_SIZE values in order [http2/6.5.3/1]',
    stream: 1,
    send: async (c) => {
      await settingsAck(c)
      c.send(
        h2Settings([
          [0x4, 100],
          [0x4, 1],
        ]),
      )
      await settingsAck(c, 2)
      c.send(headers(1, hpackLiteral(get('/window-1')), END_BOTH))
      await c.waitFor((f) => f.type === H2_FRAME.DATA && f.streamId === 1)
    },
    expect: RESPONSE_200,
    after: (c) => {
      // The last value (1) holds: one octet, then nothing until a WINDOW_UPDATE.
      expect(dataFrames(c, 1).map((f) => f.payload.length)).toEqual([1])
    },
  },
  {
    name: '§6.5.3 ACKs a SETTINGS frame at once [http2/6.5.3/2]',
    send: async (c) => {
      await settingsAck(c)
      c.send(h2Settings([[0x2, 0]]))
      await settingsAck(c, 2)
    },
    expect: IGNORED,
  },
  // RFC 9113 §6.7 PING
  {
    name: '§6.7 answers a PING with an ACK of the same payload [http2/6.7/1]',
    send: async (c) => {
      c.send(ping('h2specok'))
      const answer = await c.waitFor((f) => f.type === H2_FRAME.PING)
      expect(answer.flags).toBe(H2_FLAG.ACK)
      expect(answer.payload.toString()).toBe('h2specok')
    },
    expect: IGNORED,
  },
  {
    name: '§6.7 does not answer a PING ACK [http2/6.7/2]',
    send: (c) => c.send(ping('unexpect', true)),
    expect: IGNORED,
    // nghttp2 (through the node engine) ends the connection on an unsolicited PING ACK.
    node: NODE_INTERNAL,
    after: (c) => {
      expect(
        c.frames.some((f) => f.type === H2_FRAME.PING && f.payload.toString() === 'unexpect'),
      ).toBe(false)
    },
  },
  {
    name: '§6.7 a PING on a stream is a connection PROTOCOL_ERROR [http2/6.7/3]',
    send: (c) => c.send(h2Frame(H2_FRAME.PING, 0, 1, Buffer.alloc(8))),
    expect: goaway(PROTOCOL_ERROR),
    // nghttp2: GOAWAY(INTERNAL_ERROR) on Node 20 (see NODE_INTERNAL).
    node: NODE_INTERNAL,
  },
  {
    name: '§6.7 a PING of 6 octets is a connection FRAME_SIZE_ERROR [http2/6.7/4]',
    send: (c) => c.send(h2Frame(H2_FRAME.PING, 0, 0, Buffer.alloc(6))),
    expect: goaway(FRAME_SIZE_ERROR),
  },
  // RFC 9113 §6.8 GOAWAY
  {
    name: '§6.8 GOAWAY on a stream is a connection PROTOCOL_ERROR [http2/6.8/1]',
    send: (c) => c.send(h2Frame(H2_FRAME.GOAWAY, 0, 1, Buffer.alloc(8))),
    expect: goaway(PROTOCOL_ERROR),
    // nghttp2: GOAWAY(INTERNAL_ERROR) on Node 20 (see NODE_INTERNAL).
    node: NODE_INTERNAL,
  },
  // RFC 9113 §6.9 WINDOW_UPDATE
  {
    name: '§6.9 a connection WINDOW_UPDATE of 0 is a connection PROTOCOL_ERROR [http2/6.9/1]',
    send: (c) => c.send(windowUpdate(0, 0)),
    expect: goaway(PROTOCOL_ERROR),
    // nghttp2: GOAWAY(INTERNAL_ERROR) on Node 20 (see NODE_INTERNAL).
    node: NODE_INTERNAL,
  },
  {
    name: '§6.9 a stream WINDOW_UPDATE of 0 is a stream PROTOCOL_ERROR [http2/6.9/2]',
    stream: 1,
    send: (c) => {
      c.send(headers(1, hpackLiteral(h2PostFields('/wu-zero')), H2_FLAG.END_HEADERS))
      c.send(windowUpdate(1, 0))
    },
    expect: rst(PROTOCOL_ERROR),
    // nghttp2: GOAWAY(INTERNAL_ERROR) on Node 20 (see NODE_INTERNAL).
    node: NODE_INTERNAL,
  },
  {
    name: '§6.9 a WINDOW_UPDATE of 3 octets is a connection FRAME_SIZE_ERROR [http2/6.9/3]',
    send: (c) => c.send(h2Frame(H2_FRAME.WINDOW_UPDATE, 0, 0, Buffer.from([0, 0, 1]))),
    expect: goaway(FRAME_SIZE_ERROR),
  },
  // RFC 9113 §6.9.1 The Flow-Control Window
  {
    name: '§6.9.1 sends no more DATA than a window of 1 allows [http2/6.9.1/1]',
    stream: 1,
    send: async (c) => {
      await settingsAck(c)
      c.send(h2Settings([[0x4, 1]]))
      await settingsAck(c, 2)
      c.send(headers(1, hpackLiteral(get('/window-one')), END_BOTH))
      await c.waitFor((f) => f.type === H2_FRAME.DATA && f.streamId === 1)
    },
    expect: RESPONSE_200,
    after: async (c) => {
      await pong(c, 'nomore!!')
      expect(dataFrames(c, 1).map((f) => f.payload.length)).toEqual([1])
    },
  },
  {
    name: '§6.9.1 a connection window over 2^31-1 is a connection FLOW_CONTROL_ERROR [http2/6.9.1/2]',
    send: (c) => {
      c.send(windowUpdate(0, 2 ** 31 - 1))
      c.send(windowUpdate(0, 2 ** 31 - 1))
    },
    expect: goaway(FLOW_CONTROL_ERROR),
    // nghttp2: GOAWAY(INTERNAL_ERROR) (h2spec fails it here: it wants FLOW_CONTROL_ERROR).
    node: NODE_INTERNAL,
  },
  {
    name: '§6.9.1 a stream window over 2^31-1 is a stream FLOW_CONTROL_ERROR [http2/6.9.1/3]',
    stream: 1,
    send: (c) => {
      c.send(headers(1, hpackLiteral(h2PostFields('/wu-overflow')), H2_FLAG.END_HEADERS))
      c.send(windowUpdate(1, 2 ** 31 - 1))
      c.send(windowUpdate(1, 2 ** 31 - 1))
    },
    expect: rst(FLOW_CONTROL_ERROR),
    // nghttp2 resets the stream (FLOW_CONTROL_ERROR), then the node engine ends the connection.
    node: NODE_INTERNAL,
  },
  // RFC 9113 §6.9.2 Initial Flow-Control Window Size
  {
    name: '§6.9.2 a new SETTINGS_INITIAL_WINDOW_SIZE changes the window of an open stream [http2/6.9.2/1]',
    stream: 1,
    send: async (c) => {
      await settingsAck(c)
      c.send(h2Settings([[0x4, 0]]))
      await settingsAck(c, 2)
      c.send(headers(1, hpackLiteral(get('/window-zero')), END_BOTH))
      await c.status(1)
      c.send(h2Settings([[0x4, 1]]))
      await c.waitFor((f) => f.type === H2_FRAME.DATA && f.streamId === 1)
    },
    expect: RESPONSE_200,
    after: (c) => expect(dataFrames(c, 1).map((f) => f.payload.length)).toEqual([1]),
  },
  {
    name: '§6.9.2 keeps a stream window made negative by SETTINGS [http2/6.9.2/2]',
    stream: 1,
    send: async (c) => {
      await settingsAck(c)
      c.send(h2Settings([[0x4, 3]]))
      await settingsAck(c, 2)
      c.send(headers(1, hpackLiteral(get('/window-negative')), END_BOTH))
      await c.waitFor((f) => f.type === H2_FRAME.DATA && f.streamId === 1)
      // 3 sent, the window becomes 2 - 3 = -1; a credit of 2 allows exactly 1 more octet.
      c.send(h2Settings([[0x4, 2]]))
      await settingsAck(c, 3)
      c.send(windowUpdate(1, 2))
      await c.waitFor((f) => f.type === H2_FRAME.DATA && f.streamId === 1 && f.payload.length === 1)
    },
    expect: RESPONSE_200,
    after: async (c) => {
      await pong(c, 'negative')
      expect(dataFrames(c, 1).map((f) => f.payload.length)).toEqual([3, 1])
    },
  },
  // RFC 9113 §6.10 CONTINUATION
  {
    name: '§6.10 takes a header block in HEADERS and two CONTINUATION frames [http2/6.10/1]',
    stream: 1,
    send: (c) => {
      c.send(headers(1, hpackLiteral(get('/continued')), H2_FLAG.END_STREAM))
      c.send(continuation(1, DUMMY, false))
      c.send(continuation(1, hpackLiteral([['x-last', 'yes']]), true))
    },
    expect: RESPONSE_200,
    after: (_c, server) => {
      const fields = server.seen.find((s) => s.uri === '/continued')?.fields
      expect(fields).toEqual(
        expect.arrayContaining([
          ['x-dummy', 'dummy'],
          ['x-last', 'yes'],
        ]),
      )
    },
  },
  {
    name: '§6.10 a DATA frame after CONTINUATION without END_HEADERS is a connection PROTOCOL_ERROR [http2/6.10/2]',
    send: (c) => {
      c.send(headers(1, hpackLiteral(h2PostFields('/cont-data')), 0))
      c.send(continuation(1, DUMMY, false))
      c.send(data(1, 'test', true))
    },
    expect: goaway(PROTOCOL_ERROR),
  },
  {
    name: '§6.10 CONTINUATION on stream 0 is a connection PROTOCOL_ERROR [http2/6.10/3]',
    send: (c) => {
      c.send(headers(1, hpackLiteral(get('/cont-zero')), H2_FLAG.END_STREAM))
      c.send(continuation(0, DUMMY, true))
    },
    expect: goaway(PROTOCOL_ERROR),
  },
  {
    name: '§6.10 CONTINUATION after HEADERS with END_HEADERS is a connection PROTOCOL_ERROR [http2/6.10/4]',
    send: (c) => {
      c.send(headers(1, hpackLiteral(get('/cont-after-end')), END_BOTH))
      c.send(continuation(1, DUMMY, true))
    },
    expect: goaway(PROTOCOL_ERROR),
  },
  {
    name: '§6.10 CONTINUATION after CONTINUATION with END_HEADERS is a connection PROTOCOL_ERROR [http2/6.10/5]',
    send: (c) => {
      c.send(headers(1, hpackLiteral(get('/cont-twice')), H2_FLAG.END_STREAM))
      c.send(continuation(1, DUMMY, true))
      c.send(continuation(1, DUMMY, true))
    },
    expect: goaway(PROTOCOL_ERROR),
  },
  {
    name: '§6.10 CONTINUATION after DATA is a connection PROTOCOL_ERROR [http2/6.10/6]',
    send: (c) => {
      c.send(headers(1, hpackLiteral(h2PostFields('/cont-after-data')), H2_FLAG.END_HEADERS))
      c.send(data(1, 'test', true))
      c.send(continuation(1, DUMMY, false))
    },
    expect: goaway(PROTOCOL_ERROR),
  },
  // RFC 9113 §7 Error Codes
  {
    name: '§7 an unknown error code in GOAWAY triggers nothing special [http2/7/1]',
    send: (c) => c.send(goawayFrame(0, 0xff)),
    // The client opens no more streams and none is open: the server closes the connection,
    // with a GOAWAY(NO_ERROR) first (§6.8: "SHOULD always send a GOAWAY frame before closing").
    expect: goaway(H2_ERROR.NO_ERROR),
  },
  {
    name: '§7 an unknown error code in RST_STREAM triggers nothing special [http2/7/2]',
    send: (c) => {
      c.send(headers(1, hpackLiteral(h2PostFields('/rst-unknown')), H2_FLAG.END_HEADERS))
      c.send(h2RstStream(1, 0xff))
    },
    expect: IGNORED,
  },
  // RFC 9113 §8.1 HTTP Message Framing
  {
    name: '§8.1 a second HEADERS without END_STREAM (trailers that do not end) is a PROTOCOL_ERROR [http2/8.1/1]',
    stream: 1,
    send: (c) => {
      c.send(headers(1, hpackLiteral(h2PostFields('/trailers-open')), H2_FLAG.END_HEADERS))
      c.send(data(1, 'test', false))
      c.send(headers(1, hpackLiteral([['x-trailer', '1']]), H2_FLAG.END_HEADERS))
    },
    expect: rst(PROTOCOL_ERROR),
  },
  {
    name: '§8.1.1 content-length that does not match one DATA frame is a stream PROTOCOL_ERROR [http2/8.1.2.6/1]',
    stream: 1,
    send: (c) => {
      c.send(headers(1, hpackLiteral(h2PostFields('/cl-one', 1)), H2_FLAG.END_HEADERS))
      c.send(data(1, 'test', true))
    },
    expect: rst(PROTOCOL_ERROR),
    // The node engine on Node 24 makes it a connection error.
    node: { refused: [PROTOCOL_ERROR, H2_ERROR.INTERNAL_ERROR] },
    after: (_c, server) => expect(server.seen.some((s) => s.uri === '/cl-one')).toBe(false),
  },
  {
    name: '§8.1.1 content-length that does not match the sum of the DATA frames is a stream PROTOCOL_ERROR [http2/8.1.2.6/2]',
    stream: 1,
    send: (c) => {
      c.send(headers(1, hpackLiteral(h2PostFields('/cl-sum', 5)), H2_FLAG.END_HEADERS))
      c.send(data(1, 'test', false))
      c.send(data(1, 'test', true))
    },
    expect: rst(PROTOCOL_ERROR),
    // The node engine on Node 24 makes it a connection error.
    node: { refused: [PROTOCOL_ERROR, H2_ERROR.INTERNAL_ERROR] },
    after: (_c, server) => expect(server.seen.some((s) => s.uri === '/cl-sum')).toBe(false),
  },
  // RFC 9113 §8.2 HTTP Fields
  {
    name: '§8.2.1 an upper-case field name is a stream PROTOCOL_ERROR [http2/8.1.2/1]',
    stream: 1,
    send: (c) => c.send(headers(1, hpackLiteral([...get('/upper'), ['X-TEST', 'ok']]), END_BOTH)),
    expect: rst(PROTOCOL_ERROR),
  },
  {
    name: '§8.2.2 a connection-specific field is a stream PROTOCOL_ERROR [http2/8.1.2.2/1]',
    stream: 1,
    send: (c) =>
      c.send(
        headers(1, hpackLiteral([...get('/connection'), ['connection', 'keep-alive']]), END_BOTH),
      ),
    expect: rst(PROTOCOL_ERROR),
  },
  {
    name: '§8.2.2 te other than "trailers" is a stream PROTOCOL_ERROR [http2/8.1.2.2/2]',
    stream: 1,
    send: (c) =>
      c.send(headers(1, hpackLiteral([...get('/te'), ['te', 'trailers, deflate']]), END_BOTH)),
    expect: rst(PROTOCOL_ERROR),
  },
  // RFC 9113 §8.3 HTTP Control Data (pseudo-header fields)
  {
    name: '§8.3 an unknown pseudo-header field is a stream PROTOCOL_ERROR [http2/8.1.2.1/1]',
    stream: 1,
    send: (c) => c.send(headers(1, hpackLiteral([...get('/unknown'), [':test', 'ok']]), END_BOTH)),
    expect: rst(PROTOCOL_ERROR),
  },
  {
    name: '§8.3 a response pseudo-header field in a request is a stream PROTOCOL_ERROR [http2/8.1.2.1/2]',
    stream: 1,
    send: (c) =>
      c.send(headers(1, hpackLiteral([...get('/status'), [':status', '200']]), END_BOTH)),
    expect: rst(PROTOCOL_ERROR),
  },
  {
    name: '§8.3 a pseudo-header field in trailers is a stream PROTOCOL_ERROR [http2/8.1.2.1/3]',
    stream: 1,
    send: (c) => {
      c.send(headers(1, hpackLiteral(h2PostFields('/pseudo-trailer')), H2_FLAG.END_HEADERS))
      c.send(data(1, 'test', false))
      c.send(headers(1, hpackLiteral([[':method', 'POST']]), END_BOTH))
    },
    expect: rst(PROTOCOL_ERROR),
  },
  {
    name: '§8.3 a pseudo-header field after a regular field is a stream PROTOCOL_ERROR [http2/8.1.2.1/4]',
    stream: 1,
    send: (c) =>
      c.send(headers(1, hpackLiteral([['x-test', 'ok'], ...get('/late-pseudo')]), END_BOTH)),
    expect: rst(PROTOCOL_ERROR),
  },
  {
    name: '§8.3.1 an empty :path is a stream PROTOCOL_ERROR [http2/8.1.2.3/1]',
    stream: 1,
    send: (c) =>
      c.send(
        headers(
          1,
          hpackLiteral([
            [':method', 'GET'],
            [':scheme', 'http'],
            [':path', ''],
            [':authority', 'localhost'],
          ]),
          END_BOTH,
        ),
      ),
    expect: rst(PROTOCOL_ERROR),
  },
  ...([':method', ':scheme', ':path'] as const).map(
    (name, i): Case => ({
      name: `§8.3.1 a request without ${name} is a stream PROTOCOL_ERROR [http2/8.1.2.3/${i + 2}]`,
      stream: 1,
      send: (c) =>
        c.send(headers(1, hpackLiteral(get('/missing').filter(([n]) => n !== name)), END_BOTH)),
      expect: rst(PROTOCOL_ERROR),
    }),
  ),
  ...(
    [
      [':method', 'GET'],
      [':scheme', 'http'],
      [':path', '/'],
    ] as const
  ).map(
    ([name, value], i): Case => ({
      name: `§8.3.1 a duplicated ${name} is a stream PROTOCOL_ERROR [http2/8.1.2.3/${i + 5}]`,
      stream: 1,
      send: (c) =>
        c.send(headers(1, hpackLiteral([...get('/duplicated'), [name, value]]), END_BOTH)),
      expect: rst(PROTOCOL_ERROR),
    }),
  ),
  // RFC 9113 §8.4 Server Push
  {
    name: '§8.4 a PUSH_PROMISE from a client is a connection PROTOCOL_ERROR [http2/8.2/1]',
    send: (c) => {
      const payload = Buffer.concat([Buffer.from([0, 0, 0, 3]), hpackLiteral(get('/pushed'))])
      c.send(h2Frame(H2_FRAME.PUSH_PROMISE, H2_FLAG.END_HEADERS, 1, payload))
    },
    expect: goaway(PROTOCOL_ERROR),
    // nghttp2: GOAWAY(INTERNAL_ERROR) on Node 20 (see NODE_INTERNAL).
    node: NODE_INTERNAL,
  },
  // RFC 7541 §2.3.3 Index Address Space
  {
    name: 'RFC 7541 §2.3.3 an indexed field beyond both tables is a COMPRESSION_ERROR [hpack/2.3.3/1]',
    send: (c) => c.send(headers(1, Buffer.concat([getBlock('/'), Buffer.from([0xc6])]), END_BOTH)),
    expect: goaway(COMPRESSION_ERROR),
  },
  {
    name: 'RFC 7541 §2.3.3 a literal whose name index is beyond both tables is a COMPRESSION_ERROR [hpack/2.3.3/2]',
    send: (c) =>
      c.send(
        headers(
          1,
          Buffer.concat([getBlock('/'), Buffer.from([0x7f, 0x07]), hpackString('x')]),
          END_BOTH,
        ),
      ),
    expect: goaway(COMPRESSION_ERROR),
  },
  // RFC 7541 §4.2 Maximum Table Size
  {
    name: 'RFC 7541 §4.2 a table size update after the first field is a COMPRESSION_ERROR [hpack/4.2/1]',
    send: (c) => c.send(headers(1, Buffer.concat([getBlock('/'), Buffer.from([0x21])]), END_BOTH)),
    expect: goaway(COMPRESSION_ERROR),
  },
  // RFC 7541 §5.2 String Literal Representation
  ...(
    [
      // "a" is 00011: its code plus 3 bits of EOS is 0x1f; a whole extra 0xff is padding > 7 bits.
      ['padding longer than 7 bits', '1fff', 1],
      // "a" padded with zeros (padding must be the most significant bits of EOS).
      ['padding of zeros', '18', 2],
      // "a", then the 30-bit EOS, then "a" again: 40 bits.
      ['the EOS symbol', '1fffffffe3', 3],
    ] as const
  ).map(
    ([what, hex, n]): Case => ({
      name: `RFC 7541 §5.2 a Huffman string with ${what} is a COMPRESSION_ERROR [hpack/5.2/${n}]`,
      send: (c) =>
        c.send(
          headers(
            1,
            Buffer.concat([getBlock('/'), Buffer.from([0x00]), hpackString('x-huff'), huff(hex)]),
            END_BOTH,
          ),
        ),
      expect: goaway(COMPRESSION_ERROR),
    }),
  ),
  // RFC 7541 §6.1 Indexed Header Field Representation
  {
    name: 'RFC 7541 §6.1 an indexed field of index 0 is a COMPRESSION_ERROR [hpack/6.1/1]',
    send: (c) => c.send(headers(1, Buffer.concat([getBlock('/'), Buffer.from([0x80])]), END_BOTH)),
    expect: goaway(COMPRESSION_ERROR),
  },
  // RFC 7541 §6.3 Dynamic Table Size Update
  {
    name: 'RFC 7541 §6.3 a table size update above SETTINGS_HEADER_TABLE_SIZE is a COMPRESSION_ERROR [hpack/6.3/1]',
    send: (c) =>
      c.send(
        headers(
          1,
          Buffer.concat([Buffer.from(hpackInteger(4097, 5, 0x20)), getBlock('/')]),
          END_BOTH,
        ),
      ),
    expect: goaway(COMPRESSION_ERROR),
  },
  // RFC 9113 §3.4 HTTP/2 Connection Preface [http2/3.5/1]
  {
    name: '§3.4 the first frame the server sends is a SETTINGS frame (not an ACK) [http2/3.5/1] [generic/1/1]',
    send: async (c) => {
      await c.waitFor(() => true)
      const first = c.frames[0] as H2Frame
      expect(first.type).toBe(H2_FRAME.SETTINGS)
      expect(first.flags & H2_FLAG.ACK).toBe(0)
    },
    expect: IGNORED,
  },
  // ---- generic: what every server must take ----
  {
    name: '§5.1 PRIORITY on an idle stream is taken [generic/2/1]',
    send: (c) => c.send(priority(1, 0, 16)),
    expect: IGNORED,
  },
  {
    name: '§5.1 WINDOW_UPDATE on a half-closed (remote) stream is taken [generic/2/2]',
    stream: 1,
    send: async (c) => {
      await settingsAck(c)
      c.send(h2Settings([[0x4, 1]]))
      await settingsAck(c, 2)
      c.send(headers(1, hpackLiteral(get('/half-wu')), END_BOTH))
      await c.waitFor((f) => f.type === H2_FRAME.DATA && f.streamId === 1)
      c.send(windowUpdate(1, 1))
      await c.waitFor(
        (f) => f.type === H2_FRAME.DATA && f.streamId === 1 && dataFrames(c, 1).length === 2,
      )
    },
    expect: RESPONSE_200,
  },
  {
    name: '§5.1 PRIORITY on a half-closed (remote) stream is taken [generic/2/3]',
    stream: 1,
    send: async (c) => {
      await settingsAck(c)
      c.send(h2Settings([[0x4, 1]]))
      await settingsAck(c, 2)
      c.send(headers(1, hpackLiteral(get('/half-prio')), END_BOTH))
      await c.waitFor((f) => f.type === H2_FRAME.DATA && f.streamId === 1)
      c.send(priority(1, 0, 255))
      c.send(windowUpdate(1, 1))
      await c.waitFor(
        (f) => f.type === H2_FRAME.DATA && f.streamId === 1 && dataFrames(c, 1).length === 2,
      )
    },
    expect: RESPONSE_200,
  },
  {
    name: '§5.1 RST_STREAM on a half-closed (remote) stream is taken [generic/2/4]',
    send: (c) => {
      c.send(headers(1, hpackLiteral(get('/gate/generic-2-4')), END_BOTH))
      c.send(h2RstStream(1, H2_ERROR.CANCEL))
    },
    expect: IGNORED,
  },
  {
    name: '§5.1 PRIORITY on a closed stream is taken [generic/2/5]',
    send: async (c) => {
      c.send(headers(1, hpackLiteral(get('/closed-prio')), END_BOTH))
      await responseEnded(c, 1)
      c.send(priority(1, 0, 255))
    },
    expect: IGNORED,
  },
  {
    name: '§6.1 takes a DATA frame [generic/3.1/1]',
    stream: 1,
    send: (c) => {
      c.send(headers(1, hpackLiteral(h2PostFields('/data-one', 4)), H2_FLAG.END_HEADERS))
      c.send(data(1, 'test', true))
    },
    expect: RESPONSE_200,
    after: (_c, server) =>
      expect(server.seen.find((s) => s.uri === '/data-one')?.body).toBe('test'),
  },
  {
    name: '§6.1 takes several DATA frames [generic/3.1/2]',
    stream: 1,
    send: (c) => {
      c.send(headers(1, hpackLiteral(h2PostFields('/data-many')), H2_FLAG.END_HEADERS))
      c.send(data(1, 'te', false))
      c.send(data(1, 'st', true))
    },
    expect: RESPONSE_200,
    after: (_c, server) =>
      expect(server.seen.find((s) => s.uri === '/data-many')?.body).toBe('test'),
  },
  {
    name: '§6.1 takes a padded DATA frame [generic/3.1/3]',
    stream: 1,
    send: (c) => {
      c.send(headers(1, hpackLiteral(h2PostFields('/data-padded')), H2_FLAG.END_HEADERS))
      const payload = Buffer.concat([Buffer.from([8]), Buffer.from('test'), Buffer.alloc(8)])
      c.send(h2Frame(H2_FRAME.DATA, H2_FLAG.PADDED | H2_FLAG.END_STREAM, 1, payload))
    },
    expect: RESPONSE_200,
    after: (_c, server) =>
      expect(server.seen.find((s) => s.uri === '/data-padded')?.body).toBe('test'),
  },
  {
    name: '§6.2 takes a HEADERS frame [generic/3.2/1]',
    stream: 1,
    send: (c) => c.send(headers(1, hpackLiteral(get('/headers')), END_BOTH)),
    expect: RESPONSE_200,
  },
  {
    name: '§6.2 takes a padded HEADERS frame [generic/3.2/2]',
    stream: 1,
    send: (c) => {
      const block = hpackLiteral(get('/headers-padded'))
      const payload = Buffer.concat([Buffer.from([8]), block, Buffer.alloc(8)])
      c.send(h2Frame(H2_FRAME.HEADERS, END_BOTH | H2_FLAG.PADDED, 1, payload))
    },
    expect: RESPONSE_200,
  },
  {
    name: '§6.2 takes HEADERS with a priority [generic/3.2/3]',
    stream: 1,
    send: (c) => {
      const payload = Buffer.concat([
        Buffer.from([0, 0, 0, 0, 255]),
        hpackLiteral(get('/headers-prio')),
      ])
      c.send(h2Frame(H2_FRAME.HEADERS, END_BOTH | H2_FLAG.PRIORITY, 1, payload))
    },
    expect: RESPONSE_200,
  },
  ...(
    [
      ['weight 1', priority(1, 0, 1), 1],
      ['weight 256', priority(1, 0, 256), 2],
      ['a dependency on another stream', priority(1, 3, 16), 3],
      ['the exclusive flag', priority(1, 0, 16, true), 4],
    ] as const
  ).map(
    ([what, frame, n]): Case => ({
      name: `§6.3 takes PRIORITY with ${what}, then the request [generic/3.3/${n}]`,
      stream: 1,
      send: (c) => {
        c.send(frame)
        c.send(headers(1, hpackLiteral(get('/after-priority')), END_BOTH))
      },
      expect: RESPONSE_200,
    }),
  ),
  {
    name: '§6.3 takes PRIORITY for an idle stream, then HEADERS on a lower stream id [generic/3.3/5]',
    stream: 1,
    send: (c) => {
      c.send(priority(3, 0, 16))
      c.send(headers(1, hpackLiteral(get('/lower-after-priority')), END_BOTH))
    },
    expect: RESPONSE_200,
  },
  {
    name: '§6.4 takes an RST_STREAM [generic/3.4/1]',
    send: (c) => {
      c.send(headers(1, hpackLiteral(h2PostFields('/to-reset')), H2_FLAG.END_HEADERS))
      c.send(h2RstStream(1, H2_ERROR.CANCEL))
    },
    expect: IGNORED,
  },
  {
    name: '§6.5 ACKs a SETTINGS frame [generic/3.5/1]',
    send: async (c) => {
      await settingsAck(c)
      c.send(h2Settings([[0x3, 100]]))
      await settingsAck(c, 2)
    },
    expect: IGNORED,
  },
  {
    name: '§6.7 answers a PING [generic/3.7/1]',
    send: async (c) => {
      c.send(ping('generic!'))
      await c.waitFor((f) => f.type === H2_FRAME.PING && f.payload.toString() === 'generic!')
    },
    expect: IGNORED,
  },
  {
    name: '§6.8 takes a GOAWAY from the client (and may close) [generic/3.8/1]',
    send: (c) => c.send(goawayFrame(0, H2_ERROR.NO_ERROR)),
    // No stream is open: the server says GOAWAY(NO_ERROR) too and closes.
    expect: goaway(H2_ERROR.NO_ERROR),
  },
  {
    name: '§6.9 takes a connection WINDOW_UPDATE [generic/3.9/1]',
    send: (c) => c.send(windowUpdate(0, 1)),
    expect: IGNORED,
  },
  {
    name: '§6.9 takes a stream WINDOW_UPDATE [generic/3.9/2]',
    stream: 1,
    send: (c) => {
      c.send(headers(1, hpackLiteral(h2PostFields('/wu-stream')), H2_FLAG.END_HEADERS))
      c.send(windowUpdate(1, 1))
      c.send(data(1, 'test', true))
    },
    expect: RESPONSE_200,
  },
  {
    name: '§6.10 takes a header block in HEADERS and one CONTINUATION [generic/3.10/1]',
    stream: 1,
    send: (c) => {
      c.send(headers(1, hpackLiteral(get('/one-continuation')), H2_FLAG.END_STREAM))
      c.send(continuation(1, DUMMY, true))
    },
    expect: RESPONSE_200,
  },
  {
    name: '§6.10 takes a header block in HEADERS and several CONTINUATION frames [generic/3.10/2]',
    stream: 1,
    send: (c) => {
      c.send(headers(1, hpackLiteral([[':method', 'GET']]), H2_FLAG.END_STREAM))
      c.send(continuation(1, hpackLiteral([[':scheme', 'http']]), false))
      c.send(continuation(1, hpackLiteral([[':path', '/many-continuations']]), false))
      c.send(continuation(1, hpackLiteral([[':authority', 'localhost']]), true))
    },
    expect: RESPONSE_200,
    after: (_c, server) =>
      expect(server.seen.some((s) => s.uri === '/many-continuations')).toBe(true),
  },
  {
    name: '§8.1 answers a GET [generic/4/1]',
    stream: 1,
    send: (c) => c.send(headers(1, hpackLiteral(get('/get')), END_BOTH)),
    expect: RESPONSE_200,
    after: (c) => expect(Buffer.concat(dataFrames(c, 1).map((f) => f.payload))).toEqual(RESPONSE),
  },
  {
    name: '§8.1 answers a HEAD without a body [generic/4/2]',
    stream: 1,
    send: (c) =>
      c.send(
        headers(
          1,
          hpackLiteral([[':method', 'HEAD'], ...get('/head').filter(([n]) => n !== ':method')]),
          END_BOTH,
        ),
      ),
    expect: RESPONSE_200,
    after: async (c) => {
      await responseEnded(c, 1)
      expect(dataFrames(c, 1).every((f) => f.payload.length === 0)).toBe(true)
    },
  },
  {
    name: '§8.1 answers a POST with a body [generic/4/3]',
    stream: 1,
    send: (c) => {
      c.send(headers(1, hpackLiteral(h2PostFields('/post', 4)), H2_FLAG.END_HEADERS))
      c.send(data(1, 'test', true))
    },
    expect: RESPONSE_200,
    after: (_c, server) => {
      expect(server.seen.find((s) => s.uri === '/post')).toMatchObject({
        method: 'POST',
        body: 'test',
      })
    },
  },
  {
    name: '§8.1 answers a POST with trailers [generic/4/4]',
    stream: 1,
    send: (c) => {
      c.send(headers(1, hpackLiteral(h2PostFields('/post-trailers')), H2_FLAG.END_HEADERS))
      c.send(data(1, 'test', false))
      c.send(headers(1, hpackLiteral([['x-trailer', 'done']]), END_BOTH))
    },
    expect: RESPONSE_200,
    after: (_c, server) =>
      expect(server.seen.find((s) => s.uri === '/post-trailers')?.body).toBe('test'),
  },
  // RFC 7541 representations a server must decode [generic/5/*]
  {
    name: 'RFC 7541 §6.1 decodes indexed fields [generic/5/1]',
    stream: 1,
    send: (c) => c.send(headers(1, getBlock('/'), END_BOTH)),
    expect: RESPONSE_200,
  },
  ...(
    [
      // [what, representation of `cache-control: no-cache` or `custom-key: custom-value`, id]
      [
        'incremental indexing, indexed name',
        Buffer.concat([Buffer.from(hpackInteger(CACHE_CONTROL, 6, 0x40)), hpackString('no-cache')]),
        2,
      ],
      [
        'incremental indexing, indexed name, Huffman',
        Buffer.concat([Buffer.from(hpackInteger(CACHE_CONTROL, 6, 0x40)), huff(HUFF_NO_CACHE)]),
        3,
      ],
      [
        'incremental indexing, new name',
        Buffer.concat([
          Buffer.from([0x40]),
          hpackString('custom-key'),
          hpackString('custom-value'),
        ]),
        4,
      ],
      [
        'incremental indexing, new name, Huffman',
        Buffer.concat([Buffer.from([0x40]), huff(HUFF_CUSTOM_KEY), huff(HUFF_CUSTOM_VALUE)]),
        5,
      ],
      [
        'without indexing, indexed name',
        Buffer.concat([Buffer.from(hpackInteger(CACHE_CONTROL, 4, 0x00)), hpackString('no-cache')]),
        6,
      ],
      [
        'without indexing, indexed name, Huffman',
        Buffer.concat([Buffer.from(hpackInteger(CACHE_CONTROL, 4, 0x00)), huff(HUFF_NO_CACHE)]),
        7,
      ],
      [
        'without indexing, new name',
        Buffer.concat([
          Buffer.from([0x00]),
          hpackString('custom-key'),
          hpackString('custom-value'),
        ]),
        8,
      ],
      [
        'without indexing, new name, Huffman',
        Buffer.concat([Buffer.from([0x00]), huff(HUFF_CUSTOM_KEY), huff(HUFF_CUSTOM_VALUE)]),
        9,
      ],
      [
        'never indexed, indexed name',
        Buffer.concat([Buffer.from(hpackInteger(CACHE_CONTROL, 4, 0x10)), hpackString('no-cache')]),
        10,
      ],
      [
        'never indexed, indexed name, Huffman',
        Buffer.concat([Buffer.from(hpackInteger(CACHE_CONTROL, 4, 0x10)), huff(HUFF_NO_CACHE)]),
        11,
      ],
      [
        'never indexed, new name',
        Buffer.concat([
          Buffer.from([0x10]),
          hpackString('custom-key'),
          hpackString('custom-value'),
        ]),
        12,
      ],
      [
        'never indexed, new name, Huffman',
        Buffer.concat([Buffer.from([0x10]), huff(HUFF_CUSTOM_KEY), huff(HUFF_CUSTOM_VALUE)]),
        13,
      ],
    ] as const
  ).map(
    ([what, field, n]): Case => ({
      name: `RFC 7541 §6.2 decodes a literal field (${what}) [generic/5/${n}]`,
      stream: 3,
      send: (c) => {
        const path = `/hpack-${n}`
        c.send(headers(1, Buffer.concat([getBlock(path), field]), END_BOTH))
        // The same request again: an incrementally indexed field is now dynamic entry 62.
        const again = what.startsWith('incremental') ? Buffer.from([0xbe]) : field
        c.send(headers(3, Buffer.concat([getBlock(path), again]), END_BOTH))
      },
      expect: RESPONSE_200,
      after: async (c, server) => {
        expect(await c.status(1)).toBe(200)
        const expected = what.includes('new name')
          ? ['custom-key', 'custom-value']
          : ['cache-control', 'no-cache']
        const requests = server.seen.filter((s) => s.uri === `/hpack-${n}`)
        expect(requests).toHaveLength(2)
        for (const request of requests) expect(request.fields).toContainEqual(expected)
      },
    }),
  ),
  {
    name: 'RFC 7541 §6.3 decodes a dynamic table size update [generic/5/14]',
    stream: 1,
    send: (c) =>
      c.send(headers(1, Buffer.concat([Buffer.from([0x20]), getBlock('/size-update')]), END_BOTH)),
    expect: RESPONSE_200,
  },
  {
    name: 'RFC 7541 §4.2 decodes two dynamic table size updates at the start of a block [generic/5/15]',
    stream: 1,
    send: (c) =>
      c.send(
        headers(
          1,
          Buffer.concat([
            Buffer.from([0x20]),
            Buffer.from(hpackInteger(4096, 5, 0x20)),
            getBlock('/size-updates'),
          ]),
          END_BOTH,
        ),
      ),
    expect: RESPONSE_200,
  },
]

/** What the node engine must answer to `test`. */
function nodeOutcome(test: Case): Outcome {
  if (test.node !== NODE_INTERNAL) return test.node ?? test.expect
  const expected = test.expect
  const codes = 'goaway' in expected ? expected.goaway : 'rst' in expected ? expected.rst : []
  return goaway(H2_ERROR.INTERNAL_ERROR, ...codes)
}

describe.each<H2Engine>(['native', 'node'])('h2spec cases (%s engine)', (engine) => {
  let server: CaseServer
  beforeAll(async () => {
    server = await startCaseServer(engine)
  })
  afterAll(() => server.stop())

  for (const test of cases) {
    it(test.name, async () => {
      const c = await client(server.port)
      await test.send(c, server)
      const outcome = engine === 'node' ? nodeOutcome(test) : test.expect
      await expectOutcome(c, test.stream ?? 1, outcome, engine)
      await test.after?.(c, server, engine)
    }, 5_000)
  }

  it('§5.1.2 a stream beyond SETTINGS_MAX_CONCURRENT_STREAMS is refused (REFUSED_STREAM) [http2/5.1.2/1]', async () => {
    const limited = await startCaseServer(engine, { maxConcurrentStreams: 3 })
    onTestFinished(() => limited.stop())
    const c = await client(limited.port)
    const settings = await c.waitFor((f) => f.type === H2_FRAME.SETTINGS && f.flags === 0)
    expect(settingsOf(settings).get(0x3)).toBe(3)
    // The app holds the first three open (h2spec holds them with a window of 0).
    for (const id of [1, 3, 5, 7]) c.send(headers(id, hpackLiteral(get(`/gate/c${id}`)), END_BOTH))
    // nghttp2 (once its SETTINGS are acknowledged) ends the whole connection, admitted streams
    // included: GOAWAY(INTERNAL_ERROR) through the node engine on Node 20, PROTOCOL_ERROR on
    // Node 24 (a trap ADR 0026 lists).
    const outcome = rst(PROTOCOL_ERROR, H2_ERROR.REFUSED_STREAM)
    const nodeOutcome = goaway(H2_ERROR.INTERNAL_ERROR, PROTOCOL_ERROR)
    await expectOutcome(c, 7, engine === 'native' ? outcome : nodeOutcome, engine)
    if (engine === 'native') {
      limited.release('c1')
      expect(await c.status(1)).toBe(200)
    }
    expect(limited.seen.map((s) => s.uri).sort()).toEqual(['/gate/c1', '/gate/c3', '/gate/c5'])
  })

  it('§3.4 an invalid preface ends the connection: GOAWAY(PROTOCOL_ERROR) over TLS, HTTP/1.1 400 on the h2c port [http2/3.5/2]', async () => {
    const secure = await startCaseServer(engine, {}, true)
    onTestFinished(() => secure.stop())
    const socket = tls.connect({
      host: '127.0.0.1',
      port: secure.port,
      servername: 'localhost',
      ca: readFileSync(certs.ca),
      ALPNProtocols: ['h2'],
    })
    onTestFinished(() => {
      socket.destroy()
    })
    await new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', resolve)
      socket.once('error', reject)
    })
    expect(socket.alpnProtocol).toBe('h2')
    const received = readUntilClosed(socket)
    socket.write('INVALID CONNECTION PREFACE\r\n\r\n')
    const frames = parseFrames(await received)
    // The server's SETTINGS may come first; the last frame is the GOAWAY.
    const last = frames.at(-1)
    expect(last?.type).toBe(H2_FRAME.GOAWAY)
    // nghttp2: GOAWAY(INTERNAL_ERROR) on Node 20 (see NODE_INTERNAL).
    expect(last?.payload.readUInt32BE(4)).toBe(
      engine === 'native' ? PROTOCOL_ERROR : H2_ERROR.INTERNAL_ERROR,
    )
    // The h2c port also speaks HTTP/1.1 (prior knowledge is told apart by the preface): there,
    // bytes that are not the preface are an HTTP/1.1 request, and this one is malformed. (Real
    // h2spec counts this answer as a failure; RFC 9113 §3.3 leaves such a port to HTTP/1.1.)
    const plain = net.connect(server.port, '127.0.0.1')
    onTestFinished(() => {
      plain.destroy()
    })
    const answer = readUntilClosed(plain)
    plain.write('INVALID CONNECTION PREFACE\r\n\r\n')
    expect((await answer).toString('latin1')).toMatch(/^HTTP\/1\.1 400 /)
  })

  // Regressions found by h2spec (5.1/5, 5.1/8, 5.1/11, 6.1/2 failed on the native engine).
  it('§5.1 frames the client sent before it saw our RST_STREAM are ignored, DATA and trailers', async () => {
    const c = await client(server.port)
    // An upper-case field: we reset the stream while the client goes on sending its body.
    c.send(
      headers(
        1,
        hpackLiteral([...h2PostFields('/reset-by-us'), ['X-Upper', '1']]),
        H2_FLAG.END_HEADERS,
      ),
    )
    expect(await c.rstCode(1)).toBe(PROTOCOL_ERROR)
    c.send(data(1, 'in flight', false))
    c.send(headers(1, hpackLiteral([['x-trailer', '1']]), END_BOTH))
    await pong(c, 'ignored!')
    expect(c.frames.filter((f) => f.type === H2_FRAME.RST_STREAM)).toHaveLength(1)
    expect(c.frames.some((f) => f.type === H2_FRAME.GOAWAY)).toBe(false)
    c.send(headers(3, hpackLiteral(get('/after-reset')), END_BOTH))
    expect(await c.status(3)).toBe(200)
  })

  it('§6.1 DATA on a stream that ended on both sides gets one RST_STREAM(STREAM_CLOSED), later DATA is ignored', async () => {
    const c = await client(server.port)
    c.send(headers(1, hpackLiteral(get('/ended')), END_BOTH))
    await responseEnded(c, 1)
    c.send(data(1, 'late', false))
    c.send(data(1, 'later', true))
    await pong(c, 'closed!!')
    const resets = c.frames.filter((f) => f.type === H2_FRAME.RST_STREAM)
    if (engine === 'native') {
      expect(resets.map((f) => [f.streamId, f.payload.readUInt32BE(0)])).toEqual([
        [1, STREAM_CLOSED],
      ])
    } else {
      // nghttp2 ignores DATA on a stream it closed (h2spec 5.1/11 and 6.1/2 fail there).
      expect(resets).toEqual([])
    }
    c.send(headers(3, hpackLiteral(get('/after-closed')), END_BOTH))
    expect(await c.status(3)).toBe(200)
  })
})

/** Everything `socket` receives until it closes. */
function readUntilClosed(socket: net.Socket): Promise<Buffer> {
  const chunks: Buffer[] = []
  socket.on('data', (chunk: Buffer) => chunks.push(chunk))
  socket.on('error', () => {})
  return new Promise((resolve) => socket.once('close', () => resolve(Buffer.concat(chunks))))
}

function parseFrames(bytes: Buffer): H2Frame[] {
  const frames: H2Frame[] = []
  let at = 0
  while (at + 9 <= bytes.length) {
    const length = bytes.readUIntBE(at, 3)
    if (at + 9 + length > bytes.length) break
    frames.push({
      type: bytes[at + 3] as number,
      flags: bytes[at + 4] as number,
      streamId: bytes.readUInt32BE(at + 5) & 0x7fffffff,
      payload: bytes.subarray(at + 9, at + 9 + length),
    })
    at += 9 + length
  }
  return frames
}
