// The long run of the HTTP/1 differential fuzzer (issue 17): the properties of
// test/http1/differential.test.ts with many more cases, not part of the tests.
//   npx tsx --conditions=@pingora-ts/source packages/core/bench/http1-differential.ts [CASES] [SEED]
// Prints the seed, the number of cases, how many differences were deliberate (by name) and
// every disagreement that is not (the run then exits 1).
import fc from 'fast-check'
import { chunkedDifference, deliberate, difference } from '../test/http1/differential/compare.ts'
import {
  bytesOf,
  bytewise,
  chunkedBody,
  pipeline,
  splitAt,
} from '../test/http1/differential/generators.ts'
import { llhttpParse } from '../test/http1/differential/llhttp.ts'
import { ourChunked, ourRequests } from '../test/http1/differential/ours.ts'

const cases = Number(process.argv[2] ?? 1_000_000)
const seed = Number(process.argv[3] ?? Date.now() % 2 ** 31)
const CHUNKED_HEAD = Buffer.from('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n')
const named = new Map<string, number>()
const failures: string[] = []
const started = performance.now()
let done = 0
const BATCH = 10_000
for (let batch = 0; done < cases; batch++) {
  const n = Math.min(BATCH, cases - done)
  const requests = fc.sample(fc.tuple(pipeline, fc.array(fc.nat(), { maxLength: 5 })), {
    numRuns: n,
    seed: seed + batch,
  })
  for (let i = 0; i < requests.length; i++) {
    const [generated, cuts] = requests[i] as (typeof requests)[number]
    const input = bytesOf(generated)
    // One case in ten is fed one byte per read.
    const pieces = i % 10 === 0 ? bytewise(input) : splitAt(input, cuts)
    const ours = await ourRequests(pieces)
    const ref = llhttpParse('request', pieces)
    const diff = difference(ours, ref)
    if (diff !== undefined) {
      const name = deliberate(diff, ours, ref)
      if (name !== undefined) named.set(name, (named.get(name) ?? 0) + 1)
      else if (failures.length < 20)
        failures.push(`${diff.kind} ${diff.text}: ${JSON.stringify(input.toString('latin1'))}`)
    }
  }
  const bodies = fc.sample(fc.tuple(chunkedBody, fc.array(fc.nat(), { maxLength: 6 })), {
    numRuns: n,
    seed: seed + batch + 1_000_000,
  })
  for (const [body, cuts] of bodies) {
    const pieces = splitAt(body, cuts)
    const found = chunkedDifference(
      ourChunked(pieces),
      llhttpParse('request', [CHUNKED_HEAD, ...pieces]),
    )
    if (found !== undefined && failures.length < 20)
      failures.push(`chunked ${found}: ${JSON.stringify(body.toString('latin1'))}`)
  }
  done += n
  const seconds = (performance.now() - started) / 1000
  process.stderr.write(`\r${done} requests + ${done} chunked bodies, ${seconds.toFixed(0)} s`)
}
process.stderr.write('\n')
process.stdout.write(`seed ${seed}: ${cases} pipelines and ${cases} chunked bodies\n`)
process.stdout.write(`deliberate differences: ${JSON.stringify(Object.fromEntries(named))}\n`)
process.stdout.write(`disagreements: ${failures.length}\n`)
for (const failure of failures) process.stdout.write(`  ${failure}\n`)
process.exitCode = failures.length === 0 ? 0 : 1
