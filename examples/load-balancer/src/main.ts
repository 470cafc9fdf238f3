import { readFileSync } from 'node:fs'
import {
  checkHostPort,
  confField,
  defineConfSection,
  parseCommandLine,
  Server,
} from '@pingora-ts/core'
import type { ResponseHeader } from '@pingora-ts/http'
import { LoadBalancer, RoundRobin } from '@pingora-ts/load-balancing'
import { httpProxyService, type Session } from '@pingora-ts/proxy'
import { LB } from './lb.ts'
import { startLocalOrigin } from './origins.ts'

/** The demo's own section of the `-c` file. */
const LOAD_BALANCER_SECTION = defineConfSection({
  responseVersion: confField.optionalString(
    'when set, every response carries `X-Lb-Version: <value>` (shows which process answered)',
  ),
})

const { opt, values, configuration, sections } = parseCommandLine({
  name: 'load-balancer',
  version: '0.0.0',
  summary: `Round robin over the upstreams (default: two embedded local origins).
Pingora's seed example, exactly:
  load-balancer --upstream 1.1.1.1:443 --upstream 1.0.0.1:443 --tls --sni one.one.one.one --host one.one.one.one`,
  options: {
    listen: {
      type: 'string',
      default: '127.0.0.1:6188',
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
    tls: { type: 'boolean', description: 'connect to the upstreams over TLS' },
    sni: {
      type: 'string',
      valueName: 'NAME',
      description: 'the SNI for TLS upstreams (default: none)',
    },
    ca: {
      type: 'string',
      valueName: 'FILE',
      description: "the CA certificates (PEM) that verify --tls upstreams (default: Node's roots)",
      check: (file) => {
        readFileSync(file)
      },
    },
    host: {
      type: 'string',
      valueName: 'NAME',
      description: 'rewrite the Host header sent upstream',
    },
  },
  sections: { load_balancer: LOAD_BALANCER_SECTION },
})

let upstreamAddrs = values.upstream ?? []
if (upstreamAddrs.length === 0) {
  const origins = await Promise.all([startLocalOrigin('origin-1'), startLocalOrigin('origin-2')])
  upstreamAddrs = origins.map((o) => o.address)
  process.stdout.write(`embedded origins: ${upstreamAddrs.join(', ')}\n`)
}

const server = new Server({ opt, configuration })
server.bootstrap()
const upstreams = LoadBalancer.tryFromIter(RoundRobin, upstreamAddrs)
const options = {
  tls: values.tls === true,
  sni: values.sni ?? '',
  host: values.host,
  ca: values.ca === undefined ? undefined : readFileSync(values.ca, 'utf8'),
}
const responseVersion = sections.load_balancer.responseVersion
const app =
  responseVersion === undefined
    ? new LB(upstreams, options)
    : new (class extends LB {
        responseFilter(_session: Session, upstreamResponse: ResponseHeader) {
          upstreamResponse.insertHeader('X-Lb-Version', responseVersion)
        }
      })(upstreams, options)
const lb = httpProxyService(server.configuration, app)
lb.addTcp(values.listen)
server.addService(lb)
server.runForever()
await server.start()
for (const endpoint of lb.listeningAddresses()) {
  if (endpoint.kind !== 'tcp') continue
  const url = `http://${endpoint.address}/`
  process.stdout.write(`load balancer listening on http://${endpoint.address}\n`)
  process.stdout.write(`try (two requests: the origins alternate):\n  curl -s ${url} ${url}\n`)
}
