import cluster from 'node:cluster'
import { statSync, unlinkSync } from 'node:fs'
import { chmod, rename, unlink } from 'node:fs/promises'
import net from 'node:net'
import { basename, dirname, join } from 'node:path'
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
      ? await listenOnFd(inherited, address, fds)
      : address.kind === 'tcp'
        ? await bindTcp(address.address, address.options, options)
        : await bindUds(address.path, address.mode, fds)
  fds.record(key, server)
  return server
}

async function listenOnFd(fd: number, address: ServerAddress, fds: ListenFds): Promise<net.Server> {
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
  if (address.kind === 'uds') removeUdsOnClose(server, address.path, fds)
  return server
}

/**
 * Reads back the address a listening server is bound to.
 * @param server - a listening server
 * @param address - the configured address (for Unix sockets, the path)
 */
export function listeningAddressOf(server: net.Server, address: ServerAddress): ListeningAddress {
  const bound = server.address()
  // A Unix socket is bound under a temporary name and renamed: report the configured path.
  if (bound === null || typeof bound === 'string' || address.kind === 'uds') {
    return { kind: 'uds', path: serverPath(address) }
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

/** The longest Unix socket path the kernel takes (`sun_path` is 108 bytes with its NUL). */
const MAX_UDS_PATH_BYTES = 107

/**
 * Binds a Unix socket so that its path never disappears, not even for a moment: the socket is
 * bound under a temporary name in the same directory, given its mode, then renamed onto the real
 * path (rename(2) is atomic and replaces a stale file left by an earlier process). libuv removes
 * a socket's file when the server that bound it closes; since it knows only the temporary name,
 * an upgrade's old process closing its listener never removes the file its successor listens on.
 * The file is removed explicitly when the server closes outside an upgrade
 * ({@link removeUdsOnClose}).
 *
 * In a worker process (`threads` > 1) the primary binds the socket once for all workers
 * (`node:cluster` shares it by address): the temporary name carries the primary's pid so every
 * worker asks for the same one, and only the first to get there renames it.
 */
async function bindUds(
  path: string,
  mode: number | undefined,
  fds: ListenFds,
): Promise<net.Server> {
  const worker = cluster.isWorker
  const temporary = temporaryUdsPath(path, worker ? process.ppid : process.pid)
  const bindPath = temporary ?? path
  // Without a temporary name (the path is too long for one) a stale file must go before bind.
  // A worker never removes anything: the primary's socket may already be there.
  if (!worker) {
    try {
      await unlink(bindPath)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw PingoraError.internal('BindError', `Fail to bind to ${path}: cannot remove it`, error)
      }
    }
  }
  const server = net.createServer()
  try {
    await listen(server, { path: bindPath, backlog: LISTENER_BACKLOG })
  } catch (error) {
    throw PingoraError.internal('BindError', `Fail to bind to ${path}`, error)
  }
  try {
    await chmod(bindPath, mode ?? DEFAULT_UDS_MODE)
    if (temporary !== undefined) await rename(temporary, path)
  } catch (error) {
    // Another worker renamed the primary's shared socket first: it is in place already.
    const renamedByOtherWorker =
      worker && (error as NodeJS.ErrnoException).code === 'ENOENT' && isSocket(path)
    if (!renamedByOtherWorker) {
      server.close()
      throw PingoraError.internal(
        'BindError',
        `Fail to bind to ${path}, could not set permissions or move it into place`,
        error,
      )
    }
  }
  removeUdsOnClose(server, path, fds)
  return server
}

function temporaryUdsPath(path: string, pid: number): string | undefined {
  const directory = dirname(path)
  for (const name of [`.${basename(path)}.${pid}`, `.${pid}`]) {
    const candidate = join(directory, name)
    if (Buffer.byteLength(candidate) <= MAX_UDS_PATH_BYTES) return candidate
  }
  return undefined
}

function isSocket(path: string): boolean {
  try {
    return statSync(path).isSocket()
  } catch {
    return false
  }
}

/** What {@link closeListener} does after closing a server, by server. */
const cleanups = new WeakMap<net.Server, () => void>()

/**
 * Arranges for a Unix socket's file to be removed when {@link closeListener} closes its server,
 * unless the process handed its listeners to a successor (which listens on that file now) or
 * another process has put its own socket there since (a different inode). Worker processes leave
 * the file: their siblings may still listen on it, and the next bind replaces a stale file
 * atomically.
 */
function removeUdsOnClose(server: net.Server, path: string, fds: ListenFds): void {
  if (cluster.isWorker) return
  let bound: { dev: number; ino: number }
  try {
    bound = statSync(path)
  } catch {
    return
  }
  cleanups.set(server, () => {
    if (fds.handedOver) return
    try {
      const now = statSync(path)
      if (now.ino === bound.ino && now.dev === bound.dev) unlinkSync(path)
    } catch {
      // Already gone.
    }
  })
}

/**
 * Stops a server returned by {@link bindServerAddress} from listening (connections already
 * accepted are not touched) and, for a Unix socket, removes its file at once (unless the
 * listeners were handed to a successor), so a client gets "no such file" rather than a refused
 * connection while this process drains.
 * @param server - the listening server
 */
export function closeListener(server: net.Server): void {
  if (server.listening) server.close()
  const cleanup = cleanups.get(server)
  if (cleanup === undefined) return
  cleanups.delete(server)
  cleanup()
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
