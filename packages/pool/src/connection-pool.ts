import { defaultTimerManager, type FastTimer, type TimerManager } from '@pingora-ts/timeout'

/** The default bound on idle connections across all groups of a {@link ConnectionPool}. */
export const DEFAULT_POOL_SIZE = 128

/** Identifies a pooled connection. Port of `pingora-pool`'s `ConnectionMeta`. */
export interface ConnectionMeta {
  /** The group (reuse hash): connections with the same key are interchangeable. */
  readonly key: string | number | bigint
  /** The unique id of this connection (a socket's fd in Pingora; any unique number here). */
  readonly id: number
}

/** Why an idle connection left the pool without being handed out by {@link ConnectionPool.get}. */
export type DropReason =
  /** The pool was full: the least recently used idle connection made room. */
  | 'evicted'
  /** The remote closed it, or it failed, while idle. */
  | 'closed'
  /** Bytes arrived while nobody was waiting for any: the connection can no longer be trusted. */
  | 'unexpected-data'
  /** It stayed idle longer than its `idleTimeoutMs`. */
  | 'idle-timeout'
  /** Another connection was put with the same id. */
  | 'replaced'
  /** {@link ConnectionPool.clear} emptied the pool. */
  | 'cleared'

/** What an idle watcher reports: the connection must leave the pool. */
export type IdleProblem = 'closed' | 'unexpected-data'

/**
 * Starts watching an idle connection; calls `onProblem` (at most once is enough) when the
 * remote closes it or it receives unexpected bytes, and returns a function that stops watching.
 * {@link watchSocket} is the one for `node:net`/`node:tls` sockets.
 */
export type IdleWatch<T> = (connection: T, onProblem: (problem: IdleProblem) => void) => () => void

/** Options for {@link ConnectionPool}'s constructor. */
export interface ConnectionPoolOptions<T> {
  /**
   * Maximum number of idle connections across all groups; the least recently used one is
   * evicted to make room.
   * @defaultValue {@link DEFAULT_POOL_SIZE} (128)
   */
  size?: number
  /**
   * Watches each idle connection for a remote close or unexpected bytes (for sockets:
   * {@link watchSocket}). Without it, the connector must call {@link ConnectionPool.remove}
   * itself when an idle connection breaks.
   */
  watch?: IdleWatch<T>
  /**
   * Receives every connection that leaves the pool other than through `get`/`remove`, so it
   * can be closed. Called synchronously; it should not throw.
   */
  onDrop?: (connection: T, reason: DropReason, meta: ConnectionMeta) => void
  /**
   * Idle timeout applied when `put` gives none; `undefined` means no timeout.
   * @defaultValue `undefined`
   */
  idleTimeoutMs?: number
  /**
   * The coarse timers used for idle timeouts.
   * @defaultValue `defaultTimerManager` from `@pingora-ts/timeout`
   */
  timerManager?: TimerManager
}

/** Options for {@link ConnectionPool.put}. */
export interface PutOptions {
  /**
   * Drop the connection once it has been idle this long (rounded up to the timer resolution).
   * @defaultValue the pool's `idleTimeoutMs`
   */
  idleTimeoutMs?: number
}

/** Counters returned by {@link ConnectionPool.stats}. */
export interface PoolStats {
  /** Idle connections in the pool now. */
  idle: number
  /** `get` calls that returned a connection. */
  hits: number
  /** `get` calls that found none. */
  misses: number
  /** Connections evicted to respect the size bound. */
  evictions: number
  /** Connections dropped because the remote closed them or sent unexpected bytes while idle. */
  closedWhileIdle: number
  /** Connections dropped by their idle timeout. */
  idleTimeouts: number
}

