import net from 'node:net'
import { PingoraError } from '@pingora-ts/error'
import { type FastTimer, setFastTimeout } from '@pingora-ts/timeout'
import type { SocketReadSink } from '../protocols/l4/socket-read-sink.ts'
import type { Stream } from '../protocols/l4/stream.ts'
import type { Peer } from '../upstreams/peer.ts'
import type { BindTo } from '../upstreams/peer-options.ts'

/**
 * Picks the local address for a new connection: the peer's own `bindTo` when set, else a
 * random address of the peer's family from the connector's lists (Pingora's
 * `bind_to_random`). Host-name peers (family unknown until resolved) and Unix peers get
 * `undefined` unless the peer sets `bindTo`.
 * @internal
 */
export function bindToRandom(
  peer: Peer,
  v4: readonly string[],
  v6: readonly string[],
  random: () => number = Math.random,
): BindTo | undefined {
  const own = peer.options.bindTo
  if (own !== undefined) return own
  const address = peer.address
  if (address.kind !== 'inet') return undefined
  const list = address.family === 4 ? v4 : address.family === 6 ? v6 : undefined
  if (list === undefined || list.length === 0) return undefined
  const pick = list.length === 1 ? list[0] : list[Math.floor(random() * list.length)]
  return pick === undefined ? undefined : { address: pick, port: 0 }
}

/**
 * Opens a TCP or Unix socket connection to the peer, within `timeoutMs` (the peer's
 * `connectionTimeoutMs` or the connector's default). Port of
 * `pingora-core/src/connectors/l4.rs`'s `connect`.
 * @param peer - where to connect
 * @param bindTo - the local address to bind to, if any
 * @param signal - aborting it destroys the socket and rejects with the signal's reason
 * @param sink - read the TCP socket through this `onread` sink instead of `data` events
 * @param timeoutMs - the connect timeout @defaultValue the peer's `connectionTimeoutMs`
 * @throws PingoraError (source `'upstream'`) `ConnectTimedout`, `ConnectRefused`,
 *   `ConnectNoRoute`, `ConnectError`, or `InternalError` for local bind failures
 * @internal
 */
export function connectL4(
  peer: Peer,
  bindTo: BindTo | undefined,
  signal?: AbortSignal,
  sink?: SocketReadSink,
  timeoutMs: number | undefined = peer.options.connectionTimeoutMs,
): Promise<net.Socket> {
  return new Promise<net.Socket>((resolve, reject) => {
    const address = peer.address
    let socket: net.Socket
    try {
      if (address.kind === 'unix') {
        socket = net.connect({ path: address.path })
      } else {
        const options: net.TcpNetConnectOpts = { host: address.host, port: address.port }
        if (sink !== undefined) options.onread = sink.onread
        if (bindTo !== undefined) {
          options.localAddress = bindTo.address
          if (bindTo.port !== undefined && bindTo.port !== 0) options.localPort = bindTo.port
        }
        const keepalive = peer.options.tcpKeepalive
        if (keepalive !== undefined) {
          options.keepAlive = true
          options.keepAliveInitialDelay = keepalive.idleMs
        }
        socket = net.connect(options)
      }
    } catch (error) {
      // Synchronous failures (e.g. an invalid local address) come from our own settings.
      reject(
        new PingoraError('InternalError', {
          source: 'internal',
          context: `preparing a connection to ${peer.toString()}`,
          cause: error,
        }),
      )
      return
    }
    let timer: FastTimer | undefined
    const cleanup = (): void => {
      if (timer !== undefined) timer.cancel()
      socket.off('connect', onConnect)
      socket.off('error', onError)
      signal?.removeEventListener('abort', onAbort)
    }
    const onConnect = (): void => {
      cleanup()
      // Until a Stream takes the socket over (a few microtasks later), an error must not
      // become an uncaught exception; the Stream then sees the socket destroyed.
      socket.on('error', parkErrors)
      resolve(socket)
    }
    const onError = (error: NodeJS.ErrnoException): void => {
      cleanup()
      socket.destroy()
      reject(mapConnectError(error, peer))
    }
    const onTimeout = (): void => {
      cleanup()
      socket.destroy()
      reject(
        new PingoraError('ConnectTimedout', {
          source: 'upstream',
          context: `timeout ${timeoutMs}ms connecting to server ${peer.toString()}`,
        }),
      )
    }
    const onAbort = (): void => {
      cleanup()
      socket.destroy()
      reject((signal as AbortSignal).reason)
    }
    socket.once('connect', onConnect)
    socket.once('error', onError)
    if (timeoutMs !== undefined) timer = setFastTimeout(onTimeout, timeoutMs)
    if (signal !== undefined) {
      if (signal.aborted) onAbort()
      else signal.addEventListener('abort', onAbort, { once: true })
    }
  })
}

/**
 * An `error` listener that keeps a freshly connected socket from throwing until its
 * {@link Stream} installs its own listeners; remove it once the stream exists.
 * @internal
 */
export function parkErrors(): void {}

/**
 * Maps an OS connect error to a `PingoraError` the way Pingora's `wrap_os_connect_error` does.
 * @internal
 */
export function mapConnectError(error: NodeJS.ErrnoException, peer: Peer): PingoraError {
  const context = `Fail to connect to ${peer.toString()}`
  if (error.syscall === 'bind') return bindFailure(error, context)
  switch (error.code) {
    case 'ECONNREFUSED':
      return new PingoraError('ConnectRefused', { source: 'upstream', context, cause: error })
    case 'ETIMEDOUT':
      return new PingoraError('ConnectTimedout', { source: 'upstream', context, cause: error })
    case 'ENETUNREACH':
    case 'EHOSTUNREACH':
      return new PingoraError('ConnectNoRoute', { source: 'upstream', context, cause: error })
    case 'EADDRNOTAVAIL':
    case 'EADDRINUSE':
    case 'EACCES':
    case 'EPERM':
      // Local resource problems (source address, ports, permissions), not the peer's fault.
      return bindFailure(error, context)
    default:
      return new PingoraError('ConnectError', { source: 'upstream', context, cause: error })
  }
}

function bindFailure(error: Error, context: string): PingoraError {
  return new PingoraError('InternalError', {
    source: 'internal',
    context,
    cause: new PingoraError('BindError', { source: 'internal', context, cause: error }),
  })
}
