// Connection reuse under load: 20,000 keep-alive GETs through HttpConnector to one node:http
// origin from 50 concurrent callers. Reuse is counted from the origin's accept count.
//
// Usage (from the repository root):
//   node_modules/.bin/tsx --conditions=@pingora-ts/source bench/pool-reuse/run.ts
// Arguments: [requests (20000)] [callers (50)].
//
// Fifty requests in flight at once need fifty connections, so the first round of requests
// cannot be served from the pool whatever the pool does. The script reports the raw ratio
// (every accept counted) and the steady-state ratio (accepts after a warm-up round of one
// request per caller), and fails when the steady-state ratio is below 99.9%.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { HttpConnector, HttpPeer } from '../../packages/core/src/index.ts'
import { RequestHeader } from '../../packages/http/src/index.ts'

const REQUESTS = Number(process.argv[2] ?? 20_000)
const CALLERS = Number(process.argv[3] ?? 50)
const TARGET = 0.999

const BODY = Buffer.from('Hello, world!')
const origin = http.createServer({ keepAliveTimeout: 60_000 }, (_request, response) => {
  response.setHeader('Content-Type', 'text/plain')
  response.end(BODY)
})
let accepted = 0
origin.on('connection', () => {
  accepted++
})
await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve))
const { port } = origin.address() as AddressInfo

const connector = new HttpConnector()
const peer = new HttpPeer(`127.0.0.1:${port}`, false, '')

async function get(): Promise<boolean> {
  const [session, reused] = await connector.getHttpSession(peer)
  const request = RequestHeader.build('GET', '/')
  request.insertHeader('Host', 'origin.test')
  await session.writeRequestHeader(request)
  await session.finishBody()
  const response = await session.readResponseHeader()
  if (response.status !== 200) throw new Error(`unexpected status ${response.status}`)
  while ((await session.readResponseBody()) !== undefined) {}
  connector.releaseHttpSession(session, peer)
  return reused
}

// Warm-up: one request per caller, all in flight at once.
await Promise.all(Array.from({ length: CALLERS }, get))
const warm = accepted

let sent = 0
let reused = 0
const started = performance.now()
await Promise.all(
  Array.from({ length: CALLERS }, async () => {
    while (sent < REQUESTS) {
      sent++
      if (await get()) reused++
    }
  }),
)
const elapsedMs = performance.now() - started
const measuredAccepts = accepted - warm
const steadyRatio = 1 - measuredAccepts / REQUESTS
const rawRatio = 1 - accepted / (REQUESTS + CALLERS)

const report = {
  requests: REQUESTS,
  callers: CALLERS,
  originAccepts: accepted,
  acceptsAfterWarmUp: measuredAccepts,
  reuseRatioSteadyState: Number(steadyRatio.toFixed(6)),
  reuseRatioRaw: Number(rawRatio.toFixed(6)),
  reusedPerConnector: reused,
  requestsPerSecond: Math.round(REQUESTS / (elapsedMs / 1000)),
  connector: connector.stats(),
}
process.stdout.write(`${JSON.stringify(report, null, 2)}\n`)
process.stdout.write(
  `reuse ratio ${(steadyRatio * 100).toFixed(3)}% (steady state), ${(rawRatio * 100).toFixed(3)}% (raw, incl. ${CALLERS} warm-up connections); target ${(TARGET * 100).toFixed(1)}%: ${steadyRatio >= TARGET ? 'PASS' : 'FAIL'}\n`,
)
origin.close()
origin.closeAllConnections()
process.exit(steadyRatio >= TARGET ? 0 : 1)
