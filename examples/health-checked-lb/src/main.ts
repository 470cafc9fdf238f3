import http from 'node:http'
import type { AddressInfo } from 'node:net'
import {
  checkHostPort,
  checkWholeNumber,
  exitCannotStart,
  parseCommandLine,
} from '@pingora-ts/core'
import { ProxyLogs } from '@pingora-ts/observability'
import { startHealthCheckedLb } from './start.ts'

const { values } = parseCommandLine({
  name: 'health-checked-lb',
  version: '0.0.0',
  summary: `Consistent hashing over health-checked upstreams, with failover.
Requests without the hash header are hashed by client IP address.`,
  serverOptions: false,
  options: {
    listen: {
      type: 'string',
      default: '127.0.0.1:6189',
      valueName: 'ADDR',
      description: 'where to listen (port 0 picks a free one)',
      check: checkHostPort,
    },
    upstream: {
      type: 'string',
      multiple: true,
      valueName: 'HOST:PORT',
      description: 'an upstream (default: three embedded local origins)',
      check: checkHostPort,
    },
    check: {
      type: 'string',
      default: 'http',
      valueName: 'tcp|http',
      description: 'health check: TCP connect, or GET --health-path answering 200',
      check: (value) => {
        if (value !== 'tcp' && value !== 'http') throw new TypeError('expected tcp or http')
      },
    },
    'health-path': {
      type: 'string',
      default: '/health',
      valueName: 'PATH',
      description: 'the path the HTTP health check requests',
    },
    'interval-ms': {
      type: 'string',
      default: '1000',
      valueName: 'N',
      description: 'how often each upstream is checked',
      check: checkWholeNumber,
    },
    'hash-header': {
      type: 'string',
      default: 'x-user',
      valueName: 'NAME',
      description: 'the request header hashed to pick the upstream',
    },
  },
})
const healthCheck = values.check === 'tcp' ? 'tcp' : 'http'

/** An embedded origin: answers with its name; `/health` is 200 unless it is told to fail. */
function startOrigin(name: string): Promise<string> {
  let healthy = true
  const server = http.createServer((request, response) => {
    if (request.url === '/toggle-health') healthy = !healthy
    const status = request.url === '/health' && !healthy ? 503 : 200
    response.writeHead(status, { 'content-type': 'text/plain', 'x-origin': name })
    response.end(`${name}: ${request.method} ${request.url}\n`)
  })
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve(`127.0.0.1:${(server.address() as AddressInfo).port}`)
    })
  })
}

let upstreams = values.upstream ?? []
if (upstreams.length === 0) {
  upstreams = await Promise.all(['origin-1', 'origin-2', 'origin-3'].map(startOrigin))
  process.stdout.write(`embedded origins: ${upstreams.join(', ')}\n`)
}

const running = await startHealthCheckedLb({
  upstreams,
  listen: values.listen,
  healthCheck,
  healthPath: values['health-path'],
  healthCheckFrequencyMs: Number(values['interval-ms']),
  hashHeader: values['hash-header'],
  onHealthChange: (backend, healthy) => {
    process.stdout.write(`upstream ${backend.addr} is ${healthy ? 'healthy' : 'unhealthy'}\n`)
  },
}).catch(exitCannotStart)
// From here on, the error log of @pingora-ts/observability on stderr: one line per failed
// request (status, error type, peer), backend health flips, server and connection errors (a
// failure to start is the one line of exitCannotStart above).
new ProxyLogs().enable()
process.stdout.write(`load balancer listening on http://${running.address}
try (each line can be pasted into a shell):
  curl -si -H 'X-User: alice' http://${running.address}/   # always the same origin for alice
  curl -si -H 'X-User: bob' http://${running.address}/
`)
process.once('SIGINT', () => void running.close().then(() => process.exit(0)))
process.once('SIGTERM', () => void running.close(true).then(() => process.exit(0)))
