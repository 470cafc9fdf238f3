import {
  BasicPeer,
  ListeningService,
  Server,
  TcpProxy,
  type TcpProxySession,
} from '@pingora-ts/core'
import { PingoraError } from '@pingora-ts/error'
import { LoadBalancer, RoundRobin } from '@pingora-ts/load-balancing'

/** How {@link startTcpProxy} runs. */
export interface TcpProxyExampleOptions {
  /** The upstreams (`host:port`), used in round robin. */
  readonly upstreams: readonly string[]
  /** Where to listen. @defaultValue `'127.0.0.1:0'` (a free port) */
  readonly listen?: string
  /** Close a connection once it has been idle this long, in ms. @defaultValue 10 minutes */
  readonly idleTimeoutMs?: number
  /** Called once per finished connection (for the access log). @defaultValue none */
  readonly onLog?: ((line: string) => void) | undefined
}

/** A proxy started by {@link startTcpProxy}. */
export interface RunningTcpProxy {
  /** The port it listens on. */
  readonly port: number
  /**
   * Stops it: at once (closes the listener and every connection), or with `graceful` after the
   * connections in flight finish.
   */
  close(graceful?: boolean): Promise<void>
}

/**
 * Starts a TCP proxy in front of `upstreams`: each new connection goes to the next upstream of
 * a round-robin `LoadBalancer`, bytes are relayed both ways until both sides close, and one
 * access-log line per connection reports the upstream, the byte counts and the duration.
 * @param options - upstreams, listen address, idle timeout, log sink
 * @throws PingoraError `BindError` when the address cannot be bound
 */
export async function startTcpProxy(options: TcpProxyExampleOptions): Promise<RunningTcpProxy> {
  const upstreams = LoadBalancer.tryFromIter(RoundRobin, options.upstreams)
  const onLog = options.onLog
  const proxy = new TcpProxy({
    upstreamPeer() {
      // Round robin ignores the key; a hashing selection would use the client address.
      const backend = upstreams.select(new Uint8Array(0), 256)
      if (backend === undefined) {
        throw PingoraError.explain('ConnectNoRoute', 'no upstream available')
      }
      return new BasicPeer(backend, { connectionTimeoutMs: 5_000 })
    },
    logging(session: TcpProxySession, error: PingoraError | undefined) {
      onLog?.(
        `${session.clientAddr?.address ?? '-'} -> ${session.peer?.toString() ?? '-'} ` +
          `up=${session.bytesFromClient} down=${session.bytesToClient} ` +
          `ms=${Date.now() - session.startedAt}${error === undefined ? '' : ` error=${error.type}`}`,
      )
    },
    idleTimeoutMs: options.idleTimeoutMs ?? 600_000,
  })
  const server = new Server()
  server.bootstrap()
  const service = new ListeningService('tcp proxy', proxy)
  service.addTcp(options.listen ?? '127.0.0.1:0')
  server.addService(service)
  await server.start()
  const [address] = service.listeningAddresses()
  if (address?.kind !== 'tcp') {
    throw PingoraError.internal('BindError', 'the proxy did not bind a TCP address')
  }
  return { port: address.port, close: (graceful = false) => server.shutdown({ graceful }) }
}