/*
 * Every idle connection is one Entry on two intrusive circular doubly linked lists:
 *
 *   LRU (all groups)   sentinel ⇄ newest ⇄ … ⇄ oldest ⇄ sentinel      evict: sentinel.lruPrev
 *   group "a"          sentinel ⇄ top ⇄ … ⇄ bottom ⇄ sentinel          get:   sentinel.groupNext
 *   group "b"          sentinel ⇄ top ⇄ … ⇄ sentinel
 *
 * plus `byId` (id → Entry) for remove and replace, and `groups` (key → Group). Put, get,
 * remove and evict are O(1): a few pointer writes and one or two Map operations. A group whose
 * last entry leaves is deleted from `groups` at once.
 */
class Entry<T> {
  // `declare`d fields are set once in the constructor (no define-as-undefined first): one
  // Entry is allocated per put.
  declare readonly meta: ConnectionMeta
  declare connection: T | undefined
  declare readonly group: Group<T> | undefined
  declare timer: FastTimer | undefined
  declare unwatch: (() => void) | undefined
  /** False once the entry has left the pool (got, removed or dropped). */
  declare live: boolean
  declare lruPrev: Entry<T>
  declare lruNext: Entry<T>
  declare groupPrev: Entry<T>
  declare groupNext: Entry<T>

  constructor(meta: ConnectionMeta, connection: T | undefined, group: Group<T> | undefined) {
    this.meta = meta
    this.connection = connection
    this.group = group
    this.timer = undefined
    this.unwatch = undefined
    this.live = true
    this.lruPrev = this
    this.lruNext = this
    this.groupPrev = this
    this.groupNext = this
  }
}

class Group<T> {
  readonly key: ConnectionMeta['key']
  readonly head: Entry<T>
  size: number

  constructor(key: ConnectionMeta['key']) {
    this.key = key
    this.head = new Entry<T>(SENTINEL_META, undefined, undefined)
    this.size = 0
  }
}

const SENTINEL_META: ConnectionMeta = { key: '', id: -1 }

function validateTimeout(idleTimeoutMs: number | undefined, name: string): void {
  if (
    idleTimeoutMs !== undefined &&
    (!(idleTimeoutMs >= 0) || idleTimeoutMs === Number.POSITIVE_INFINITY)
  ) {
    throw new RangeError(`${name} must be a finite number >= 0, got ${String(idleTimeoutMs)}`)
  }
}

/**
 * A bounded pool of idle connections grouped by reuse key. Port of
 * `pingora-pool/src/connection.rs` and `lru.rs`.
 *
 * - {@link ConnectionPool.get} hands out the most recently returned connection of a group
 *   (hot first, LIFO) and stops watching it.
 * - {@link ConnectionPool.put} adds an idle connection; once `size` connections are idle, the
 *   least recently put one in any group is evicted and given to `onDrop`.
 * - An idle connection that the remote closes, that receives unexpected bytes (reported by the
 *   `watch` option) or whose idle timeout passes leaves the pool at once, is never handed out,
 *   and is given to `onDrop`.
 *
 * @example
 * ```ts
 * const pool = new ConnectionPool<Socket>({
 *   size: 128,
 *   watch: watchSocket,
 *   onDrop: (socket) => socket.destroy(),
 * })
 * pool.put({ key: peer.reuseHash(), id: socketId }, socket, { idleTimeoutMs: 60_000 })
 * const reused = pool.get(peer.reuseHash()) // Socket | undefined
 * ```
 */
export class ConnectionPool<T> {
  /** The bound on idle connections across all groups. */
  readonly size: number
  readonly #watch: IdleWatch<T> | undefined
  readonly #onDrop: ((connection: T, reason: DropReason, meta: ConnectionMeta) => void) | undefined
  readonly #idleTimeoutMs: number | undefined
  readonly #timerManager: TimerManager
  readonly #groups: Map<ConnectionMeta['key'], Group<T>>
  readonly #byId: Map<number, Entry<T>>
  readonly #lru: Entry<T>
  #hits: number
  #misses: number
  #evictions: number
  #closedWhileIdle: number
  #idleTimeouts: number

