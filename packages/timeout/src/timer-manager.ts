/**
 * Coarse shared timers: many logical timers, one Node timer. Port of the design of
 * `pingora-timeout/src/timer.rs` (and undici's `lib/util/timers.js`), in our own code.
 *
 * ```
 *                 one unref'd Node timer, re-armed every tick while timers exist
 *                                     │
 *   setTimeout() ──► pending ─────────┤ at the next tick: deadline = ceil((now + ms) / res)
 *   refresh()    ──►   list           ▼
 *                      wheel[deadline & mask]   (WHEEL_SIZE circular lists, one per tick)
 *                      ┌────┬────┬────┬────┬────┐
 *                      │ s0 │ s1 │ s2 │ .. │ sN │   a slot holds every timer due on that tick,
 *                      └────┴────┴────┴────┴────┘   plus far timers waiting for a later round
 *                                     │ swept each tick: due timers → firing list → callbacks
 * ```
 *
 * Why a pending list: reading a clock costs about as much as a whole `setTimeout` +
 * `clearTimeout` pair, so creating, refreshing and cancelling a timer never reads one. A new
 * timer waits on the pending list and is given its deadline by the next tick, which reads the
 * clock once for every timer created since the previous tick. The deadline is then computed
 * from a time no earlier than the timer's creation, so a timer never fires early; it fires at
 * most about two resolutions late (one to be registered, one from rounding up to a tick).
 *
 * Every list is circular and doubly linked through the timers themselves (no arrays, no Map,
 * no closure per operation), so create, cancel and refresh are O(1) and refresh allocates
 * nothing.
 */

/** The default tick length of a {@link TimerManager}, in milliseconds (pingora-timeout's value). */
export const RESOLUTION_MS = 10

/** Number of slots in the wheel; a power of two so `tick & WHEEL_MASK` picks the slot. */
const WHEEL_SIZE = 512
const WHEEL_MASK = WHEEL_SIZE - 1

// Timer states. Plain numbers keep FastTimer monomorphic and the checks to one compare.
/** Fired, or never scheduled: `refresh()` schedules it again. */
const STATE_IDLE = 0
/** Waiting for the next tick to get its deadline. */
const STATE_PENDING = 1
/** In a wheel slot with a deadline. */
const STATE_ACTIVE = 2
/** Due: in the firing list, its callback about to run. */
const STATE_FIRING = 3
/** Cancelled: never runs again. */
const STATE_CANCELLED = 4
/** List head, never a real timer. */
const STATE_SENTINEL = 5

function noop(): void {}

/** @internal throws the RangeError every API taking a delay uses. */
export function validateMs(ms: number): void {
  // One comparison rejects NaN and negatives; Infinity would break the tick arithmetic.
  if (!(ms >= 0) || ms === Number.POSITIVE_INFINITY) {
    throw new RangeError(`ms must be a finite number >= 0, got ${String(ms)}`)
  }
}

/**
 * A handle on one coarse timer from {@link TimerManager.setTimeout} or {@link setFastTimeout}.
 *
 * Cancel it with {@link FastTimer.cancel}; push its deadline back with {@link FastTimer.refresh}.
 */
export class FastTimer {
  // Fields are `declare`d and set once in the constructor: a class-field initialiser would
  // define each one as undefined first, which measurably slows this hot allocation.
  /** The delay this timer was created with, in milliseconds. */
  declare readonly timeoutMs: number
  /** @internal the function to run when the timer fires */
  declare _callback: () => void
  /** @internal one of the STATE_* constants */
  declare _state: number
  /** @internal the tick on which the timer fires (valid while active) */
  declare _deadline: number
  /** @internal previous node in the circular list this timer is on (itself when unlinked) */
  declare _prev: FastTimer
  /** @internal next node in the circular list this timer is on (itself when unlinked) */
  declare _next: FastTimer
  /** @internal the manager that owns this timer */
  declare readonly _manager: TimerManager

