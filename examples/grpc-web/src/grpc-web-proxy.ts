import { GrpcWeb, HttpPeer, Server } from '@pingora-ts/core'
import { httpProxyService, type ProxyHttp } from '@pingora-ts/proxy'

/**
 * A proxy that bridges gRPC-web to gRPC: HTTP/1.1 (or HTTP/2) clients send
 * `application/grpc-web+proto` requests, the `GrpcWeb` module turns them into gRPC, and the
 * origin is spoken to in HTTP/2 with prior knowledge (h2c); its trailers (`grpc-status`...) come
 * back as the trailer frame at the end of the body.
 * @param upstream - the gRPC origin, `host:port` (cleartext HTTP/2)
 */
export function grpcWebProxy(upstream: string): ProxyHttp<undefined> {
  return {
    newCtx: () => undefined,
    initDownstreamModules(modules) {
      modules.addModule(new GrpcWeb())
    },
    upstreamPeer() {
      const peer = new HttpPeer(upstream, false, '')
      // h2c with prior knowledge: gRPC needs HTTP/2 (and its trailers) upstream.
      peer.options.setHttpVersion(2, 2)
      peer.options.maxH2Streams = 100
      return peer
    },
  }
}

/** A proxy started by {@link startGrpcWebProxy}. */
export interface RunningProxy {
  /** The port it listens on. */
  readonly port: number
  /**
   * Stops it: closes the listener and every connection.
   * @param graceful - let requests in flight finish (HTTP/2 clients get GOAWAY)
   */
  close(graceful?: boolean): Promise<void>
}

/**
 * Starts the gRPC-web proxy.
 * @param upstream - the gRPC origin, `host:port`
 * @param listen - where to listen; port 0 picks a free port @defaultValue `'127.0.0.1:0'`
 */
export async function startGrpcWebProxy(
  upstream: string,
  listen = '127.0.0.1:0',
): Promise<RunningProxy> {
  const server = new Server()
  server.bootstrap()
  // h2c: browsers speak HTTP/1.1 or h2 over TLS; h2c lets curl and tests use HTTP/2 too.
  const service = httpProxyService(server.configuration, grpcWebProxy(upstream), {
    serverOptions: { h2c: true },
  })
  service.addTcp(listen)
  server.addService(service)
  await server.start()
  return {
    port: service.boundAddress().port,
    close: (graceful = false) => server.shutdown({ graceful }),
  }
}
