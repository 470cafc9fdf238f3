import { parseArgs } from 'node:util'
import { Server } from '@pingora-ts/core'
import { LoadBalancer, RoundRobin } from '@pingora-ts/load-balancing'
import { httpProxyService } from '@pingora-ts/proxy'
import { LB } from './lb.ts'
import { startLocalOrigin } from './origins.ts'

const USAGE = `usage: load-balancer [--listen ADDR] [--upstream HOST:PORT ...] [--tls] [--sni NAME] [--host NAME]
  --listen ADDR        where to listen (default 127.0.0.1:6188; port 0 picks a free one)
  --upstream HOST:PORT an upstream, repeatable (default: two embedded local origins)
  --tls                connect to the upstreams over TLS
  --sni NAME           the SNI and certificate name for TLS upstreams
  --host NAME          rewrite the Host header sent upstream
Pingora's seed example, exactly:
  load-balancer --upstream 1.1.1.1:443 --upstream 1.0.0.1:443 --tls --sni one.one.one.one --host one.one.one.one
`

const { values } = parseArgs({
  options: {
    listen: { type: 'string', default: '127.0.0.1:6188' },
    upstream: { type: 'string', multiple: true },
    tls: { type: 'boolean', default: false },
    sni: { type: 'string', default: '' },
    host: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
})
if (values.help) {
  process.stdout.write(USAGE)
  process.exit(0)
}

let upstreamAddrs = values.upstream ?? []
if (upstreamAddrs.length === 0) {
  const origins = await Promise.all([startLocalOrigin('origin-1'), startLocalOrigin('origin-2')])
  upstreamAddrs = origins.map((o) => o.address)
  process.stdout.write(`embedded origins: ${upstreamAddrs.join(', ')}\n`)
}

const server = new Server()
server.bootstrap()
const upstreams = LoadBalancer.tryFromIter(RoundRobin, upstreamAddrs)
const lb = httpProxyService(
  server.configuration,
  new LB(upstreams, { tls: values.tls, sni: values.sni, host: values.host }),
)
lb.addTcp(values.listen)
server.addService(lb)
server.runForever()
await server.start()
for (const endpoint of lb.listeningAddresses()) {
  if (endpoint.kind !== 'tcp') continue
  process.stdout.write(`load balancer listening on http://${endpoint.address}\n`)
  process.stdout.write(
    `try: curl -s http://${endpoint.address}/ (run it twice: the origins alternate)\n`,
  )
}
