// Our HPACK codec against nghttp2 (node:http2) on real sockets, both ways, over many header
// blocks on one connection so the dynamic tables must stay in sync:
// - a node:http2 client sends random header sets (nghttp2 chooses Huffman, indexing and
//   never-indexed for sensitive fields) to a raw `net` server that decodes them with ours;
// - our encoder's blocks go in raw HEADERS frames to a node:http2 server, which must see
//   exactly our fields.
// Each runs with the default table (4096) and with a 256-byte one (evictions, size updates).
import http2 from 'node:http2'
import net from 'node:net'
import { H2_FLAG, H2_FRAME, h2Frame, h2Settings, RawH2Client } from '@pingora-ts/test-utils'
import fc from 'fast-check'
import { describe, expect, it, onTestFinished } from 'vitest'
import { HpackDecoder } from '../../../src/protocols/http2/hpack/decoder.ts'
import { HpackEncoder } from '../../../src/protocols/http2/hpack/encoder.ts'

const PREFACE_LENGTH = 24
const SETTINGS_HEADER_TABLE_SIZE = 0x1

/** One request's regular fields (pseudo-headers are added per test) and which are sensitive. */
interface HeaderSet {
  readonly path: string
  readonly fields: readonly (readonly [string, string])[]
  readonly sensitive: readonly string[]
}

// A small pool of names and values so that blocks repeat fields (dynamic table hits), plus
// random ones (new entries, evictions). Values are what nghttp2 accepts: visible ASCII with
// inner spaces, no leading or trailing whitespace.
const visible = fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c))
const valueArbitrary = fc.oneof(
  fc.constantFrom('1', 'gzip, deflate, br', 'text/html', 'h2load nghttp2/1.64.0', 'x'.repeat(90)),
  fc
    .tuple(
      visible,
      fc.string({ unit: fc.oneof(visible, fc.constant(' ')), maxLength: 60 }),
      visible,
    )
    .map(([a, b, c]) => a + b + c),
)
const nameArbitrary = fc.oneof(
  fc.constantFrom('user-agent', 'accept', 'accept-encoding', 'cookie', 'authorization', 'x-trace'),
  fc.stringMatching(/^x-[a-z0-9-]{1,16}$/),
)
const headerSetArbitrary: fc.Arbitrary<HeaderSet> = fc
  .record({
    path: fc.oneof(fc.constant('/'), fc.stringMatching(/^\/[a-z0-9/._-]{0,40}$/)),
    fields: fc.uniqueArray(fc.tuple(nameArbitrary, valueArbitrary), {
      selector: ([name]) => name,
      maxLength: 12,
    }),
    sensitiveMask: fc.array(fc.boolean(), { minLength: 12, maxLength: 12 }),
  })
  .map(({ path, fields, sensitiveMask }) => ({
    path,
    fields,
    sensitive: fields.filter((_, i) => sensitiveMask[i] === true).map(([name]) => name),
  }))

function listen(server: net.Server | http2.Http2Server): Promise<number> {
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port))
  })
}

/**
 * A raw HTTP/2 server that decodes every request header block with our decoder, in order,
 * and answers each stream with `:status: 200` and END_STREAM.
 */
function startDecodingServer(tableSize: number | undefined) {
  const blocks: string[][] = []
  const errors: unknown[] = []
  const tableBounds: number[] = []
  const server = net.createServer((socket) => {
    const decoder = new HpackDecoder({
      maxDynamicTableSize: 4096,
      maxHeaderListSize: 1 << 20,
      maxHeaderListPairs: 1000,
    })
    let buffer = Buffer.alloc(0)
    let prefaceSeen = false
    let pending: Buffer[] = []
    socket.write(
      h2Settings(tableSize === undefined ? [] : [[SETTINGS_HEADER_TABLE_SIZE, tableSize]]),
    )
    socket.on('error', () => {})
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk])
      if (!prefaceSeen) {
        if (buffer.length < PREFACE_LENGTH) return
        buffer = buffer.subarray(PREFACE_LENGTH)
        prefaceSeen = true
      }
      while (buffer.length >= 9) {
        const length = buffer.readUIntBE(0, 3)
        if (buffer.length < 9 + length) return
        const type = buffer[3] as number
        const flags = buffer[4] as number
        const streamId = buffer.readUInt32BE(5) & 0x7fffffff
        let payload = buffer.subarray(9, 9 + length)
        buffer = buffer.subarray(9 + length)
        if (type === H2_FRAME.SETTINGS && (flags & H2_FLAG.ACK) === 0) {
          socket.write(h2Frame(H2_FRAME.SETTINGS, H2_FLAG.ACK, 0))
        }
        if (type !== H2_FRAME.HEADERS && type !== H2_FRAME.CONTINUATION) continue
        if (type === H2_FRAME.HEADERS) {
          // PADDED (0x8): pad length byte; PRIORITY (0x20): 5 bytes of dependency and weight.
          let start = 0
          let end = payload.length
          if ((flags & 0x8) !== 0) {
            start = 1
            end -= payload[0] as number
          }
          if ((flags & 0x20) !== 0) start += 5
          payload = payload.subarray(start, end)
          pending = []
        }
        pending.push(payload)
        if ((flags & H2_FLAG.END_HEADERS) === 0) continue
        const block = Buffer.concat(pending)
        const out: string[] = []
        try {
          decoder.decode(block, 0, block.length, out)
        } catch (error) {
          errors.push(error)
          socket.destroy()
          return
        }
        blocks.push(out)
        tableBounds.push(decoder.dynamicTableMaxSize)
        const response = Buffer.from([0x88])
        socket.write(
          h2Frame(H2_FRAME.HEADERS, H2_FLAG.END_HEADERS | H2_FLAG.END_STREAM, streamId, response),
        )
      }
    })
  })
  return { server, blocks, errors, tableBounds }
}