  /**
   * Creates an empty pool.
   * @param options - size bound, idle watcher, drop callback and default idle timeout
   * @throws RangeError when `size` is not a positive integer or `idleTimeoutMs` is invalid
   * @throws TypeError when `watch` or `onDrop` is not a function
   */
  constructor(options: ConnectionPoolOptions<T> = {}) {
    const size = options.size ?? DEFAULT_POOL_SIZE
    if (!Number.isSafeInteger(size) || size < 1) {
      throw new RangeError(`size must be a positive integer, got ${String(options.size)}`)
    }
    if (options.watch !== undefined && typeof options.watch !== 'function') {
      throw new TypeError('watch must be a function')
    }
    if (options.onDrop !== undefined && typeof options.onDrop !== 'function') {
      throw new TypeError('onDrop must be a function')
    }
    validateTimeout(options.idleTimeoutMs, 'idleTimeoutMs')
    this.size = size
    this.#watch = options.watch
    this.#onDrop = options.onDrop
    this.#idleTimeoutMs = options.idleTimeoutMs
    this.#timerManager = options.timerManager ?? defaultTimerManager
    this.#groups = new Map()
    this.#byId = new Map()
    this.#lru = new Entry<T>(SENTINEL_META, undefined, undefined)
    this.#hits = 0
    this.#misses = 0
    this.#evictions = 0
    this.#closedWhileIdle = 0
    this.#idleTimeouts = 0
  }

  /** Number of idle connections in the pool. */
  get idle(): number {
    return this.#byId.size
  }

