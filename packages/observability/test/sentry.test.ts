import http from 'node:http'
import { gunzipSync } from 'node:zlib'
import { HttpPeer } from '@pingora-ts/core'
import { freePort, startOrigin } from '@pingora-ts/test-utils'
import { startProxy } from '@pingora-ts/test-utils/proxy'
import * as Sentry from '@sentry/node'
import { request } from 'undici'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { SentryReporter } from '../src/index.ts'

interface EnvelopeItem {
  readonly header: Record<string, unknown>
  readonly payload: Record<string, unknown>
}

/** A Sentry ingestion endpoint: parses every envelope POSTed to `/api/<project>/envelope/`. */
async function startReceiver(): Promise<{
  dsn: string
  events: EnvelopeItem[]
  close(): Promise<void>
}> {
  const events: EnvelopeItem[] = []
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      let body = Buffer.concat(chunks)
      if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body)
      if (req.method === 'POST' && req.url?.startsWith('/api/1/envelope/')) {
        // Envelope: a header line, then (item header line, payload line) pairs.
        const lines = body.toString('utf8').split('\n').filter(Boolean)
        for (let i = 1; i + 1 < lines.length; i += 2) {
          const header = JSON.parse(lines[i] as string) as Record<string, unknown>
          if (header.type === 'event') {
            events.push({ header, payload: JSON.parse(lines[i + 1] as string) })
          }
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  return {
    dsn: `http://public@127.0.0.1:${port}/1`,
    events,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

describe('SentryReporter with @sentry/node', () => {
  let receiver: Awaited<ReturnType<typeof startReceiver>>
  let reporter: SentryReporter
  beforeAll(async () => {
    receiver = await startReceiver()
    Sentry.initWithoutDefaultIntegrations({
      dsn: receiver.dsn,
      integrations: [Sentry.linkedErrorsIntegration()],
    })
    reporter = new SentryReporter(Sentry).enable()
  })
  afterAll(async () => {
    reporter.disable()
    await Sentry.close(2000)
    await receiver.close()
  })

  test('a throwing requestFilter is reported with the request summary and the cause', async () => {
    const origin = await startOrigin((_req, res) => res.end('ok'))
    const proxy = await startProxy({
      newCtx: () => undefined,
      requestFilter: () => {
        throw new TypeError('filter bug')
      },
      upstreamPeer: () => new HttpPeer(`127.0.0.1:${origin.port}`, false, ''),
    })
    const response = await request(`${proxy.url}/boom`, { headers: { host: 'svc' } })
    expect(response.statusCode).toBe(500)
    await response.body.dump()
    expect(await Sentry.flush(5000)).toBe(true)
    expect(receiver.events).toHaveLength(1)
    const event = receiver.events[0]?.payload as {
      level: string
      tags: Record<string, string>
      contexts: { request: { summary: string; tries: number } }
      exception: { values: Array<{ type: string; value: string }> }
    }
    expect(event.level).toBe('error')
    expect(event.tags).toMatchObject({ error_type: 'InternalError', error_source: 'internal' })
    expect(event.contexts.request).toMatchObject({ summary: 'GET /boom, Host: svc', tries: 0 })
    // Linked errors: the TypeError the phase threw, then the PingoraError wrapping it.
    const types = event.exception.values.map((value) => value.type)
    expect(types).toContain('TypeError')
    expect(event.exception.values.map((value) => value.value)).toContain('filter bug')
  })

  test('an upstream failure is a normal proxy error: not reported', async () => {
    const before = receiver.events.length
    const closedPort = await freePort()
    const proxy = await startProxy({
      newCtx: () => undefined,
      upstreamPeer: () => new HttpPeer(`127.0.0.1:${closedPort}`, false, ''),
    })
    const response = await request(`${proxy.url}/`)
    expect(response.statusCode).toBe(502)
    await response.body.dump()
    expect(await Sentry.flush(5000)).toBe(true)
    expect(receiver.events.length).toBe(before)
  })
})
