// Pingora's `load_balancer.rs` in our API, exactly the program of the proxy issue with only the
// imports added. It is type-checked with the example; it is not run by the tests because it
// proxies to 1.1.1.1 and 1.0.0.1 (the test machines have no internet). `src/main.ts` is the same
// program with flags: `--upstream 1.1.1.1:443 --upstream 1.0.0.1:443 --tls --sni
// one.one.one.one --host one.one.one.one` reproduces this file.
import { HttpPeer, Server } from '@pingora-ts/core'
import { ErrorType, PingoraError } from '@pingora-ts/error'
import type { RequestHeader } from '@pingora-ts/http'
import { LoadBalancer, RoundRobin } from '@pingora-ts/load-balancing'
import { httpProxyService, type ProxyHttp, type Session } from '@pingora-ts/proxy'

class LB implements ProxyHttp<void> {
  readonly upstreams: LoadBalancer<RoundRobin>
  constructor(upstreams: LoadBalancer<RoundRobin>) { this.upstreams = upstreams }
  newCtx() {}
  upstreamPeer(session: Session) {
    const upstream = this.upstreams.select(Buffer.alloc(0), 256) // hash doesn't matter for round robin
    if (!upstream) throw PingoraError.explain(ErrorType.HTTPStatus(502), 'no healthy upstream')
    // Set SNI to one.one.one.one
    return new HttpPeer(upstream, true, 'one.one.one.one')
  }
  upstreamRequestFilter(session: Session, upstreamRequest: RequestHeader) {
    upstreamRequest.insertHeader('Host', 'one.one.one.one')
  }
}
const server = new Server()
server.bootstrap()
const upstreams = LoadBalancer.tryFromIter(RoundRobin, ['1.1.1.1:443', '1.0.0.1:443'])
const lb = httpProxyService(server.configuration, new LB(upstreams))
lb.addTcp('127.0.0.1:6188')
server.addService(lb)
server.runForever()
