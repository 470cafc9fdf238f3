import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, readFileSync } from 'node:fs'
import http from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { request } from 'undici'
import { afterEach, describe, expect, it, onTestFinished } from 'vitest'

const root = fileURLToPath(new URL('../../..', import.meta.url))
const main = fileURLToPath(new URL('../src/main.ts', import.meta.url))
const tsx = `${root}node_modules/.bin/tsx`

const children: ChildProcess[] = []
afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null) {
      child.kill('SIGTERM')
      await once(child, 'exit')
    }
  }
})

/** Starts the example; resolves with the proxy and metrics addresses it prints. */
async function startExample(args: string[]): Promise<{ proxy: string; metrics: string }> {
  const child = spawn(tsx, ['--conditions=@pingora-ts/source', main, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.push(child)
  let err = ''
  child.stderr?.setEncoding('utf8')
  child.stderr?.on('data', (chunk: string) => {
    err += chunk
  })
  let proxy: string | undefined
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })
  for await (const line of lines) {
    const listening = /listening on (http:\/\/\S+)/.exec(line)
    if (listening) proxy = listening[1]
    const metrics = /metrics on (http:\/\/\S+)/.exec(line)
    if (metrics && proxy !== undefined) return { proxy, metrics: metrics[1] as string }
  }
  throw new Error(`the example exited before listening: ${err}`)
}

/** An OTLP/HTTP receiver: resolves the spans of the first export. */
async function startOtlpReceiver(): Promise<{
  url: string
  spans: Promise<Array<{ kind: number; traceId: string }>>
}> {
  let deliver: (spans: Array<{ kind: number; traceId: string }>) => void = () => {}
  const spans = new Promise<Array<{ kind: number; traceId: string }>>((resolve) => {
    deliver = resolve
  })
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString()) as {
        resourceSpans: Array<{
          scopeSpans: Array<{ spans: Array<{ kind: number; traceId: string }> }>
        }>
      }
      deliver(body.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans)))
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())))
  const { port } = server.address() as { port: number }
  return { url: `http://127.0.0.1:${port}/v1/traces`, spans }
}

describe('examples/observability', () => {
  it('proxies with metrics, an access log line and spans exported over OTLP', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pingora-obs-example-'))
    const accessLog = join(dir, 'access.log')
    const otlp = await startOtlpReceiver()
    const { proxy, metrics } = await startExample([
      '--listen',
      '127.0.0.1:0',
      '--metrics',
      '127.0.0.1:0',
      '--access-log',
      accessLog,
      '--otlp',
      otlp.url,
    ])
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736'
    const response = await request(`${proxy}/hello`, {
      headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01`, 'user-agent': 'example-test' },
    })
    expect(response.statusCode).toBe(200)
    expect(await response.body.text()).toMatch(/^hello from origin-\d/)

    const scraped = await request(metrics)
    const text = await scraped.body.text()
    expect(text).toContain(
      'pingora_http_requests_total{service="lb",method="GET",status_class="2xx"} 1',
    )
    expect(text).toMatch(/pingora_backend_healthy\{backend="127\.0\.0\.1:\d+"\} 1/)
    expect(text).toContain('process_cpu_seconds_total')
    // Every metric the Grafana dashboard queries is one the example serves.
    const dashboard = readFileSync(new URL('../grafana-dashboard.json', import.meta.url), 'utf8')
    const queried = new Set(
      [...dashboard.matchAll(/\b((?:pingora|process|nodejs)_[a-z0-9_]+)/g)].map((m) =>
        (m[1] as string).replace(/_bucket$/, ''),
      ),
    )
    expect(queried.size).toBeGreaterThan(15)
    for (const name of queried) expect(text, name).toContain(`# TYPE ${name} `)

    const spans = await otlp.spans
    expect(spans.map((span) => span.kind).sort()).toEqual([2, 3])
    expect(spans.every((span) => span.traceId === traceId)).toBe(true)

    // The access log is written asynchronously; it is complete once the example stops.
    const child = children[0] as ChildProcess
    child.kill('SIGTERM')
    await once(child, 'exit')
    const line = JSON.parse(readFileSync(accessLog, 'utf8').trim().split('\n')[0] as string)
    expect(line).toMatchObject({
      log: 'access',
      remote_addr: '127.0.0.1',
      request: 'GET /hello HTTP/1.1',
      status: 200,
      http_user_agent: 'example-test',
      upstream_status: '200',
      error_type: '-',
    })
    expect(line.upstream_addr).toMatch(/^127\.0\.0\.1:\d+$/)
  })
})
