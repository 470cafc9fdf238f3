import http from 'node:http'
import { gunzipSync } from 'node:zlib'
import { propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api'
import { W3CTraceContextPropagator } from '@opentelemetry/core'
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http'
import {
  BatchSpanProcessor,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
  TracerProvider,
} from '@opentelemetry/sdk-trace'
import { HttpPeer } from '@pingora-ts/core'
import { channels } from '@pingora-ts/proxy'
import { freePort, startOrigin } from '@pingora-ts/test-utils'
import { startProxy } from '@pingora-ts/test-utils/proxy'
import { request } from 'undici'
import { afterAll, beforeAll, describe, expect, onTestFinished, test } from 'vitest'
import { ProxyTracing } from '../src/index.ts'

const CLIENT_TRACE_ID = '0af7651916cd43dd8448eb211c80319c'
const CLIENT_SPAN_ID = 'b7ad6b7169203331'

beforeAll(() => {
  propagation.setGlobalPropagator(new W3CTraceContextPropagator())
})
afterAll(() => {
  propagation.disable()
})

/** An origin that answers with the traceparent/tracestate it received. */
async function startEchoOrigin() {
  return await startOrigin((req, res) => {
    res.setHeader('content-type', 'application/json')
    res.end(
      JSON.stringify({ traceparent: req.headers.traceparent, tracestate: req.headers.tracestate }),
    )
  })
}

describe('ProxyTracing with the OTel SDK (in-memory exporter)', () => {
  test('a retried request: one server span, one client span per attempt, context propagated both ways', async () => {
    const exporter = new InMemorySpanExporter()
    const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] })
    const tracing = new ProxyTracing({ tracer: provider.getTracer('test') }).enable()
    onTestFinished(() => tracing.disable())
    const origin = await startEchoOrigin()
    const refused = await freePort()
    const proxy = await startProxy({
      newCtx: () => undefined,
      // The first attempt goes to a closed port; the connect error is made retryable.
      upstreamPeer: (session) =>
        new HttpPeer(`127.0.0.1:${session.retries <= 1 ? refused : origin.port}`, false, ''),
      failToConnect: (_session, _peer, _ctx, error) => error.setRetry(true),
    })
    const response = await request(`${proxy.url}/items?id=7`, {
      headers: {
        host: 'shop.example:8443',
        'user-agent': 'tracing-test',
        traceparent: `00-${CLIENT_TRACE_ID}-${CLIENT_SPAN_ID}-01`,
        tracestate: 'vendor=abc',
      },
    })
    expect(response.statusCode).toBe(200)
    const echoed = (await response.body.json()) as { traceparent: string; tracestate: string }

    const spans = exporter.getFinishedSpans()
    const server = spans.find((s) => s.kind === SpanKind.SERVER) as ReadableSpan
    const clients = spans
      .filter((s) => s.kind === SpanKind.CLIENT)
      .sort(
        (a, b) =>
          Number(a.attributes['http.request.resend_count'] ?? 0) -
          Number(b.attributes['http.request.resend_count'] ?? 0),
      )
    expect(spans).toHaveLength(3)
    expect(clients).toHaveLength(2)

    // The server span continues the client's trace.
    expect(server.spanContext().traceId).toBe(CLIENT_TRACE_ID)
    expect(server.parentSpanContext?.spanId).toBe(CLIENT_SPAN_ID)
    expect(server.name).toBe('GET')
    expect(server.attributes).toMatchObject({
      'http.request.method': 'GET',
      'url.path': '/items',
      'url.query': 'id=7',
      'url.scheme': 'http',
      'server.address': 'shop.example',
      'server.port': 8443,
      'client.address': '127.0.0.1',
      'user_agent.original': 'tracing-test',
      'http.response.status_code': 200,
      'http.request.resend_count': 1,
    })
    expect(server.status.code).toBe(SpanStatusCode.UNSET)

    // Both attempts are children of the server span; the first failed to connect.
    for (const client of clients) {
      expect(client.spanContext().traceId).toBe(CLIENT_TRACE_ID)
      expect(client.parentSpanContext?.spanId).toBe(server.spanContext().spanId)
    }
    const [first, second] = clients as [ReadableSpan, ReadableSpan]
    expect(first.status.code).toBe(SpanStatusCode.ERROR)
    expect(first.attributes).toMatchObject({
      'error.type': 'ConnectRefused',
      'server.address': '127.0.0.1',
      'server.port': refused,
      'pingora.retry': true,
    })
    expect(first.events.map((event) => event.name)).toContain('exception')
    expect(second.status.code).toBe(SpanStatusCode.UNSET)
    expect(second.attributes).toMatchObject({
      'http.response.status_code': 200,
      'server.port': origin.port,
      'http.request.resend_count': 1,
      'network.peer.address': '127.0.0.1',
    })
    // The origin saw the second attempt's context, and the client's tracestate.
    expect(echoed.traceparent).toBe(`00-${CLIENT_TRACE_ID}-${second.spanContext().spanId}-01`)
    expect(echoed.tracestate).toBe('vendor=abc')
  })

  test('a failed request: the server span records the error and a 502', async () => {
    const exporter = new InMemorySpanExporter()
    const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] })
    const tracing = new ProxyTracing({ tracer: provider.getTracer('test') }).enable()
    onTestFinished(() => tracing.disable())
    const refused = await freePort()
    const proxy = await startProxy({
      newCtx: () => undefined,
      upstreamPeer: () => new HttpPeer(`127.0.0.1:${refused}`, false, ''),
    })
    const response = await request(`${proxy.url}/`)
    expect(response.statusCode).toBe(502)
    await response.body.dump()
    const server = exporter.getFinishedSpans().find((s) => s.kind === SpanKind.SERVER)
    expect(server?.status.code).toBe(SpanStatusCode.ERROR)
    expect(server?.attributes['error.type']).toBe('ConnectRefused')
    expect(server?.attributes['http.response.status_code']).toBe(502)
    expect(server?.events.map((event) => event.name)).toContain('exception')
    // A fresh trace: no client traceparent.
    expect(server?.parentSpanContext).toBeUndefined()
  })

  test('without an SDK nothing is subscribed (nil cost); the client context still travels upstream', async () => {
    trace.disable()
    const tracing = new ProxyTracing().enable()
    onTestFinished(() => tracing.disable())
    expect(tracing.enabled).toBe(false)
    expect(channels.requestStarted.hasSubscribers).toBe(false)
    const origin = await startEchoOrigin()
    const proxy = await startProxy({
      newCtx: () => undefined,
      upstreamPeer: () => new HttpPeer(`127.0.0.1:${origin.port}`, false, ''),
    })
    const traceparent = `00-${CLIENT_TRACE_ID}-${CLIENT_SPAN_ID}-01`
    const response = await request(`${proxy.url}/`, { headers: { traceparent } })
    const echoed = (await response.body.json()) as { traceparent: string }
    expect(echoed.traceparent).toBe(traceparent)
  })
})

