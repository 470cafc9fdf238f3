import { propagation, trace } from '@opentelemetry/api'
import { W3CTraceContextPropagator } from '@opentelemetry/core'
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http'
import { BatchSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace'
import { backgroundService, checkHostPort, parseCommandLine, Server } from '@pingora-ts/core'
import { startNamedOrigin } from '@pingora-ts/example-origins'
import { LoadBalancer, RoundRobin, TcpHealthCheck } from '@pingora-ts/load-balancing'
import {
  ProxyLogs,
  ProxyMetrics,
  ProxyTracing,
  prometheusHttpService,
} from '@pingora-ts/observability'
import { httpProxyService } from '@pingora-ts/proxy'
import { ObservedLb } from './lb.ts'

/** `off`, or an address. */
function checkAddressOrOff(value: string): void {
  if (value !== 'off') checkHostPort(value)
}

const { values } = parseCommandLine({
  name: 'observability',
  version: '0.0.0',
  summary: `A round-robin load balancer with metrics, tracing and logs on:
  Prometheus metrics on --metrics, an access log line per request on --access-log, the error
  log on --error-log, OpenTelemetry spans exported to --otlp (W3C traceparent propagated).`,
  serverOptions: false,
  options: {
    listen: {
      type: 'string',
      default: '127.0.0.1:6198',
      valueName: 'ADDR',
      description: 'where to listen (port 0 picks a free one)',
      check: checkHostPort,
    },
    upstream: {
      type: 'string',
      multiple: true,
      valueName: 'HOST:PORT',
      description: 'an upstream (default: two embedded local origins)',
      check: checkHostPort,
    },
    metrics: {
      type: 'string',
      default: '127.0.0.1:6199',
      valueName: 'ADDR',
      description: 'where Prometheus scrapes the metrics, or off',
      check: checkAddressOrOff,
    },
    'access-log': {
      type: 'string',
      default: 'stdout',
      valueName: 'DEST',
      description: 'stdout, stderr, a file, syslog+udp://HOST:PORT, syslog+unix:PATH, or off',
    },
    'error-log': {
      type: 'string',
      default: 'stderr',
      valueName: 'DEST',
      description: 'stdout, stderr, a file, syslog+udp://HOST:PORT or syslog+unix:PATH',
    },
    tracing: {
      type: 'string',
      default: 'on',
      valueName: 'on|off',
      description: 'record spans (and propagate traceparent upstream), or off',
      check: (value) => {
        if (value !== 'on' && value !== 'off') throw new TypeError('expected on or off')
      },
    },
    otlp: {
      type: 'string',
      valueName: 'URL',
      description: 'export spans to this OTLP/HTTP endpoint (e.g. http://127.0.0.1:4318/v1/traces)',
    },
  },
})

let upstreamAddrs = values.upstream ?? []
if (upstreamAddrs.length === 0) {
  const origins = await Promise.all([startNamedOrigin('origin-1'), startNamedOrigin('origin-2')])
  upstreamAddrs = origins.map((o) => o.address)
  process.stdout.write(`embedded origins: ${upstreamAddrs.join(', ')}\n`)
}

// Tracing: the W3C propagator always (a client's trace goes on upstream); an SDK exporting over
// OTLP/HTTP when --otlp is given (without one, the API's no-op tracer records nothing).
propagation.setGlobalPropagator(new W3CTraceContextPropagator())
if (values.otlp !== undefined) {
  const exporter = new OTLPTraceExporter({ url: values.otlp })
  trace.setGlobalTracerProvider(
    new TracerProvider({
      spanProcessors: [new BatchSpanProcessor({ exporter, scheduledDelayMillis: 200 })],
    }),
  )
}
if (values.tracing === 'on') new ProxyTracing().enable()

const accessLog = values['access-log'] === 'off' ? undefined : values['access-log']
new ProxyLogs({ accessLog, errorLog: values['error-log'] }).enable()

const server = new Server()
server.bootstrap()
const upstreams = LoadBalancer.tryFromIter(RoundRobin, upstreamAddrs, {
  healthCheck: new TcpHealthCheck(),
  healthCheckFrequencyMs: 1000,
})
const lb = httpProxyService(server.configuration, new ObservedLb(upstreams))
lb.addTcp(values.listen)
server.addService(lb)
server.addService(backgroundService('health check', upstreams))

let metricsService: ReturnType<typeof prometheusHttpService> | undefined
if (values.metrics !== 'off') {
  const metrics = new ProxyMetrics({ service: 'lb' }).enable()
  metrics.observeConnector('lb', lb.appLogic.clientUpstream)
  metrics.observeHealth('lb', upstreams)
  metricsService = prometheusHttpService()
  metricsService.addTcp(values.metrics)
  server.addService(metricsService)
}

server.runForever()
await server.start()
for (const endpoint of lb.listeningAddresses()) {
  if (endpoint.kind !== 'tcp') continue
  process.stdout.write(`load balancer listening on http://${endpoint.address}\n`)
}
for (const endpoint of metricsService?.listeningAddresses() ?? []) {
  if (endpoint.kind !== 'tcp') continue
  process.stdout.write(`metrics on http://${endpoint.address}/metrics\n`)
}
