import cluster from 'node:cluster'
import { closeSync } from 'node:fs'
import type net from 'node:net'
import type { ServerAddress } from './server-address.ts'

/**
 * The environment variable that hands listening sockets to a new process during an upgrade:
 * a JSON list of `[address key, fd]` pairs. Set by the old process, read (and removed) once by
 * the new one.
 */
export const LISTEN_FDS_ENV = 'PINGORA_LISTEN_FDS'

/**
 * The environment variable that gives worker processes (`threads` > 1) the listening sockets
 * their primary inherited in an upgrade: the same JSON list, with the primary's descriptor
 * numbers. A worker listens on `{ fd }` and `node:cluster` opens that descriptor in the primary
 * and shares it, so the worker never closes these numbers itself (they are not its own).
 */
export const PRIMARY_LISTEN_FDS_ENV = 'PINGORA_PRIMARY_LISTEN_FDS'

/**
 * The listening sockets of this process by address key (Pingora's `Fds` table in
 * `server/transfer_fd/mod.rs`): the ones inherited from an old process, waiting to be used by
 * the endpoint with the same address, and the ones bound here, to hand on at the next upgrade.
 *
 * The key is the address exactly as configured (`tcp:0.0.0.0:6188`, `uds:/run/p.sock`), as
 * Pingora keys its table by the string given to `add_tcp`/`add_uds`.
 */
export class ListenFds {
  readonly #inherited: Map<string, number>
  readonly #bound: Map<string, net.Server>
  readonly #owned: boolean
  #handedOver = false

  /**
   * Creates the table.
   * @param inherited - sockets inherited from an old process, by key
   * @param owned - whether the descriptors are this process's own (`false` in a worker, whose
   *   table names its primary's descriptors: {@link ListenFds.closeUnused} then only forgets them)
   */
  constructor(inherited: Iterable<readonly [string, number]> = [], owned = true) {
    this.#inherited = new Map(inherited)
    this.#bound = new Map()
    this.#owned = owned
  }

  /** Whether this process inherited listening sockets (it is the new side of an upgrade). */
  get hasInherited(): boolean {
    return this.#inherited.size > 0
  }

  /**
   * The inherited sockets no endpoint took yet, as `[key, fd]` pairs (what a primary hands its
   * workers in {@link PRIMARY_LISTEN_FDS_ENV}).
   */
  inheritedEntries(): Array<[string, number]> {
    return [...this.#inherited]
  }

  /**
   * Takes the inherited socket for an address, once.
   * @param key - the address key
   * @returns the fd, or `undefined` when none was inherited for it
   */
  take(key: string): number | undefined {
    const fd = this.#inherited.get(key)
    if (fd !== undefined) this.#inherited.delete(key)
    return fd
  }

  /**
   * Closes the inherited sockets no endpoint took (the new program listens on fewer
   * addresses), so they do not stay open for ever.
   */
  closeUnused(): void {
    if (this.#owned) {
      for (const fd of this.#inherited.values()) {
        try {
          closeSync(fd)
        } catch {
          // Already closed: nothing to release.
        }
      }
    }
    this.#inherited.clear()
  }

  /**
   * Records a listening server, to hand its socket on at the next upgrade.
   * @param key - the address key
   * @param server - the listening server
   */
  record(key: string, server: net.Server): void {
    this.#bound.set(key, server)
    server.once('close', () => {
      if (this.#bound.get(key) === server) this.#bound.delete(key)
    })
  }

  /**
   * Marks the listeners as handed to a successor process (a graceful upgrade): from now on,
   * closing them here leaves their Unix socket files in place, since the successor listens on
   * them.
   */
  handOver(): void {
    this.#handedOver = true
  }

  /** Whether {@link ListenFds.handOver} was called. */
  get handedOver(): boolean {
    return this.#handedOver
  }

  /** The listening sockets to hand to a new process: `[key, fd]` of every open listener. */
  listening(): Array<[string, number]> {
    const out: Array<[string, number]> = []
    for (const [key, server] of this.#bound) {
      const fd = fdOf(server)
      if (fd !== undefined && server.listening) out.push([key, fd])
    }
    return out
  }
}

/**
 * The key of an address in the {@link ListenFds} table.
 * @param address - the configured address
 */
export function addressKey(address: ServerAddress): string {
  return address.kind === 'tcp' ? `tcp:${address.address}` : `uds:${address.path}`
}

/**
 * The fd of a listening server. Node has no public accessor; `_handle.fd` is what `node:cluster`
 * and every fd-passing tool reads (see ADR 0014).
 * @internal
 */
export function fdOf(server: net.Server): number | undefined {
  const fd = (server as unknown as { _handle?: { fd?: unknown } | null })._handle?.fd
  return typeof fd === 'number' && fd >= 0 ? fd : undefined
}

function fromEnvironment(): ListenFds {
  // A worker's table names its primary's descriptors (see PRIMARY_LISTEN_FDS_ENV).
  const primary = cluster.isWorker ? process.env[PRIMARY_LISTEN_FDS_ENV] : undefined
  delete process.env[PRIMARY_LISTEN_FDS_ENV]
  const raw = primary ?? process.env[LISTEN_FDS_ENV]
  if (raw === undefined) return new ListenFds()
  // Read once: a process this one starts must not believe it inherited these too.
  delete process.env[LISTEN_FDS_ENV]
  try {
    const pairs: unknown = JSON.parse(raw)
    if (!Array.isArray(pairs)) return new ListenFds()
    const valid = pairs.filter(
      (pair): pair is [string, number] =>
        Array.isArray(pair) &&
        typeof pair[0] === 'string' &&
        Number.isInteger(pair[1]) &&
        (pair[1] as number) > 2,
    )
    return new ListenFds(valid, primary === undefined)
  } catch {
    return new ListenFds()
  }
}

/** The table of this process: what it inherited at start, what it has bound since. */
export const processListenFds: ListenFds = fromEnvironment()
