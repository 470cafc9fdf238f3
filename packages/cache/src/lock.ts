import type { CacheKey } from './key.ts'

/**
 * How a cache lock ended, as its waiters see it. Port of `pingora-cache::lock::LockStatus`:
 * `Done` (the writer stored the response: look up again), `TransientError` (the writer failed:
 * compete again), `GiveUp` (the response is not cacheable: go to the origin without the
 * cache), `Dangling` (the writer vanished), `WaitTimeout` (this waiter waited too long),
 * `AgeTimeout` (the lock outlived its age limit: compete again).
 */
export type LockStatus =
  | 'Waiting'
  | 'Done'
  | 'TransientError'
  | 'GiveUp'
  | 'Dangling'
  | 'WaitTimeout'
  | 'AgeTimeout'

/** Options for {@link CacheLock}. */
export interface CacheLockOptions {
  /** After this long a lock is considered abandoned and its waiters compete again. @defaultValue `2000` */
  ageTimeoutMs?: number
  /** The most a waiter waits before going to the origin itself; `undefined`: only the age limit. */
  waitTimeoutMs?: number
  /** The most keys locked at once; past it, requests proceed unlocked (as writers). @defaultValue `100000` */
  maxLocks?: number
}

/** The result of {@link CacheLock.lock}: the right to fill the key, or a lock to wait on. */
export type Locked =
  | { readonly kind: 'write'; readonly permit: WritePermit }
  | { readonly kind: 'read'; readonly lock: ReadLock }

// One held lock: its waiters are resolved together when the writer releases it.
class LockEntry {
  status: LockStatus
  readonly #waiters: ((status: LockStatus) => void)[]
  readonly createdAt: number
  ageTimer: NodeJS.Timeout | undefined

  constructor(createdAt: number) {
    this.status = 'Waiting'
    this.#waiters = []
    this.createdAt = createdAt
    this.ageTimer = undefined
  }

  addWaiter(wake: (status: LockStatus) => void): void {
    this.#waiters.push(wake)
  }

  removeWaiter(wake: (status: LockStatus) => void): void {
    const index = this.#waiters.indexOf(wake)
    if (index >= 0) this.#waiters.splice(index, 1)
  }

  settle(status: LockStatus): void {
    if (this.status !== 'Waiting') return
    this.status = status
    if (this.ageTimer !== undefined) clearTimeout(this.ageTimer)
    for (const wake of this.#waiters.splice(0)) wake(status)
  }

  get waiters(): number {
    return this.#waiters.length
  }
}

/**
 * The right to fill a key, held by the one request that goes to the origin. Release it exactly
 * once with the outcome; releasing again is a no-op.
 */
export class WritePermit {
  readonly #lock: CacheLock
  readonly #hash: string
  readonly #entry: LockEntry | undefined

  /** @internal */
  constructor(lock: CacheLock, hash: string, entry: LockEntry | undefined) {
    this.#lock = lock
    this.#hash = hash
    this.#entry = entry
  }

  /** Whether the permit was already released (or the lock timed out). */
  get released(): boolean {
    return this.#entry === undefined || this.#entry.status !== 'Waiting'
  }

  /**
   * Releases the lock, waking every waiter with `status`.
   * @param status - the outcome (`Done`, `TransientError`, `GiveUp`...)
   */
  release(status: Exclude<LockStatus, 'Waiting'>): void {
    if (this.#entry === undefined) return
    this.#lock.releaseEntry(this.#hash, this.#entry, status)
  }
}

/** A lock held by another request; {@link ReadLock.wait} resolves when it is released. */
export class ReadLock {
  readonly #entry: LockEntry
  readonly #waitTimeoutMs: number | undefined

  /** @internal */
  constructor(entry: LockEntry, waitTimeoutMs: number | undefined) {
    this.#entry = entry
    this.#waitTimeoutMs = waitTimeoutMs
  }

  /** Resolves with how the lock ended for this waiter (never rejects). */
  wait(): Promise<LockStatus> {
    const entry = this.#entry
    if (entry.status !== 'Waiting') return Promise.resolve(entry.status)
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined
      const wake = (status: LockStatus) => {
        if (timer !== undefined) clearTimeout(timer)
        resolve(status)
      }
      entry.addWaiter(wake)
      if (this.#waitTimeoutMs !== undefined) {
        timer = setTimeout(() => {
          entry.removeWaiter(wake)
          resolve('WaitTimeout')
        }, this.#waitTimeoutMs)
      }
    })
  }
}

/**
 * Makes one request fill a cold (or expired) key while the others wait, so a burst of
 * requests for the same key reaches the origin once. Port of `pingora-cache::lock::CacheLock`.
 *
 * A lock older than `ageTimeoutMs` is released as `AgeTimeout` (its writer is presumed stuck)
 * and its waiters compete for a new one; a waiter may also give up after `waitTimeoutMs`. The
 * number of keys locked at once is bounded by `maxLocks`.
 */
export class CacheLock {
  readonly #locks: Map<string, LockEntry>
  readonly #ageTimeoutMs: number
  readonly #waitTimeoutMs: number | undefined
  readonly #maxLocks: number

  /**
   * Creates a lock table.
   * @param options - timeouts and bound
   */
  constructor(options: CacheLockOptions = {}) {
    this.#locks = new Map()
    this.#ageTimeoutMs = options.ageTimeoutMs ?? 2000
    this.#waitTimeoutMs = options.waitTimeoutMs
    this.#maxLocks = options.maxLocks ?? 100_000
  }

  /** How many keys are locked now. */
  get size(): number {
    return this.#locks.size
  }

  /**
   * Takes the write lock of a key, or returns the lock to wait on when another request holds it.
   * @param key - the key (its combined hash is locked)
   */
  lock(key: CacheKey): Locked {
    const hash = key.combinedHash()
    const existing = this.#locks.get(hash)
    if (existing !== undefined && existing.status === 'Waiting') {
      return { kind: 'read', lock: new ReadLock(existing, this.#waitTimeoutMs) }
    }
    if (this.#locks.size >= this.#maxLocks) {
      return { kind: 'write', permit: new WritePermit(this, hash, undefined) }
    }
    const entry = new LockEntry(Date.now())
    entry.ageTimer = setTimeout(
      () => this.releaseEntry(hash, entry, 'AgeTimeout'),
      this.#ageTimeoutMs,
    )
    entry.ageTimer.unref?.()
    this.#locks.set(hash, entry)
    return { kind: 'write', permit: new WritePermit(this, hash, entry) }
  }

  /**
   * How many requests wait on a key.
   * @param key - the key
   */
  waiters(key: CacheKey): number {
    return this.#locks.get(key.combinedHash())?.waiters ?? 0
  }

  /** @internal */
  releaseEntry(hash: string, entry: LockEntry, status: LockStatus): void {
    if (this.#locks.get(hash) === entry) this.#locks.delete(hash)
    entry.settle(status)
  }
}