function splitPseudo(fields: readonly string[]): { pseudo: string[]; regular: string[] } {
  const pseudo: string[] = []
  const regular: string[] = []
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i] as string
    const target = name.startsWith(':') ? pseudo : regular
    target.push(`${name}: ${fields[i + 1]}`)
  }
  return { pseudo: pseudo.sort(), regular }
}

describe('HpackDecoder against nghttp2 (node:http2 client)', () => {
  for (const tableSize of [undefined, 256]) {
    it(`decodes every request of a node:http2 client in order (peer table ${tableSize ?? 'default'})`, async () => {
      const { server, blocks, errors, tableBounds } = startDecodingServer(tableSize)
      const port = await listen(server)
      onTestFinished(() => {
        server.close()
      })
      await fc.assert(
        fc.asyncProperty(
          fc.array(headerSetArbitrary, { minLength: 30, maxLength: 60 }),
          async (sets) => {
            blocks.length = 0
            tableBounds.length = 0
            const client = http2.connect(`http://127.0.0.1:${port}`)
            client.on('error', () => {})
            try {
              for (const set of sets) {
                const headers: http2.OutgoingHttpHeaders = { ':path': set.path }
                for (const [name, value] of set.fields) headers[name] = value
                Object.assign(headers, { [http2.sensitiveHeaders]: [...set.sensitive] })
                const request = client.request(headers, { endStream: true })
                request.resume()
                await new Promise<void>((resolve, reject) => {
                  request.once('close', () => resolve())
                  request.once('error', reject)
                })
              }
            } finally {
              client.close()
            }
            expect(errors).toEqual([])
            expect(blocks.length).toBe(sets.length)
            // nghttp2 announced our SETTINGS_HEADER_TABLE_SIZE with a size update.
            expect(tableBounds.at(-1)).toBe(tableSize ?? 4096)
            sets.forEach((set, i) => {
              const { pseudo, regular } = splitPseudo(blocks[i] as string[])
              expect(pseudo).toEqual(
                [
                  `:authority: 127.0.0.1:${port}`,
                  ':method: GET',
                  `:path: ${set.path}`,
                  ':scheme: http',
                ].sort(),
              )
              expect(regular).toEqual(set.fields.map(([name, value]) => `${name}: ${value}`))
            })
          },
        ),
        { numRuns: 4 },
      )
    })
  }
})

describe('HpackEncoder against nghttp2 (node:http2 server)', () => {
  for (const tableSize of [undefined, 256]) {
    it(`sends blocks a node:http2 server decodes to exactly our fields (server table ${tableSize ?? 'default'})`, async () => {
      const seen: string[][] = []
      let onSeen = () => {}
      const server = http2.createServer(
        tableSize === undefined ? {} : { settings: { headerTableSize: tableSize } },
      )
      server.on(
        'stream',
        (
          stream: http2.ServerHttp2Stream,
          _headers: http2.IncomingHttpHeaders,
          _flags: number,
          rawHeaders: string[],
        ) => {
          seen.push(rawHeaders)
          stream.respond({ ':status': 200 }, { endStream: true })
          onSeen()
        },
      )
      const port = await listen(server)
      onTestFinished(() => {
        server.close()
      })
      await fc.assert(
        fc.asyncProperty(
          fc.array(headerSetArbitrary, { minLength: 30, maxLength: 60 }),
          async (sets) => {
            seen.length = 0
            const client = await RawH2Client.connect(port)
            try {
              const settings = await client.waitFor(
                (frame) => frame.type === H2_FRAME.SETTINGS && (frame.flags & H2_FLAG.ACK) === 0,
              )
              const encoder = new HpackEncoder()
              for (let i = 0; i + 6 <= settings.payload.length; i += 6) {
                if (settings.payload.readUInt16BE(i) === SETTINGS_HEADER_TABLE_SIZE) {
                  encoder.setPeerMaxTableSize(settings.payload.readUInt32BE(i + 2))
                }
              }
              const all = new Promise<void>((resolve, reject) => {
                onSeen = () => {
                  if (seen.length === sets.length) resolve()
                }
                // A block the server cannot decode ends the connection (GOAWAY, close).
                client
                  .waitFor((frame) => frame.type === H2_FRAME.GOAWAY)
                  .then(
                    () => reject(new Error('the server sent GOAWAY')),
                    () => reject(new Error('the server closed the connection')),
                  )
              })
              const sent: string[][] = []
              sets.forEach((set, i) => {
                const fields = [':method', 'GET', ':scheme', 'http', ':path', set.path]
                fields.push(':authority', `127.0.0.1:${port}`)
                for (const [name, value] of set.fields) fields.push(name, value)
                sent.push(fields)
                const block = encoder.encode(fields)
                const flags = H2_FLAG.END_HEADERS | H2_FLAG.END_STREAM
                client.send(h2Frame(H2_FRAME.HEADERS, flags, i * 2 + 1, block))
              })
              await all
              expect(seen).toEqual(sent)
              expect(client.frames.some((frame) => frame.type === H2_FRAME.GOAWAY)).toBe(false)
            } finally {
              client.close()
            }
          },
        ),
        { numRuns: 4 },
      )
    })
  }
})
