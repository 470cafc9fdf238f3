// The long run of the HTTP/1 differential fuzzer (issue 17): the properties of
// test/http1/differential.test.ts with many more cases, not part of the tests.
//   npx tsx --conditions=@pingora-ts/source packages/core/bench/http1-differential.ts \
//     PARSER [CASES] [SEED] [MAX_SECONDS]
// PARSER is `request` (pipelined requests, Http1ServerSession), `response` (responses to a
// request sequence, Http1ClientSession) or `chunked` (the chunked body decoder). Run the three
// one after the other (the run of record, docs/http1-differential.md: 4e6 requests and 6e6
// responses, 10^7 for the two parsers, and 10^7 chunked bodies, seed 26120601).
// Prints the seed, the number of cases, the wall time, how many differences were deliberate (by
// name) and every disagreement that is not (printed as found too; the run then exits 1). With
// MAX_SECONDS the run stops after the batch (10 000 cases) that passes that wall time and says
// how many cases it ran.
import fc from 'fast-check'
import {
  chunkedDifference,
  deliberate,
  difference,
  responseDisagreement,
} from '../test/http1/differential/compare.ts'
import {
  bytesOf,
  bytewise,
  chunkedBody,
  pipeline,
  responseBytes,
  responseExchange,
  splitAt,
} from '../test/http1/differential/generators.ts'
import { llhttpParse } from '../test/http1/differential/llhttp.ts'
import { ourChunked, ourRequests, ourResponses } from '../test/http1/differential/ours.ts'

const PARSERS = ['request', 'response', 'chunked'] as const
type Parser = (typeof PARSERS)[number]
const parser = process.argv[2] as Parser
if (!PARSERS.includes(parser)) {
  process.stderr.write(`usage: http1-differential.ts ${PARSERS.join('|')} [CASES] [SEED]\n`)
  process.exit(2)
}
const cases = Number(process.argv[3] ?? 1_000_000)
const seed = Number(process.argv[4] ?? Date.now() % 2 ** 31)
const maxSeconds = Number(process.argv[5] ?? Number.POSITIVE_INFINITY)
const CHUNKED_HEAD = Buffer.from('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n')
const named = new Map<string, number>()
const failures: string[] = []
const count = (name: string) => named.set(name, (named.get(name) ?? 0) + 1)
const fail = (text: string) => {
  if (failures.length < 20) {
    failures.push(text)
    process.stdout.write(`disagreement: ${text}\n`)
  }
}
const started = performance.now()
process.stdout.write(`${parser}: seed ${seed}, ${cases} cases\n`)

async function requestBatch(n: number, batchSeed: number): Promise<void> {
  const samples = fc.sample(fc.tuple(pipeline, fc.array(fc.nat(), { maxLength: 5 })), {
    numRuns: n,
    seed: batchSeed,
  })
  for (let i = 0; i < samples.length; i++) {
    const [generated, cuts] = samples[i] as (typeof samples)[number]
    const input = bytesOf(generated)
    // One case in ten is fed one byte per read.
    const pieces = i % 10 === 0 ? bytewise(input) : splitAt(input, cuts)
    const ours = await ourRequests(pieces)
    const ref = llhttpParse('request', pieces)
    const diff = difference(ours, ref)
    if (diff === undefined) continue
    const name = deliberate(diff, ours, ref, pieces)
    if (name !== undefined) count(name)
    else fail(`${diff.kind} ${diff.text}: ${JSON.stringify(input.toString('latin1'))}`)
  }
}

async function responseBatch(n: number, batchSeed: number): Promise<void> {
  const samples = fc.sample(fc.tuple(responseExchange, fc.array(fc.nat(), { maxLength: 5 })), {
    numRuns: n,
    seed: batchSeed,
  })
  for (let i = 0; i < samples.length; i++) {
    const [exchange, cuts] = samples[i] as (typeof samples)[number]
    const input = responseBytes(exchange)
    const pieces = i % 10 === 0 ? bytewise(input) : splitAt(input, cuts)
    const ours = await ourResponses(exchange.methods, pieces, exchange.eof)
    const found = responseDisagreement(ours, exchange.methods, pieces, exchange.eof)
    if (found === undefined) continue
    if (found.deliberate !== undefined) count(found.deliberate)
    else fail(`${found.text}: ${JSON.stringify(input.toString('latin1'))}`)
  }
}

function chunkedBatch(n: number, batchSeed: number): void {
  const bodies = fc.sample(fc.tuple(chunkedBody, fc.array(fc.nat(), { maxLength: 6 })), {
    numRuns: n,
    seed: batchSeed,
  })
  for (const [body, cuts] of bodies) {
    const pieces = splitAt(body, cuts)
    const found = chunkedDifference(
      ourChunked(pieces),
      llhttpParse('request', [CHUNKED_HEAD, ...pieces]),
    )
    if (found !== undefined) fail(`chunked ${found}: ${JSON.stringify(body.toString('latin1'))}`)
  }
}

const BATCH = 10_000
let done = 0
for (let batch = 0; done < cases; batch++) {
  const n = Math.min(BATCH, cases - done)
  if (parser === 'request') await requestBatch(n, seed + batch)
  else if (parser === 'response') await responseBatch(n, seed + batch)
  else chunkedBatch(n, seed + batch)
  done += n
  const elapsed = (performance.now() - started) / 1000
  if (batch % 10 === 9 || done === cases) {
    process.stdout.write(`  ${done} cases, ${elapsed.toFixed(0)} s\n`)
  }
  if (elapsed > maxSeconds) break
}
const seconds = (performance.now() - started) / 1000
const stopped = done < cases ? ` (stopped at the ${maxSeconds} s budget)` : ''
process.stdout.write(
  `${parser}: seed ${seed}, ${done} of ${cases} cases${stopped}, ${seconds.toFixed(0)} s\n`,
)
process.stdout.write(`deliberate differences: ${JSON.stringify(Object.fromEntries(named))}\n`)
process.stdout.write(`disagreements: ${failures.length}\n`)
for (const failure of failures) process.stdout.write(`  ${failure}\n`)
process.exitCode = failures.length === 0 ? 0 : 1