describe('ProxyTracing exporting OTLP/HTTP', () => {
  test('spans reach an OTLP receiver as JSON', async () => {
    const bodies: Array<{
      resourceSpans: Array<{
        scopeSpans: Array<{ spans: Array<{ name: string; kind: number; traceId: string }> }>
      }>
    }> = []
    const receiver = http.createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (chunk: Buffer) => chunks.push(chunk))
      req.on('end', () => {
        let body = Buffer.concat(chunks)
        if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body)
        if (req.method === 'POST' && req.url === '/v1/traces')
          bodies.push(JSON.parse(body.toString()))
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
      })
    })
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
    onTestFinished(() => new Promise<void>((resolve) => receiver.close(() => resolve())))
    const { port } = receiver.address() as { port: number }
    const provider = new TracerProvider({
      spanProcessors: [
        new BatchSpanProcessor({
          exporter: new OTLPTraceExporter({ url: `http://127.0.0.1:${port}/v1/traces` }),
        }),
      ],
    })
    const tracing = new ProxyTracing({ tracer: provider.getTracer('test') }).enable()
    onTestFinished(() => tracing.disable())
    const origin = await startEchoOrigin()
    const proxy = await startProxy({
      newCtx: () => undefined,
      upstreamPeer: () => new HttpPeer(`127.0.0.1:${origin.port}`, false, ''),
    })
    const response = await request(`${proxy.url}/otlp`, {
      headers: { traceparent: `00-${CLIENT_TRACE_ID}-${CLIENT_SPAN_ID}-01` },
    })
    await response.body.dump()
    await provider.forceFlush()
    await provider.shutdown()
    const spans = bodies.flatMap((body) =>
      body.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans)),
    )
    // OTLP JSON: kind 2 = SERVER, 3 = CLIENT; ids in hex.
    expect(spans.map((span) => span.kind).sort()).toEqual([2, 3])
    expect(new Set(spans.map((span) => span.traceId))).toEqual(new Set([CLIENT_TRACE_ID]))
  })
})
