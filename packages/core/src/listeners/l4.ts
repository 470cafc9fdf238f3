import { chmod, unlink } from 'node:fs/promises'
import net from 'node:net'
import { PingoraError } from '@pingora-ts/error'
import { addressKey, type ListenFds, processListenFds } from './listen-fds.ts'
import {
  formatHostPort,
  type ListeningAddress,
  parseTcpAddress,
  type ServerAddress,
  type TcpSocketOptions,
} from './server-address.ts'

/** The listen backlog of every endpoint unless its options say otherwise (Pingora's value). */
export const LISTENER_BACKLOG = 65535

/**
 * How many times Pingora tries to bind a TCP address that is in use. A normal start does not
 * retry (an address in use fails at once); this is for the graceful upgrade handover, where the
 * old process still holds the address for a moment: pass it as `maxTry` there.
 */
export const TCP_LISTENER_MAX_TRY = 30

/** The pause between two TCP bind attempts, in ms (Pingora's value). */
export const TCP_LISTENER_TRY_STEP_MS = 1000

/** The permission bits of a Unix socket file unless told otherwise. */
export const DEFAULT_UDS_MODE = 0o666

/** How binding retries an address that is in use. */
export interface BindRetryOptions {
  /**
   * How many attempts in total. Only an upgrade handover should retry (with
   * {@link TCP_LISTENER_MAX_TRY}). @defaultValue `1` (an address in use fails at once)
   */
  readonly maxTry?: number
  /** The pause between attempts, in ms. @defaultValue {@link TCP_LISTENER_TRY_STEP_MS} */
  readonly tryStepMs?: number
  /** Aborting it stops retrying (the bind then fails with the last error). */
  readonly signal?: AbortSignal | undefined
}

/** Options of {@link bindServerAddress} beyond retries. */
export interface BindOptions extends BindRetryOptions {
  /**
   * The table of inherited and bound sockets: an inherited socket for the same address is used
   * instead of binding, and the bound socket is recorded for the next upgrade.
   * @defaultValue the process's table
   */
  readonly fds?: ListenFds | undefined
}

const [NODE_MAJOR = 0, NODE_MINOR = 0] = process.versions.node.split('.').map(Number)

/** Whether this Node accepts `reusePort` in `server.listen()` (Node >= 22.12 / 23.1). */
export const REUSE_PORT_SUPPORTED =
  NODE_MAJOR > 23 ||
  (NODE_MAJOR === 23 && NODE_MINOR >= 1) ||
  (NODE_MAJOR === 22 && NODE_MINOR >= 12)

/**
 * Binds a listening socket for `address`: the socket inherited from an old process for the same
 * address when there is one (zero-downtime upgrade), else TCP (retried while the address is in use
 * only when `options.maxTry` asks for it), or a Unix socket after removing a stale file. Port of
 * `pingora-core/src/listeners/l4.rs`.
 * The returned server is listening but has no `connection` listener yet.
 * @param address - where to listen
 * @param options - how to retry a TCP address in use; the socket table
 * @throws PingoraError `BindError` when the address cannot be bound
 */
export async function bindServerAddress(
  address: ServerAddress,
  options: BindOptions = {},
): Promise<net.Server> {
  const fds = options.fds ?? processListenFds
  const key = addressKey(address)
  const inherited = fds.take(key)
  const server =
    inherited !== undefined
      ? await listenOnFd(inherited, address)
      : address.kind === 'tcp'
        ? await bindTcp(address.address, address.options, options)
        : await bindUds(address.path, address.mode)
  fds.record(key, server)
  return server
}

async function listenOnFd(fd: number, address: ServerAddress): Promise<net.Server> {
  const options = address.kind === 'tcp' ? address.options : undefined
  const keepalive = options?.tcpKeepalive
  const server =
    address.kind === 'tcp'
      ? net.createServer({
          noDelay: true,
          keepAlive: keepalive !== undefined,
          keepAliveInitialDelay: keepalive?.idleMs ?? 0,
        })
      : net.createServer()
  try {
    // listen() on an inherited listening socket calls listen(2) again, which only sets the
    // backlog: pass ours, or Node's default (511) would shrink the queue both processes share.
    await listenFd(server, fd, options?.backlog ?? LISTENER_BACKLOG)
  } catch (error) {
    const where = address.kind === 'tcp' ? address.address : address.path
    throw PingoraError.internal(
      'BindError',
      `Fail to listen on the inherited socket of ${where}`,
      error,
    )
  }
  return server
}