  /**
   * Creates a timer handle; use {@link TimerManager.setTimeout} instead.
   * @internal
   */
  constructor(manager: TimerManager, callback: () => void, timeoutMs: number, state: number) {
    this.timeoutMs = timeoutMs
    this._callback = callback
    this._state = state
    this._deadline = 0
    this._prev = this
    this._next = this
    this._manager = manager
  }

  /** Whether the timer is scheduled and will still fire (not fired, not cancelled). */
  get isActive(): boolean {
    return (
      this._state === STATE_PENDING || this._state === STATE_ACTIVE || this._state === STATE_FIRING
    )
  }

  /** Cancels the timer: its callback will not run. Cancelling twice, or after it fired, is a no-op. */
  cancel(): void {
    const state = this._state
    if (state === STATE_PENDING || state === STATE_ACTIVE || state === STATE_FIRING) {
      unlink(this)
      this._manager._size--
    }
    if (state !== STATE_SENTINEL) this._state = STATE_CANCELLED
  }

  /**
   * Restarts the countdown: the timer now fires `timeoutMs` after this call (coarsely). O(1) and
   * allocation-free, meant to be called on every chunk for idle/read timeouts. Restarts a timer
   * that already fired; does nothing on a cancelled one.
   */
  refresh(): void {
    const state = this._state
    if (state === STATE_PENDING) return
    const manager = this._manager
    if (state === STATE_ACTIVE || state === STATE_FIRING) {
      unlink(this)
      manager._schedule(this)
    } else if (state === STATE_IDLE) {
      manager._size++
      manager._schedule(this)
    }
  }
}

function unlink(node: FastTimer): void {
  const prev = node._prev
  const next = node._next
  prev._next = next
  next._prev = prev
  node._prev = node
  node._next = node
}

/** Appends `node` at the tail of the circular list headed by `head`. */
function linkBefore(head: FastTimer, node: FastTimer): void {
  const tail = head._prev
  node._prev = tail
  node._next = head
  tail._next = node
  head._prev = node
}

function sentinel(manager: TimerManager): FastTimer {
  return new FastTimer(manager, noop, 0, STATE_SENTINEL)
}

/** Options for {@link TimerManager}'s constructor. */
export interface TimerManagerOptions {
  /**
   * Tick length in milliseconds: deadlines are rounded up to a multiple of it.
   * @defaultValue {@link RESOLUTION_MS} (10)
   */
  resolutionMs?: number
  /**
   * Monotonic clock in milliseconds, read once per tick (never per timer).
   * @defaultValue `() => performance.now()`
   */
  now?: () => number
}

function defaultNow(): number {
  // Looked up at call time so `vi.useFakeTimers()` installed later still applies.
  return performance.now()
}

/**
 * A set of coarse timers driven by one lazily armed, unref'd Node timer. Port of
 * `pingora-timeout/src/timer.rs`'s `TimerManager`.
 *
 * Deadlines are rounded up to the next tick of `resolutionMs`; all timers due on the same
 * tick share one wake-up. The Node timer is armed when the first timer is added and is not
 * re-armed by a tick that finds no timers left. Because it is unref'd, pending fast timers do
 * not keep the process alive.
 *
 * @example
 * ```ts
 * const timers = new TimerManager({ resolutionMs: 10 })
 * const idle = timers.setTimeout(() => socket.destroy(), 60_000)
 * socket.on('data', () => idle.refresh())
 * socket.on('close', () => idle.cancel())
 * ```
 */
export class TimerManager {
  /** The tick length in milliseconds. */
  readonly resolutionMs: number
  /** @internal number of live timers (pending, active or firing) */
  _size: number
  /** @internal head of the list of timers waiting for a deadline */
  readonly _pending: FastTimer
  /** @internal head of the list of due timers whose callbacks are running */
  readonly #firing: FastTimer
  readonly #wheel: FastTimer[]
  readonly #now: () => number
  /** Last tick whose slot was swept. */
  #tick: number
  #armed: boolean
  /** The global `setTimeout` the current arming used; a change means fake timers came or went. */
  #scheduler: typeof setTimeout | undefined
  /** Identifies the current arming, so a tick scheduled before a re-base is ignored. */
  #armToken: number
  readonly #onTick: (token: number) => void

