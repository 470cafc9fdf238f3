import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { parseArgs } from 'node:util'
import { startHealthCheckedLb } from './start.ts'

const USAGE = `usage: health-checked-lb [--listen ADDR] [--upstream HOST:PORT ...] [--check tcp|http]
                         [--health-path PATH] [--interval-ms N] [--hash-header NAME]
  --listen ADDR         where to listen (default 127.0.0.1:6188; port 0 picks a free one)
  --upstream HOST:PORT  an upstream, repeatable (default: three embedded local origins)
  --check tcp|http      health check: TCP connect, or GET --health-path answering 200 (default http)
  --health-path PATH    the path the HTTP health check requests (default /health)
  --interval-ms N       how often each upstream is checked (default 1000)
  --hash-header NAME    the request header hashed to pick the upstream (default x-user);
                        requests without it are hashed by client IP address
`

const { values } = parseArgs({
  options: {
    listen: { type: 'string', default: '127.0.0.1:6188' },
    upstream: { type: 'string', multiple: true },
    check: { type: 'string', default: 'http' },
    'health-path': { type: 'string', default: '/health' },
    'interval-ms': { type: 'string', default: '1000' },
    'hash-header': { type: 'string', default: 'x-user' },
    help: { type: 'boolean', short: 'h', default: false },
  },
})
if (values.help) {
  process.stdout.write(USAGE)
  process.exit(0)
}
if (values.check !== 'tcp' && values.check !== 'http') {
  process.stderr.write(USAGE)
  process.exit(2)
}

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
  healthCheck: values.check,
  healthPath: values['health-path'],
  healthCheckFrequencyMs: Number(values['interval-ms']),
  hashHeader: values['hash-header'],
  onHealthChange: (backend, healthy) => {
    process.stdout.write(`upstream ${backend.addr} is ${healthy ? 'healthy' : 'unhealthy'}\n`)
  },
})
process.stdout.write(`load balancer listening on http://${running.address}\n`)
process.once('SIGINT', () => {
  void running.close().then(() => process.exit(0))
})
