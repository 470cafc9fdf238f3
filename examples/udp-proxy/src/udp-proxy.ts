import { BasicPeer, Server, UdpProxy, type UdpProxySession, UdpService } from '@pingora-ts/core'
import { PingoraError } from '@pingora-ts/error'
import { LoadBalancer, RoundRobin } from '@pingora-ts/load-balancing'

/** How {@link startUdpProxy} runs. */
export interface UdpProxyExampleOptions {
  /** The upstreams (`host:port`, e.g. DNS resolvers), one per client session in round robin. */
  readonly upstreams: readonly string[]
  /** Where to listen (several: IPv4 and IPv6). @defaultValue `['127.0.0.1:0']` */
  readonly listen?: readonly string[]
  /** End a client's session after this long without traffic, in ms. @defaultValue 30 s */
  readonly idleTimeoutMs?: number
  /** Called once per ended session (for the access log). @defaultValue none */
  readonly onLog?: ((line: string) => void) | undefined
}

/** A proxy started by {@link startUdpProxy}. */
export interface RunningUdpProxy {
  /** The bound ports, in the order of `listen`. */
  readonly ports: readonly number[]
  /** The proxy app (its counters). */
  readonly app: UdpProxy
  /**
   * Stops it: at once (closes the sockets and ends every session), or with `graceful` after the
   * connections in flight finish.
   */
  close(graceful?: boolean): Promise<void>
}

/**
 * Starts a UDP proxy (for DNS, syslog, game servers...): each client address gets a session
 * with its own upstream socket on the next upstream of a round-robin `LoadBalancer`, so the
 * answers go back to the right client; sessions end after `idleTimeoutMs` of silence.
 * @param options - upstreams, listen addresses, idle timeout, log sink
 * @throws PingoraError `BindError` when an address cannot be bound
 */
export async function startUdpProxy(options: UdpProxyExampleOptions): Promise<RunningUdpProxy> {
  const upstreams = LoadBalancer.tryFromIter(RoundRobin, options.upstreams)
  const onLog = options.onLog
  const app = new UdpProxy({
    upstreamPeer() {
      const backend = upstreams.select(new Uint8Array(0), 256)
      if (backend === undefined)
        throw PingoraError.explain('ConnectNoRoute', 'no upstream available')
      return new BasicPeer(backend)
    },
    logging(session: UdpProxySession, error: PingoraError | undefined) {
      onLog?.(
        `${session.clientAddr.address}:${session.clientAddr.port} -> ${session.peer?.toString() ?? '-'} ` +
          `in=${session.datagramsFromClient} out=${session.datagramsToClient} dropped=${session.droppedDatagrams}` +
          (error === undefined ? '' : ` error=${error.type}`),
      )
    },
    idleTimeoutMs: options.idleTimeoutMs ?? 30_000,
  })
  const server = new Server()
  server.bootstrap()
  const service = new UdpService('udp proxy', app)
  for (const address of options.listen ?? ['127.0.0.1:0']) service.addUdp(address)
  server.addService(service)
  await server.start()
  return {
    ports: service.listeningAddresses().map((address) => address.port),
    app,
    close: (graceful = false) => server.shutdown({ graceful }),
  }
}