  /**
   * Creates a timer manager.
   * @param options - resolution and clock
   * @throws RangeError when `resolutionMs` is not a positive finite number
   */
  constructor(options: TimerManagerOptions = {}) {
    const resolutionMs = options.resolutionMs ?? RESOLUTION_MS
    if (!(resolutionMs > 0) || resolutionMs === Number.POSITIVE_INFINITY) {
      throw new RangeError(
        `resolutionMs must be a finite number > 0, got ${String(options.resolutionMs)}`,
      )
    }
    if (options.now !== undefined && typeof options.now !== 'function') {
      throw new TypeError('now must be a function')
    }
    this.resolutionMs = resolutionMs
    this.#now = options.now ?? defaultNow
    this._size = 0
    this._pending = sentinel(this)
    this.#firing = sentinel(this)
    this.#wheel = new Array<FastTimer>(WHEEL_SIZE)
    for (let i = 0; i < WHEEL_SIZE; i++) this.#wheel[i] = sentinel(this)
    this.#tick = 0
    this.#armed = false
    this.#scheduler = undefined
    this.#armToken = 0
    this.#onTick = (token) => {
      if (token === this.#armToken) this.#runTick()
    }
  }

  /** Number of timers that will still fire (not fired, not cancelled). */
  get size(): number {
    return this._size
  }

  /** Whether the manager's Node timer is currently armed. */
  get isArmed(): boolean {
    return this.#armed
  }

  /**
   * Runs `callback` once, no earlier than `ms` from now and about one to two resolutions later
   * at most. O(1), reads no clock while the manager is armed.
   * @param callback - what to run; it should not throw (a throw surfaces as an uncaught
   *   exception, as it would from a Node timer)
   * @param ms - the delay in milliseconds
   * @throws RangeError when `ms` is negative, NaN or infinite
   */
  setTimeout(callback: () => void, ms: number): FastTimer {
    validateMs(ms)
    const timer = new FastTimer(this, callback, ms, STATE_PENDING)
    this._size++
    if (this.#armed && this.#scheduler === globalThis.setTimeout) linkBefore(this._pending, timer)
    else this._schedule(timer)
    return timer
  }

  /**
   * Cancels a timer from this manager (same as `timer.cancel()`); `undefined` is ignored.
   * @param timer - the timer to cancel
   */
  clearTimeout(timer: FastTimer | undefined): void {
    if (timer !== undefined) timer.cancel()
  }

  /** @internal puts a counted timer on the pending list, or straight into the wheel when idle */
  _schedule(timer: FastTimer): void {
    if (this.#armed) {
      if (this.#scheduler === globalThis.setTimeout) {
        timer._state = STATE_PENDING
        linkBefore(this._pending, timer)
        return
      }
      this.#rebase()
    }
    // Idle: the wheel is empty, so the clock must be read to arm anyway; use it to give this
    // timer an exact deadline right now instead of waiting for a tick.
    const now = this.#now()
    const resolutionMs = this.resolutionMs
    this.#tick = Math.floor(now / resolutionMs)
    this.#insert(timer, Math.ceil((now + timer.timeoutMs) / resolutionMs))
    this.#arm(now)
  }

  #insert(timer: FastTimer, deadline: number): void {
    // Never into a slot already swept (deadline <= tick): it would wait a whole wheel round.
    const due = deadline > this.#tick ? deadline : this.#tick + 1
    timer._deadline = due
    timer._state = STATE_ACTIVE
    linkBefore(this.#wheel[due & WHEEL_MASK] as FastTimer, timer)
  }

  /**
   * The global `setTimeout` changed while armed (`vi.useFakeTimers()`/`useRealTimers()`), so
   * the armed tick may never run and the clock may have jumped: restart the countdown of every
   * timer from the next tick on the new clock. Never happens in production.
   */
  #rebase(): void {
    const pending = this._pending
    const firing = this.#firing
    while (firing._next !== firing) {
      const node = firing._next
      unlink(node)
      node._state = STATE_PENDING
      linkBefore(pending, node)
    }
    for (let i = 0; i < WHEEL_SIZE; i++) {
      const head = this.#wheel[i] as FastTimer
      while (head._next !== head) {
        const node = head._next
        unlink(node)
        node._state = STATE_PENDING
        linkBefore(pending, node)
      }
    }
    this.#armed = false
  }

