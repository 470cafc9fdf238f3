/**
 * HPACK codec microbench: nanoseconds per decode / encode of the header blocks of an h2load
 * run (request: `:method GET`, `:scheme http`, `:authority 127.0.0.1:PORT`, `:path /`,
 * `user-agent h2load ...`) and of a small response (`:status 200`, `content-type`,
 * `content-length`, `date`, `server`), on a warm table (every block after the first on a
 * connection) and cold (a new codec per block: the first block of a connection, literals and
 * Huffman, construction included).
 *
 *   pnpm exec tsx bench/hpack.ts [ROUNDS] [ITERATIONS]
 *
 * Cases run interleaved, ROUNDS times (default 7); the median ns/op of each is printed.
 */
import { HpackDecoder } from '../src/protocols/http2/hpack/decoder.ts'
import { HpackEncoder } from '../src/protocols/http2/hpack/encoder.ts'

const ROUNDS = Number(process.argv[2] ?? 7)
const ITERATIONS = Number(process.argv[3] ?? 200_000)

const REQUEST = [
  ':method',
  'GET',
  ':scheme',
  'http',
  ':authority',
  '127.0.0.1:28082',
  ':path',
  '/',
  'user-agent',
  'h2load nghttp2/1.64.0',
]
const RESPONSE = [
  ':status',
  '200',
  'content-type',
  'text/plain',
  'content-length',
  '12',
  'date',
  'Sun, 06 Dec 2026 20:45:00 GMT',
  'server',
  'pingora-ts',
]
const LIMITS = { maxDynamicTableSize: 4096, maxHeaderListSize: 65536, maxHeaderListPairs: 128 }

// The blocks a peer sends: the first one of the connection, then a warm one.
function blocksOf(fields: readonly string[]): { first: Buffer; warm: Buffer } {
  const encoder = new HpackEncoder()
  return { first: encoder.encode(fields), warm: encoder.encode(fields) }
}
const requestBlocks = blocksOf(REQUEST)
const responseBlocks = blocksOf(RESPONSE)

let sink = 0
const out: string[] = []

function warmDecoder(blocks: { first: Buffer }): HpackDecoder {
  const decoder = new HpackDecoder(LIMITS)
  decoder.decode(blocks.first, 0, blocks.first.length, [])
  return decoder
}
function warmEncoder(fields: readonly string[]): HpackEncoder {
  const encoder = new HpackEncoder()
  encoder.encode(fields)
  return encoder
}

const requestDecoder = warmDecoder(requestBlocks)
const responseDecoder = warmDecoder(responseBlocks)
const requestEncoder = warmEncoder(REQUEST)
const responseEncoder = warmEncoder(RESPONSE)

const CASES: Record<string, () => void> = {
  'decode request, warm': () => {
    out.length = 0
    requestDecoder.decode(requestBlocks.warm, 0, requestBlocks.warm.length, out)
    sink += out.length
  },
  'decode request, cold': () => {
    out.length = 0
    new HpackDecoder(LIMITS).decode(requestBlocks.first, 0, requestBlocks.first.length, out)
    sink += out.length
  },
  'decode response, warm': () => {
    out.length = 0
    responseDecoder.decode(responseBlocks.warm, 0, responseBlocks.warm.length, out)
    sink += out.length
  },
  'decode response, cold': () => {
    out.length = 0
    new HpackDecoder(LIMITS).decode(responseBlocks.first, 0, responseBlocks.first.length, out)
    sink += out.length
  },
  'encode request, warm': () => {
    sink += requestEncoder.encode(REQUEST).length
  },
  'encode response, warm': () => {
    sink += responseEncoder.encode(RESPONSE).length
  },
  'encode response, cold': () => {
    sink += new HpackEncoder().encode(RESPONSE).length
  },
}

const samples = new Map<string, number[]>(Object.keys(CASES).map((name) => [name, []]))
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, run] of Object.entries(CASES)) {
    const start = process.hrtime.bigint()
    for (let i = 0; i < ITERATIONS; i++) run()
    const ns = Number(process.hrtime.bigint() - start) / ITERATIONS
    samples.get(name)?.push(ns)
  }
}

process.stdout.write(
  `blocks: request first ${requestBlocks.first.length} B, warm ${requestBlocks.warm.length} B; ` +
    `response first ${responseBlocks.first.length} B, warm ${responseBlocks.warm.length} B\n`,
)
for (const [name, values] of samples) {
  const sorted = [...values].sort((a, b) => a - b)
  const median = sorted[Math.floor(sorted.length / 2)] as number
  process.stdout.write(`${name.padEnd(24)} ${median.toFixed(0).padStart(6)} ns/op\n`)
}
if (sink === 0) process.stdout.write('unreachable\n')
