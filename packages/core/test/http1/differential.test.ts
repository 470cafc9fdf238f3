// Differential fuzzing of our HTTP/1 request parsing (Http1ServerSession: head, framing, body,
// pipelining), of our response parsing (Http1ClientSession: status line, 1xx, framing,
// HEAD/204/304, close-delimited bodies) and of our chunked decoder against llhttp, Node's
// parser (issue 17). Structured
// generation (methods, targets, header sets with edge-case bytes, framing combinations, chunk
// sizes and extensions, pipelined requests), split at random read boundaries and at every byte
// boundary. Both must agree on accept or reject and, on accepted input, on method, target,
// version, headers and body boundaries, except for the deliberate differences listed in
// docs/http1-differential.md. This quick run is part of the tests; the long run is
// `packages/core/bench/http1-differential.ts`.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  chunkedDifference,
  deliberate,
  difference,
  responseDisagreement,
} from './differential/compare.ts'
import {
  bytesOf,
  bytewise,
  chunkedBody,
  type GeneratedRequest,
  pipeline,
  type ResponseExchange,
  responseBytes,
  responseExchange,
  splitAt,
} from './differential/generators.ts'
import { llhttpParse } from './differential/llhttp.ts'
import { ourChunked, ourRequests, ourResponses } from './differential/ours.ts'

const SEED = 0x17
const CHUNKED_HEAD = Buffer.from(
  'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n',
  'latin1',
)

/** The first disagreement that is not deliberate, or `undefined`. */
async function disagreement(pieces: Buffer[]): Promise<string | undefined> {
  const ours = await ourRequests(pieces)
  const ref = llhttpParse('request', pieces)
  const diff = difference(ours, ref)
  if (diff === undefined || deliberate(diff, ours, ref, pieces) !== undefined) return undefined
  return `${diff.kind} at message ${diff.index}: ${diff.text}`
}

/** The first response-side disagreement that is not deliberate, or `undefined`. */
async function responseProblem(
  exchange: ResponseExchange,
  pieces: Buffer[],
): Promise<string | undefined> {
  const ours = await ourResponses(exchange.methods, pieces, exchange.eof)
  const found = responseDisagreement(ours, exchange.methods, pieces, exchange.eof)
  if (found === undefined || found.deliberate !== undefined) return undefined
  return `${found.text}\nmethods ${exchange.methods.join(',')}, eof ${exchange.eof}, input: ${JSON.stringify(responseBytes(exchange).toString('latin1'))}`
}

function show(requests: readonly GeneratedRequest[]): string {
  return JSON.stringify(bytesOf(requests).toString('latin1'))
}

describe('request parsing against llhttp', () => {
  it('agrees on 3 500 generated pipelines split at random read boundaries', async () => {
    await fc.assert(
      fc.asyncProperty(pipeline, fc.array(fc.nat(), { maxLength: 5 }), async (requests, cuts) => {
        const found = await disagreement(splitAt(bytesOf(requests), cuts))
        if (found !== undefined) throw new Error(`${found}\ninput: ${show(requests)}`)
      }),
      { numRuns: 3_500, seed: SEED },
    )
  }, 120_000)

  it('agrees on 300 generated pipelines fed one byte per read (every byte boundary)', async () => {
    await fc.assert(
      fc.asyncProperty(pipeline, async (requests) => {
        const found = await disagreement(bytewise(bytesOf(requests)))
        if (found !== undefined) throw new Error(`${found}\ninput: ${show(requests)}`)
      }),
      { numRuns: 300, seed: SEED + 1 },
    )
  }, 120_000)
})

describe('response parsing against llhttp', () => {
  it('agrees on 2 800 generated response sequences split at random read boundaries', async () => {
    await fc.assert(
      fc.asyncProperty(
        responseExchange,
        fc.array(fc.nat(), { maxLength: 5 }),
        async (exchange, cuts) => {
          const found = await responseProblem(exchange, splitAt(responseBytes(exchange), cuts))
          if (found !== undefined) throw new Error(found)
        },
      ),
      { numRuns: 2_800, seed: SEED + 3 },
    )
  }, 120_000)

  it('agrees on 200 generated response sequences fed one byte per read', async () => {
    await fc.assert(
      fc.asyncProperty(responseExchange, async (exchange) => {
        const found = await responseProblem(exchange, bytewise(responseBytes(exchange)))
        if (found !== undefined) throw new Error(found)
      }),
      { numRuns: 200, seed: SEED + 4 },
    )
  }, 120_000)
})

describe('chunked body decoding against llhttp', () => {
  it('agrees on 3 200 generated chunked bodies split at random read boundaries', () => {
    fc.assert(
      fc.property(chunkedBody, fc.array(fc.nat(), { maxLength: 6 }), (body, cuts) => {
        const pieces = splitAt(body, cuts)
        const ours = ourChunked(pieces)
        const ref = llhttpParse('request', [CHUNKED_HEAD, ...pieces])
        const found = chunkedDifference(ours, ref)
        if (found !== undefined) {
          throw new Error(`${found}\nbody: ${JSON.stringify(body.toString('latin1'))}`)
        }
      }),
      { numRuns: 3_200, seed: SEED + 2 },
    )
  })
})