  #arm(now: number): void {
    this.#armed = true
    this.#scheduler = globalThis.setTimeout
    // Wake on the next tick boundary (at least 1 ms away, Node's own minimum).
    const delay = Math.max(1, (this.#tick + 1) * this.resolutionMs - now)
    const handle = setTimeout(this.#onTick, delay, ++this.#armToken)
    if (typeof handle === 'object' && typeof handle.unref === 'function') handle.unref()
  }

  #runTick(): void {
    const now = this.#now()
    const resolutionMs = this.resolutionMs
    const target = Math.floor(now / resolutionMs)
    const firing = this.#firing
    // 1. Sweep every slot from the last swept tick to now (one whole round at most).
    if (target > this.#tick) {
      const last = Math.min(target, this.#tick + WHEEL_SIZE)
      for (let t = this.#tick + 1; t <= last; t++) {
        const head = this.#wheel[t & WHEEL_MASK] as FastTimer
        let node = head._next
        while (node !== head) {
          const next = node._next
          if (node._deadline <= target) {
            unlink(node)
            node._state = STATE_FIRING
            linkBefore(firing, node)
          }
          node = next
        }
      }
      this.#tick = target
    }
    // 2. Give pending timers their deadline, counted from now (no earlier than their creation).
    const pending = this._pending
    let node = pending._next
    while (node !== pending) {
      const next = node._next
      unlink(node)
      const deadline = Math.ceil((now + node.timeoutMs) / resolutionMs)
      if (deadline <= target) {
        node._state = STATE_FIRING
        linkBefore(firing, node)
      } else {
        this.#insert(node, deadline)
      }
      node = next
    }
    // 3. Run due callbacks. A callback may cancel or refresh a timer still on the firing list
    // (it is unlinked like from any list) or add timers (they go to the pending list).
    try {
      let timer = firing._next
      while (timer !== firing) {
        unlink(timer)
        timer._state = STATE_IDLE
        this._size--
        const callback = timer._callback
        callback()
        timer = firing._next
      }
    } finally {
      // Re-arm while timers remain (including due ones left behind by a throwing callback).
      if (this._size > 0) this.#arm(now)
      else this.#armed = false
    }
  }
}

/** The manager behind {@link setFastTimeout}, {@link timeout} and {@link sleep}. */
export const defaultTimerManager: TimerManager = new TimerManager()

/**
 * Runs `callback` once after about `ms` on the {@link defaultTimerManager}: coarse (rounded up
 * to {@link RESOLUTION_MS}), never early, far cheaper than `setTimeout`.
 * @param callback - what to run
 * @param ms - the delay in milliseconds
 * @throws RangeError when `ms` is negative, NaN or infinite
 */
export function setFastTimeout(callback: () => void, ms: number): FastTimer {
  return defaultTimerManager.setTimeout(callback, ms)
}

/**
 * Cancels a timer from {@link setFastTimeout} (same as `timer.cancel()`); `undefined` is ignored.
 * @param timer - the timer to cancel
 */
export function clearFastTimeout(timer: FastTimer | undefined): void {
  if (timer !== undefined) timer.cancel()
}
