import { readFileSync } from 'node:fs'
import {
  checkHostPort,
  confField,
  defineConfSection,
  parseCommandLine,
  Server,
  TlsSettings,
} from '@pingora-ts/core'
import { startNamedOrigin } from '@pingora-ts/example-origins'
import type { ResponseHeader } from '@pingora-ts/http'
import { LoadBalancer, RoundRobin } from '@pingora-ts/load-balancing'
import { ProxyLogs } from '@pingora-ts/observability'
import { httpProxyService, type Session } from '@pingora-ts/proxy'
import { LB } from './lb.ts'

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
    h2c: {
      type: 'boolean',
      description: 'accept HTTP/2 with prior knowledge (h2c) beside HTTP/1.1 on the listener',
    },
    'tls-cert': {
      type: 'string',
      valueName: 'FILE',
      description: 'terminate TLS with this PEM certificate (ALPN h2 and http/1.1)',
    },
    'tls-key': {
      type: 'string',
      valueName: 'FILE',
      description: 'the PEM private key of --tls-cert',
    },
    'h2-engine': {
      type: 'string',
      valueName: 'ENGINE',
      description:
        "downstream HTTP/2 engine: 'native' (pingora-ts's own, the default) or 'node' (node:http2)",
      check: (value) => {
        if (value !== 'node' && value !== 'native') throw new Error("must be 'node' or 'native'")
      },
    },
    'upstream-h2': {
      type: 'boolean',
      description: 'speak HTTP/2 to the upstreams: h2c with prior knowledge, or ALPN h2 with --tls',
    },
  },
  sections: { load_balancer: LOAD_BALANCER_SECTION },
})

const tlsCert = values['tls-cert']
const tlsKey = values['tls-key']
if ((tlsCert === undefined) !== (tlsKey === undefined)) {
  process.stderr.write('load-balancer: --tls-cert and --tls-key go together\n')
  process.exit(2)
}
const upstreamH2 = values['upstream-h2'] === true

let upstreamAddrs = values.upstream ?? []
if (upstreamAddrs.length === 0) {
  // With --upstream-h2 the embedded origins speak h2c (there is no TLS to negotiate it).
  const h2c = upstreamH2 && values.tls !== true
  const origins = await Promise.all([
    startNamedOrigin('origin-1', h2c),
    startNamedOrigin('origin-2', h2c),
  ])
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
  upstreamH2,
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
const h2Engine = values['h2-engine'] === 'node' ? 'node' : 'native'
const lb = httpProxyService(
  server.configuration,
  app,
  values.h2c === true || h2Engine !== 'native'
    ? { serverOptions: { h2c: values.h2c === true, h2: { engine: h2Engine } } }
    : {},
)
if (tlsCert !== undefined && tlsKey !== undefined) {
  const settings = TlsSettings.intermediate(tlsCert, tlsKey)
  settings.enableH2() // ALPN: h2, http/1.1
  lb.addTlsWithSettings(values.listen, undefined, settings)
} else {
  lb.addTcp(values.listen)
}
server.addService(lb)
server.runForever()
await server.start()
// From here on, the error log of @pingora-ts/observability on stderr: one line per failed
// request (status, error type, peer), backend health flips, server and connection errors (a
// failure to start is the one line above).
new ProxyLogs().enable()
for (const endpoint of lb.listeningAddresses()) {
  if (endpoint.kind !== 'tcp') continue
  const scheme = tlsCert === undefined ? 'http' : 'https'
  const url = `${scheme}://${endpoint.address}/`
  const curl = tlsCert === undefined ? 'curl -s' : 'curl -sk'
  process.stdout.write(`load balancer listening on ${url.slice(0, -1)}\n`)
  process.stdout.write(`try (two requests: the origins alternate):\n  ${curl} ${url} ${url}\n`)
}