// Disagreements the fuzzer found, each fixed; both parsers now give the same answer.
describe('regressions found by the differential fuzzer', () => {
  const b = (s: string) => Buffer.from(s, 'latin1')
  const agree = async (input: string) => {
    const found = await disagreement([b(input)])
    expect(found).toBeUndefined()
    return { ours: await ourRequests([b(input)]), ref: llhttpParse('request', [b(input)]) }
  }
  const POST = 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n'

  it('rejects whitespace between a chunk size and its CRLF ("a \\r\\n")', async () => {
    const { ours, ref } = await agree(`${POST}a \r\n0123456789\r\n0\r\n\r\n`)
    expect(ours.error).toBe('400')
    expect(ref.error).toBe('INVALID_CHUNK_SIZE')
  })

  it('rejects an empty chunk extension ("12c;\\r\\n")', async () => {
    const { ours, ref } = await agree(`${POST}3;\r\nabc\r\n0\r\n\r\n`)
    expect(ours.error).toBe('400')
    expect(ref.error).toBeDefined()
  })

  it('accepts any number of leading zeros in a chunk size', async () => {
    const { ours, ref } = await agree(`${POST}${'0'.repeat(20)}3\r\nabc\r\n0\r\n\r\n`)
    expect(ours.messages[0]?.body.toString()).toBe('abc')
    expect(ref.messages[0]?.body.toString()).toBe('abc')
  })

  it('rejects a trailer field with whitespace before its colon', async () => {
    const { ours, ref } = await agree(`${POST}3\r\nabc\r\n0\r\nX-T : 1\r\n\r\n`)
    expect(ours.error).toBe('400')
    expect(ref.error).toBe('INVALID_HEADER_TOKEN')
  })

  it('rejects a bare CR in a head that is not complete yet, without waiting for its end', async () => {
    const { ours, ref } = await agree('GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\rX-B: 2\r\n')
    expect(ours.error).toBe('400')
    expect(ref.error).toBe('LF_EXPECTED')
  })

  it("rejects a '#' in an absolute-form authority", async () => {
    const { ours, ref } = await agree('PUT http://e#xample.com/p HTTP/1.1\r\nHost: a\r\n\r\n')
    expect(ours.error).toBe('400')
    expect(ref.error).toBe('INVALID_URL')
  })
})

describe('response regressions found by the differential fuzzer', () => {
  const b = (s: string) => Buffer.from(s, 'latin1')

  it('refuses a malformed Content-Length in a response to HEAD, as in any other response', async () => {
    const input = [b('HTTP/1.1 301 Moved\r\nContent-Length:  \r\n\r\nHTTP/1.1 200 OK\r\n\r\n')]
    const ours = await ourResponses(['HEAD', 'GET'], input, true)
    expect(ours.messages).toEqual([])
    expect(ours.error).toBe('InvalidHTTPHeader')
    expect(llhttpParse('response', input, true, ['HEAD', 'GET']).error).toBe(
      'INVALID_CONTENT_LENGTH',
    )
    expect(
      await responseProblem({ methods: ['HEAD', 'GET'], responses: [], eof: true }, input),
    ).toBeUndefined()
  })

  it('refuses a malformed Content-Length in a 204 and a 304 response', async () => {
    for (const status of ['204 No Content', '304 Not Modified']) {
      const ours = await ourResponses(
        ['GET'],
        [b(`HTTP/1.1 ${status}\r\nContent-Length: x\r\n\r\n`)],
        false,
      )
      expect(ours.error).toBe('InvalidHTTPHeader')
    }
  })
})