/**
 * Reads back the address a listening server is bound to.
 * @param server - a listening server
 * @param address - the configured address (for Unix sockets, the path)
 */
export function listeningAddressOf(server: net.Server, address: ServerAddress): ListeningAddress {
  const bound = server.address()
  if (bound === null || typeof bound === 'string' || address.kind === 'uds') {
    return { kind: 'uds', path: typeof bound === 'string' ? bound : serverPath(address) }
  }
  return {
    kind: 'tcp',
    host: bound.address,
    port: bound.port,
    family: bound.family,
    address: formatHostPort(bound.address, bound.port),
  }
}

function serverPath(address: ServerAddress): string {
  return address.kind === 'uds' ? address.path : address.address
}

async function bindTcp(
  address: string,
  options: TcpSocketOptions | undefined,
  retry: BindRetryOptions,
): Promise<net.Server> {
  const { host, port } = parseTcpAddress(address)
  if (options?.reusePort === true && !REUSE_PORT_SUPPORTED) {
    throw PingoraError.internal(
      'BindError',
      `Fail to bind to ${address}: reusePort needs Node.js >= 22.12, this is ${process.version}`,
    )
  }
  const maxTry = retry.maxTry ?? 1
  const stepMs = retry.tryStepMs ?? TCP_LISTENER_TRY_STEP_MS
  const listenOptions: net.ListenOptions & { reusePort?: boolean } = {
    host,
    port,
    backlog: options?.backlog ?? LISTENER_BACKLOG,
    ipv6Only: options?.ipv6Only ?? false,
  }
  if (options?.reusePort === true) listenOptions.reusePort = true
  const keepalive = options?.tcpKeepalive
  for (let attempt = 1; ; attempt++) {
    // A fresh server per attempt: a server whose listen() failed is not reusable.
    const server = net.createServer({
      noDelay: true,
      keepAlive: keepalive !== undefined,
      keepAliveInitialDelay: keepalive?.idleMs ?? 0,
    })
    try {
      await listen(server, listenOptions)
      return server
    } catch (error) {
      const inUse = (error as NodeJS.ErrnoException).code === 'EADDRINUSE'
      if (!inUse || attempt >= maxTry || retry.signal?.aborted === true) {
        throw PingoraError.internal('BindError', `Fail to bind to ${address}`, error)
      }
      await delay(stepMs, retry.signal)
    }
  }
}

async function bindUds(path: string, mode: number | undefined): Promise<net.Server> {
  // A previous process may have left its socket file behind; bind() would fail with
  // EADDRINUSE on it (unlink(2): the file must be deleted by whoever created it).
  try {
    await unlink(path)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw PingoraError.internal('BindError', `Fail to bind to ${path}: cannot remove it`, error)
    }
  }
  const server = net.createServer()
  try {
    await listen(server, { path, backlog: LISTENER_BACKLOG })
  } catch (error) {
    throw PingoraError.internal('BindError', `Fail to bind to ${path}`, error)
  }
  try {
    await chmod(path, mode ?? DEFAULT_UDS_MODE)
  } catch (error) {
    server.close()
    throw PingoraError.internal(
      'BindError',
      `Fail to bind to ${path}, could not set permissions`,
      error,
    )
  }
  return server
}

function listenFd(server: net.Server, fd: number, backlog: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    // `listen({ fd }, backlog)`: with a handle object Node takes the backlog only positionally.
    server.listen({ fd }, backlog, () => {
      server.off('error', reject)
      resolve()
    })
  })
}

function listen(server: net.Server, options: net.ListenOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => {
      server.off('listening', onListening)
      reject(error)
    }
    const onListening = (): void => {
      server.off('error', onError)
      resolve()
    }
    server.once('error', onError)
    server.once('listening', onListening)
    server.listen(options)
  })
}

function delay(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) {
      resolve()
      return
    }
    const onAbort = (): void => {
      clearTimeout(timer)
      resolve()
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}
