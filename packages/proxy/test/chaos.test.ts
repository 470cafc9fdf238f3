// Issue 20, the chaos test: three origins behind a round-robin LoadBalancer with an
// OutlierDetector fed from `logging`; a steady, bounded load (a fixed number of clients, each
// sending its next request when the last one ends) through a real client (undici). Mid-run one
// origin starts answering 503; once it is ejected, the client error rate must be under 0.1 %,
// and when it heals and its ejection time is up (injected clock) it takes traffic again with
// no errors. Prints the figures.

import diagnosticsChannel from 'node:diagnostics_channel'
import type http from 'node:http'
import { HttpPeer } from '@pingora-ts/core'
import { ErrorType, PingoraError } from '@pingora-ts/error'
import {
  type Backend,
  CHANNEL_NAMES,
  LoadBalancer,
  OutlierDetector,
  RoundRobin,
} from '@pingora-ts/load-balancing'
import type { ProxyHttp } from '@pingora-ts/proxy'
import { Agent, request } from 'undici'
import { expect, it, onTestFinished } from 'vitest'
import { origin, startProxy } from './helpers.ts'

const CLIENTS = 8
const EMPTY = new Uint8Array()

it('keeps the client error rate under 0.1% once a failing backend is ejected, and recovers', async () => {
  const hits = [0, 0, 0]
  let bad = false
  const origins = await Promise.all(
    [0, 1, 2].map((i) =>
      origin((_req: http.IncomingMessage, res: http.ServerResponse) => {
        hits[i] = (hits[i] ?? 0) + 1
        if (i === 1 && bad) {
          res.statusCode = 503
          res.end('down')
          return
        }
        res.end(`origin ${i}`)
      }),
    ),
  )
  const clock = { t: 0 }
  const outliers = new OutlierDetector({
    consecutive5xx: 5,
    maxEjectionPercent: 34,
    baseEjectionTimeMs: 30_000,
    now: () => clock.t,
  })
  const lb = LoadBalancer.tryFromIter(
    RoundRobin,
    origins.map((o) => `127.0.0.1:${o.port}`),
    { outlierDetection: outliers },
  )
  const app = {
    newCtx: () => ({ backend: undefined as Backend | undefined }),
    upstreamPeer(_session, ctx) {
      const backend = lb.select(EMPTY, 256)
      if (backend === undefined) throw PingoraError.explain(ErrorType.HTTPStatus(503), 'none')
      ctx.backend = backend
      return new HttpPeer({ address: backend.addr, tls: false, sni: '' })
    },
    logging(session, error, ctx) {
      outliers.observeRequest(ctx.backend, error, session.responseWritten?.status)
    },
  } satisfies ProxyHttp<{ backend: Backend | undefined }>
  const proxy = await startProxy(app)
  const agent = new Agent({ connections: CLIENTS })
  onTestFinished(() => agent.close())

  let ejectedAt = -1
  let sent = 0
  const onEjected = () => {
    ejectedAt = sent
  }
  diagnosticsChannel.subscribe(CHANNEL_NAMES.outlierEjected, onEjected)
  onTestFinished(() => {
    diagnosticsChannel.unsubscribe(CHANNEL_NAMES.outlierEjected, onEjected)
  })

  /** Runs `count` requests with CLIENTS clients; returns the failures by request index. */
  const load = async (count: number, onRequest?: (index: number) => void) => {
    const failed: number[] = []
    let next = 0
    const client = async () => {
      while (next < count) {
        const index = next++
        sent++
        onRequest?.(index)
        const startedAfterEjection = ejectedAt !== -1
        const response = await request(`${proxy.url}/`, { dispatcher: agent })
        await response.body.dump()
        if (response.statusCode !== 200) failed.push(startedAfterEjection ? index : -1 - index)
      }
    }
    await Promise.all(Array.from({ length: CLIENTS }, client))
    return failed
  }

  const steady = await load(1_000)
  // Mid-run: origin 1 turns bad at the 200th request of the second phase.
  const during = await load(4_000, (index) => {
    if (index === 200) bad = true
  })
  const beforeEjection = during.filter((i) => i < 0).length
  const afterEjection = during.filter((i) => i >= 0).length
  const windowRequests = 4_000 - (ejectedAt - 1_000)
  const windowRate = afterEjection / windowRequests
  // Healed; the ejection time passes on the injected clock.
  bad = false
  clock.t += 30_000
  const hitsBeforeRecovery = hits[1] as number
  const recovered = await load(1_000)
  const recoveredHits = (hits[1] as number) - hitsBeforeRecovery

  process.stdout.write(
    [
      `chaos: steady 1000 requests, ${steady.length} errors`,
      `chaos: origin 1 bad from request 1200; ejected at request ${ejectedAt} ` +
        `after ${beforeEjection} client errors`,
      `chaos: ejection window ${windowRequests} requests, ${afterEjection} errors ` +
        `(${(windowRate * 100).toFixed(3)} %)`,
      `chaos: healed, 1000 requests, ${recovered.length} errors, origin 1 served ${recoveredHits}`,
      '',
    ].join('\n'),
  )
  expect(steady).toEqual([])
  expect(ejectedAt).toBeGreaterThan(1_200)
  // The failures before the ejection: the streak that ejects it, plus requests in flight.
  expect(beforeEjection).toBeGreaterThanOrEqual(5)
  expect(beforeEjection).toBeLessThanOrEqual(5 + CLIENTS)
  expect(windowRate).toBeLessThan(0.001)
  expect(recovered).toEqual([])
  expect(recoveredHits).toBeGreaterThan(250)
})