// Differences the long run found that we keep on purpose (named in compare.ts, listed and
// justified in docs/http1-differential.md).
describe('deliberate differences found by the long run', () => {
  const b = (s: string) => Buffer.from(s, 'latin1')

  it('transfer-encoding-ows: a HTAB after the final chunked is OWS', async () => {
    // llhttp accepts HTAB before a coding and between codings, and refuses it after `chunked`.
    for (const te of [' chunked\t', '\tgzip, chunked\t', ' chunked \t ']) {
      const input = [
        b(`POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:${te}\r\n\r\n3\r\nabc\r\n0\r\n\r\n`),
      ]
      const ours = await ourRequests(input)
      const ref = llhttpParse('request', input)
      expect(ours.error).toBeUndefined()
      expect(ours.messages[0]?.body.toString()).toBe('abc')
      expect(ref.error).toBe('INVALID_TRANSFER_ENCODING')
      const diff = difference(ours, ref)
      expect(diff?.kind).toBe('lenient')
      if (diff !== undefined)
        expect(deliberate(diff, ours, ref, input)).toBe('transfer-encoding-ows')
    }
  })

  it('transfer-encoding-ows names nothing else llhttp refuses in Transfer-Encoding', async () => {
    // A byte that is not OWS stays a disagreement (we refuse it too, so they agree).
    const input = [b('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\x0b\r\n\r\n')]
    const ours = await ourRequests(input)
    const ref = llhttpParse('request', input)
    expect(ours.error).toBe('400')
    const diff = difference(ours, ref)
    expect(
      diff === undefined || deliberate(diff, ours, ref, input) !== 'transfer-encoding-ows',
    ).toBe(true)
  })

  it('transfer-encoding: an empty Transfer-Encoding with a Content-Length is read to the close', async () => {
    const input = [b('HTTP/1.1 200 OK\r\nTransfer-Encoding:  \r\nContent-Length: 3\r\n\r\nabcdef')]
    const ours = await ourResponses(['GET'], input, true)
    expect(ours.messages[0]?.body.toString()).toBe('abcdef')
    expect(ours.messages[0]?.keepAlive).toBe(false)
    expect(llhttpParse('response', input, true, ['GET']).messages[0]?.body.toString()).toBe('abc')
    expect(responseDisagreement(ours, ['GET'], input, true)?.deliberate).toBe('transfer-encoding')
  })

  it('transfer-encoding-ows in a response: chunked then HTAB is chunked for us, llhttp reads to the close', async () => {
    const input = [
      b('HTTP/1.1 500 \t\r\nTransfer-Encoding: gzip, chunked\t\r\n\r\n3\r\nabc\r\n0\r\n\r\n'),
    ]
    const ours = await ourResponses(['GET'], input, true)
    expect(ours.error).toBeUndefined()
    expect(ours.messages[0]?.body.toString()).toBe('abc')
    const ref = llhttpParse('response', input, true, ['GET'])
    expect(ref.messages[0]?.body.toString()).toBe('3\r\nabc\r\n0\r\n\r\n')
    expect(responseDisagreement(ours, ['GET'], input, true)?.deliberate).toBe(
      'transfer-encoding-ows',
    )
  })

  it('empty-line-before-response: an empty line before a status line is refused, llhttp skips it', async () => {
    const next = b(
      'HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n',
    )
    const ours = await ourResponses(['HEAD', 'GET'], [next], true)
    expect(ours.messages.length).toBe(1)
    expect(ours.error).toBe('InvalidHTTPHeader')
    expect(llhttpParse('response', [next], true, ['HEAD', 'GET']).messages.length).toBe(2)
    expect(responseDisagreement(ours, ['HEAD', 'GET'], [next], true)?.deliberate).toBe(
      'empty-line-before-response',
    )
    // Stray CRLF after a response and then the close: a close inside a head for us.
    const stray = b('HTTP/1.1 304 Not Modified\r\n\r\n\r\n')
    const closed = await ourResponses(['GET', 'GET'], [stray], true)
    expect(closed.error).toBe('ConnectionClosed')
    expect(responseDisagreement(closed, ['GET', 'GET'], [stray], true)?.deliberate).toBe(
      'empty-line-before-response',
    )
  })

  it('empty-line-before-response names nothing when the head does not start with an empty line', async () => {
    const input = b('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTX/1.1 200 OK\r\n\r\n')
    const ours = await ourResponses(['GET', 'GET'], [input], true)
    expect(ours.emptyLineBeforeHead).toBe(false)
    expect(responseDisagreement(ours, ['GET', 'GET'], [input], true)?.deliberate).not.toBe(
      'empty-line-before-response',
    )
  })

  it('empty-line-before-response covers a CRLF then a bare LF before the next head', async () => {
    const input = b('HTTP/1.1 304\r\nTransfer-Encoding: chunked\r\n\r\n\r\n\n')
    const ours = await ourResponses(['GET', 'GET'], [input], true)
    expect(ours.error).toBe('InvalidHTTPHeader')
    expect(responseDisagreement(ours, ['GET', 'GET'], [input], true)?.deliberate).toBe(
      'empty-line-before-response',
    )
  })

  it('transfer-encoding: an empty Transfer-Encoding is read to the close, also when Content-Length bytes are missing', async () => {
    const input = b(
      'HTTP/1.1 206 OK\r\nTransfer-Encoding: \r\nX-A: 1\r\nContent-Length:  3\r\n\r\n',
    )
    const ours = await ourResponses(['GET'], [input], true)
    expect(ours.error).toBeUndefined()
    expect(ours.messages[0]?.body.length).toBe(0)
    expect(llhttpParse('response', [input], true, ['GET']).error).toBe('INVALID_EOF_STATE')
    expect(responseDisagreement(ours, ['GET'], [input], true)?.deliberate).toBe('transfer-encoding')
    // The fields after the empty Transfer-Encoding are compared, not taken for trailers.
    const more = b(
      'HTTP/1.1 404 OK\r\nTransfer-Encoding:  \r\nContent-Length: 05\r\nX-A: 1\r\nX-B: 2\r\n\r\nabcdefgh',
    )
    const read = await ourResponses(['GET'], [more], true)
    expect(read.messages[0]?.headers.map(([n]) => n)).toEqual(['Transfer-Encoding', 'X-A', 'X-B'])
    expect(responseDisagreement(read, ['GET'], [more], true)?.deliberate).toBe('transfer-encoding')
  })
})