  /**
   * The keys of the groups that hold idle connections, oldest group first. A group is dropped
   * as soon as its last connection leaves, so this never grows with keys seen in the past.
   */
  groupKeys(): ConnectionMeta['key'][] {
    return [...this.#groups.keys()]
  }

  /**
   * Takes the most recently returned idle connection of group `key` out of the pool (LIFO),
   * stopping its watcher and idle timer. O(1).
   * @param key - the group (reuse hash)
   * @returns the connection, or `undefined` when the group has none
   */
  get(key: ConnectionMeta['key']): T | undefined {
    const group = this.#groups.get(key)
    if (group === undefined) {
      this.#misses++
      return undefined
    }
    // A group in the map always holds at least one entry.
    const entry = group.head.groupNext
    this.#hits++
    return this.#take(entry)
  }

  /**
   * Adds an idle connection to the pool under `meta.key`. Starts the idle watcher and the
   * idle timeout, then evicts the least recently used connection if the pool is over its size.
   * Putting an id that is already pooled replaces that entry (the old connection, when it is a
   * different object, goes to `onDrop` with reason `'replaced'`). O(1).
   * @param meta - the group key and the connection's unique id
   * @param connection - the idle connection
   * @param options - the idle timeout
   * @throws RangeError when `idleTimeoutMs` is negative, NaN or infinite
   */
  put(meta: ConnectionMeta, connection: T, options?: PutOptions): void {
    const idleTimeoutMs = options?.idleTimeoutMs ?? this.#idleTimeoutMs
    if (options?.idleTimeoutMs !== undefined) validateTimeout(idleTimeoutMs, 'idleTimeoutMs')
    const previous = this.#byId.get(meta.id)
    if (previous !== undefined) {
      const old = this.#take(previous)
      if (old !== connection) this.#drop(previous.meta, old as T, 'replaced')
    }
    let group = this.#groups.get(meta.key)
    if (group === undefined) {
      group = new Group<T>(meta.key)
      this.#groups.set(meta.key, group)
    }
    const entry = new Entry<T>(meta, connection, group)
    linkGroupTop(group.head, entry)
    group.size++
    linkLruHead(this.#lru, entry)
    this.#byId.set(meta.id, entry)

    if (idleTimeoutMs !== undefined) {
      entry.timer = this.#timerManager.setTimeout(() => this.#expire(entry), idleTimeoutMs)
    }
    const watch = this.#watch
    if (watch !== undefined) {
      // The watcher may report a problem synchronously (the socket is already closed).
      const unwatch = watch(connection, (problem) => this.#problem(entry, problem))
      if (entry.live) entry.unwatch = unwatch
      else unwatch()
    }
    if (entry.live && this.#byId.size > this.size) {
      const victim = this.#lru.lruPrev
      this.#evictions++
      this.#drop(victim.meta, this.#take(victim) as T, 'evicted')
    }
  }

  /**
   * Takes a specific idle connection out of the pool without calling `onDrop`: for connectors
   * that watch idle connections themselves and saw this one close. O(1).
   * @param meta - the connection's id (its key is not needed)
   * @returns the connection, or `undefined` when it is not in the pool
   */
  remove(meta: Pick<ConnectionMeta, 'id'>): T | undefined {
    const entry = this.#byId.get(meta.id)
    return entry === undefined ? undefined : this.#take(entry)
  }

  /** Drops every idle connection (reason `'cleared'`), for shutdown. */
  clear(): void {
    let entry = this.#lru.lruNext
    while (entry !== this.#lru) {
      const next = entry.lruNext
      this.#drop(entry.meta, this.#take(entry) as T, 'cleared')
      entry = next
    }
  }

  /** The pool's counters (a new object each call). */
  stats(): PoolStats {
    return {
      idle: this.#byId.size,
      hits: this.#hits,
      misses: this.#misses,
      evictions: this.#evictions,
      closedWhileIdle: this.#closedWhileIdle,
      idleTimeouts: this.#idleTimeouts,
    }
  }

  /** Unlinks a live entry everywhere, stops its timer and watcher, returns its connection. */
  #take(entry: Entry<T>): T | undefined {
    entry.live = false
    unlinkLru(entry)
    unlinkGroup(entry)
    const group = entry.group as Group<T>
    if (--group.size === 0) this.#groups.delete(group.key)
    this.#byId.delete(entry.meta.id)
    const timer = entry.timer
    if (timer !== undefined) {
      timer.cancel()
      entry.timer = undefined
    }
    const unwatch = entry.unwatch
    if (unwatch !== undefined) {
      entry.unwatch = undefined
      unwatch()
    }
    const connection = entry.connection
    entry.connection = undefined
    return connection
  }

  #drop(meta: ConnectionMeta, connection: T, reason: DropReason): void {
    const onDrop = this.#onDrop
    if (onDrop !== undefined) onDrop(connection, reason, meta)
  }

  #expire(entry: Entry<T>): void {
    if (!entry.live) return
    entry.timer = undefined
    this.#idleTimeouts++
    this.#drop(entry.meta, this.#take(entry) as T, 'idle-timeout')
  }

  #problem(entry: Entry<T>, problem: IdleProblem): void {
    if (!entry.live) return
    this.#closedWhileIdle++
    this.#drop(entry.meta, this.#take(entry) as T, problem)
  }
}

function linkLruHead<T>(head: Entry<T>, entry: Entry<T>): void {
  const first = head.lruNext
  entry.lruPrev = head
  entry.lruNext = first
  first.lruPrev = entry
  head.lruNext = entry
}

function unlinkLru<T>(entry: Entry<T>): void {
  entry.lruPrev.lruNext = entry.lruNext
  entry.lruNext.lruPrev = entry.lruPrev
  entry.lruPrev = entry
  entry.lruNext = entry
}

function linkGroupTop<T>(head: Entry<T>, entry: Entry<T>): void {
  const first = head.groupNext
  entry.groupPrev = head
  entry.groupNext = first
  first.groupPrev = entry
  head.groupNext = entry
}

function unlinkGroup<T>(entry: Entry<T>): void {
  entry.groupPrev.groupNext = entry.groupNext
  entry.groupNext.groupPrev = entry.groupPrev
  entry.groupPrev = entry
  entry.groupNext = entry
}
