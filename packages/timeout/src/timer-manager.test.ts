import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import {
  clearFastTimeout,
  defaultTimerManager,
  type FastTimer,
  RESOLUTION_MS,
  setFastTimeout,
  TimerManager,
} from './timer-manager.ts'

beforeEach(() => {
  vi.useFakeTimers({ now: 0 })
})

afterEach(() => {
  vi.useRealTimers()
})

/** Records the fake time at which each named callback ran. */
function recorder() {
  const fired: Array<[string, number]> = []
  const at = (name: string) => () => {
    fired.push([name, Date.now()])
  }
  return { fired, at }
}

describe('TimerManager', () => {
  it('exports a 10 ms default resolution', () => {
    expect(RESOLUTION_MS).toBe(10)
    expect(new TimerManager().resolutionMs).toBe(10)
  })

  it('fires a timer on its deadline and not before', () => {
    const timers = new TimerManager()
    const callback = vi.fn()
    timers.setTimeout(callback, 100)
    vi.advanceTimersByTime(99)
    expect(callback).not.toHaveBeenCalled()
    vi.advanceTimersByTime(1)
    expect(callback).toHaveBeenCalledTimes(1)
  })

  it('rounds a deadline up to the next tick bucket', () => {
    const timers = new TimerManager()
    const callback = vi.fn()
    timers.setTimeout(callback, 15)
    vi.advanceTimersByTime(19)
    expect(callback).not.toHaveBeenCalled()
    vi.advanceTimersByTime(1)
    expect(callback).toHaveBeenCalledTimes(1)
  })

  it('rounds from the creation time when created between ticks while idle', () => {
    vi.advanceTimersByTime(3)
    const timers = new TimerManager()
    const callback = vi.fn()
    timers.setTimeout(callback, 10)
    vi.advanceTimersByTime(16) // t = 19
    expect(callback).not.toHaveBeenCalled()
    vi.advanceTimersByTime(1) // t = 20 = ceil(13 / 10) * 10
    expect(callback).toHaveBeenCalledTimes(1)
  })

  it('fires exactly on the bucket boundary with fake timers', () => {
    const timers = new TimerManager({ resolutionMs: 50 })
    const { fired, at } = recorder()
    timers.setTimeout(at('a'), 120)
    vi.advanceTimersByTime(1_000)
    expect(fired).toEqual([['a', 150]])
  })

  it('registers a timer created while armed at the next tick, never early', () => {
    const timers = new TimerManager()
    timers.setTimeout(() => {}, 1_000)
    vi.advanceTimersByTime(5)
    const callback = vi.fn()
    timers.setTimeout(callback, 10) // registered at t = 10, so due at t = 20
    vi.advanceTimersByTime(14) // t = 19
    expect(callback).not.toHaveBeenCalled()
    vi.advanceTimersByTime(1)
    expect(callback).toHaveBeenCalledTimes(1)
  })

  it('fires timers in deadline order whatever the creation order', () => {
    const timers = new TimerManager()
    const { fired, at } = recorder()
    timers.setTimeout(at('c'), 300)
    timers.setTimeout(at('a'), 100)
    timers.setTimeout(at('b'), 200)
    vi.advanceTimersByTime(300)
    // 'c' armed the manager and got an exact deadline; 'a' and 'b' waited for the tick at 10.
    expect(fired).toEqual([
      ['a', 110],
      ['b', 210],
      ['c', 300],
    ])
  })

  it('fires timers sharing a bucket in creation order', () => {
    const timers = new TimerManager()
    const anchor = timers.setTimeout(() => {}, 1_000)
    const { fired, at } = recorder()
    // Pending until the tick at t = 10, then all due on the tick at t = 30.
    timers.setTimeout(at('first'), 18)
    timers.setTimeout(at('second'), 11)
    timers.setTimeout(at('third'), 20)
    vi.advanceTimersByTime(29)
    expect(fired).toEqual([])
    vi.advanceTimersByTime(1)
    expect(fired.map(([name]) => name)).toEqual(['first', 'second', 'third'])
    expect(fired.every(([, time]) => time === 30)).toBe(true)
    anchor.cancel()
  })

  it('drives many timers sharing a bucket with one Node timer', () => {
    const timers = new TimerManager()
    let count = 0
    for (let i = 0; i < 1_000; i++) timers.setTimeout(() => count++, 1 + (i % 10))
    expect(vi.getTimerCount()).toBe(1)
    expect(timers.size).toBe(1_000)
    vi.advanceTimersByTime(19)
    expect(count).toBe(1) // the one that armed the manager got an exact deadline
    vi.advanceTimersByTime(1)
    expect(count).toBe(1_000)
    expect(timers.size).toBe(0)
  })

  it('does not run a timer cancelled before it fires', () => {
    const timers = new TimerManager()
    const callback = vi.fn()
    const timer = timers.setTimeout(callback, 50)
    vi.advanceTimersByTime(30)
    timer.cancel()
    expect(timers.size).toBe(0)
    vi.advanceTimersByTime(100)
    expect(callback).not.toHaveBeenCalled()
  })

  it('cancels a still-pending timer created while armed', () => {
    const timers = new TimerManager()
    const keep = timers.setTimeout(() => {}, 1_000)
    const callback = vi.fn()
    const timer = timers.setTimeout(callback, 10)
    timers.clearTimeout(timer)
    vi.advanceTimersByTime(100)
    expect(callback).not.toHaveBeenCalled()
    expect(timers.size).toBe(1)
    keep.cancel()
  })

  it('treats cancelling twice, after firing, or undefined as a no-op', () => {
    const timers = new TimerManager()
    const callback = vi.fn()
    const timer = timers.setTimeout(callback, 10)
    const other = timers.setTimeout(() => {}, 100)
    vi.advanceTimersByTime(10)
    timer.cancel()
    timer.cancel()
    timers.clearTimeout(undefined)
    clearFastTimeout(undefined)
    expect(callback).toHaveBeenCalledTimes(1)
    expect(timers.size).toBe(1)
    other.cancel()
    other.cancel()
    expect(timers.size).toBe(0)
  })

  it('pushes the deadline back on refresh', () => {
    const timers = new TimerManager()
    const { fired, at } = recorder()
    const timer = timers.setTimeout(at('idle'), 100)
    vi.advanceTimersByTime(50)
    timer.refresh()
    vi.advanceTimersByTime(99) // t = 149
    expect(fired).toEqual([])
    vi.advanceTimersByTime(500)
    expect(fired).toHaveLength(1)
    const [[, time]] = fired as [[string, number]]
    expect(time).toBeGreaterThanOrEqual(150)
    expect(time).toBeLessThanOrEqual(150 + 2 * RESOLUTION_MS)
  })

  it('never fires a timer that keeps being refreshed, then fires once refreshes stop', () => {
    const timers = new TimerManager()
    const callback = vi.fn()
    const timer = timers.setTimeout(callback, 100)
    for (let i = 0; i < 200; i++) {
      vi.advanceTimersByTime(7)
      timer.refresh()
      timer.refresh()
    }
    expect(callback).not.toHaveBeenCalled()
    expect(timers.size).toBe(1)
    vi.advanceTimersByTime(120)
    expect(callback).toHaveBeenCalledTimes(1)
  })

  it('restarts a timer that already fired when refreshed', () => {
    const timers = new TimerManager()
    const callback = vi.fn()
    const timer = timers.setTimeout(callback, 20)
    vi.advanceTimersByTime(20)
    expect(timer.isActive).toBe(false)
    timer.refresh()
    expect(timer.isActive).toBe(true)
    expect(timers.size).toBe(1)
    vi.advanceTimersByTime(20)
    expect(callback).toHaveBeenCalledTimes(2)
  })

  it('does nothing when a cancelled timer is refreshed', () => {
    const timers = new TimerManager()
    const callback = vi.fn()
    const timer = timers.setTimeout(callback, 20)
    timer.cancel()
    timer.refresh()
    expect(timer.isActive).toBe(false)
    expect(timers.size).toBe(0)
    vi.advanceTimersByTime(100)
    expect(callback).not.toHaveBeenCalled()
  })

  it('reports isActive and timeoutMs', () => {
    const timers = new TimerManager()
    const timer = timers.setTimeout(() => {}, 30)
    expect(timer.timeoutMs).toBe(30)
    expect(timer.isActive).toBe(true)
    vi.advanceTimersByTime(30)
    expect(timer.isActive).toBe(false)
  })

  it('arms no Node timer until a timer is added (lazy arming)', () => {
    const timers = new TimerManager()
    expect(timers.isArmed).toBe(false)
    expect(vi.getTimerCount()).toBe(0)
    const timer = timers.setTimeout(() => {}, 100)
    expect(timers.isArmed).toBe(true)
    expect(vi.getTimerCount()).toBe(1)
    timers.setTimeout(() => {}, 200)
    expect(vi.getTimerCount()).toBe(1)
    timer.cancel()
  })

  it('disarms at the first tick that finds it empty', () => {
    const timers = new TimerManager()
    const timer = timers.setTimeout(() => {}, 100)
    timer.cancel()
    expect(vi.getTimerCount()).toBe(1)
    vi.advanceTimersByTime(10)
    expect(timers.isArmed).toBe(false)
    expect(vi.getTimerCount()).toBe(0)
  })

  it('leaves no Node timer behind once every timer fired', () => {
    const timers = new TimerManager()
    timers.setTimeout(() => {}, 10)
    timers.setTimeout(() => {}, 40)
    vi.advanceTimersByTime(60)
    expect(timers.size).toBe(0)
    expect(timers.isArmed).toBe(false)
    expect(vi.getTimerCount()).toBe(0)
  })

  it('lets a callback cancel another timer due on the same tick', () => {
    const timers = new TimerManager()
    const second = vi.fn()
    let victim: FastTimer | undefined
    timers.setTimeout(() => victim?.cancel(), 10)
    victim = timers.setTimeout(second, 10)
    vi.advanceTimersByTime(100)
    expect(second).not.toHaveBeenCalled()
    expect(timers.size).toBe(0)
  })

  it('runs a zero-delay timer added by a callback on a later tick, not synchronously', () => {
    const timers = new TimerManager()
    const { fired, at } = recorder()
    timers.setTimeout(() => {
      timers.setTimeout(at('inner'), 0)
      fired.push(['outer', Date.now()])
    }, 10)
    vi.advanceTimersByTime(10)
    expect(fired).toEqual([['outer', 10]])
    vi.advanceTimersByTime(10)
    expect(fired).toEqual([
      ['outer', 10],
      ['inner', 20],
    ])
  })

  it('does not fire a zero-delay timer synchronously', () => {
    const timers = new TimerManager()
    const callback = vi.fn()
    timers.setTimeout(callback, 0)
    expect(callback).not.toHaveBeenCalled()
    vi.advanceTimersByTime(10)
    expect(callback).toHaveBeenCalledTimes(1)
  })

  it('supports a periodic timer that refreshes itself', () => {
    const timers = new TimerManager()
    let runs = 0
    const timer = timers.setTimeout(() => {
      runs++
      if (runs < 5) timer.refresh()
    }, 20)
    vi.advanceTimersByTime(1_000)
    expect(runs).toBe(5)
    expect(timers.size).toBe(0)
  })

  it('keeps firing the other due timers after a callback throws', () => {
    const timers = new TimerManager()
    const after = vi.fn()
    timers.setTimeout(() => {
      throw new Error('boom')
    }, 10)
    timers.setTimeout(after, 10)
    expect(() => vi.advanceTimersByTime(10)).toThrow('boom')
    vi.advanceTimersByTime(10)
    expect(after).toHaveBeenCalledTimes(1)
    expect(timers.size).toBe(0)
  })

  it('fires long timers beyond the wheel horizon at their deadline, not at wrap-around', () => {
    const timers = new TimerManager()
    const callback = vi.fn()
    timers.setTimeout(callback, 60_000)
    vi.advanceTimersByTime(59_999)
    expect(callback).not.toHaveBeenCalled()
    vi.advanceTimersByTime(1)
    expect(callback).toHaveBeenCalledTimes(1)
  })

  it('catches up in deadline order after the clock jumps past many ticks', () => {
    let clock = 0
    const timers = new TimerManager({ now: () => clock })
    const order: number[] = []
    for (const ms of [30_000, 50, 7_000, 10]) timers.setTimeout(() => order.push(ms), ms)
    const late = vi.fn()
    timers.setTimeout(late, 40_000)
    clock = 5
    vi.advanceTimersByTime(10) // the tick at clock 5 registers the pending timers
    expect(order).toEqual([])
    clock = 35_000 // the event loop was blocked
    vi.advanceTimersByTime(10)
    expect(order).toEqual([10, 50, 7_000, 30_000])
    expect(late).not.toHaveBeenCalled()
    expect(timers.size).toBe(1)
  })

  it('uses an injected clock and resolution', () => {
    let clock = 1_000
    const timers = new TimerManager({ resolutionMs: 100, now: () => clock })
    const callback = vi.fn()
    timers.setTimeout(callback, 150) // due at ceil(1150 / 100) * 100 = 1200
    clock = 1_199
    vi.advanceTimersByTime(199)
    expect(callback).not.toHaveBeenCalled()
    clock = 1_200
    vi.advanceTimersByTime(1)
    expect(callback).toHaveBeenCalledTimes(1)
  })

  it('never fires early and at most two resolutions late', () => {
    const timers = new TimerManager()
    const late: number[] = []
    let seed = 7
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648
      return seed / 2_147_483_648
    }
    for (let i = 0; i < 300; i++) {
      vi.advanceTimersByTime(Math.floor(random() * 7))
      const ms = Math.floor(random() * 200)
      const start = Date.now()
      timers.setTimeout(() => late.push(Date.now() - start - ms), ms)
    }
    vi.advanceTimersByTime(1_000)
    expect(late).toHaveLength(300)
    expect(Math.min(...late)).toBeGreaterThanOrEqual(0)
    expect(Math.max(...late)).toBeLessThan(2 * RESOLUTION_MS)
  })

  it.each([0, -1, Number.NaN, Number.POSITIVE_INFINITY])(
    'rejects resolutionMs %s with a RangeError',
    (resolutionMs) => {
      expect(() => new TimerManager({ resolutionMs })).toThrow(
        new RangeError(`resolutionMs must be a finite number > 0, got ${resolutionMs}`),
      )
    },
  )

  it('rejects a clock that is not a function with a TypeError', () => {
    expect(() => new TimerManager({ now: 5 as unknown as () => number })).toThrow(
      new TypeError('now must be a function'),
    )
  })

  it.each([-1, Number.NaN, Number.POSITIVE_INFINITY])('rejects ms %s with a RangeError', (ms) => {
    const timers = new TimerManager()
    expect(() => timers.setTimeout(() => {}, ms)).toThrow(
      new RangeError(`ms must be a finite number >= 0, got ${ms}`),
    )
    expect(timers.size).toBe(0)
    expect(timers.isArmed).toBe(false)
  })
})

describe('switching fake timers', () => {
  it('restarts armed timers on the new clock when setTimeout is swapped while armed', () => {
    const timers = new TimerManager()
    const first = vi.fn()
    timers.setTimeout(first, 100) // armed on this fake clock, whose tick is then lost
    vi.useRealTimers()
    vi.useFakeTimers({ now: 0 })
    const second = vi.fn()
    timers.setTimeout(second, 50)
    expect(vi.getTimerCount()).toBe(1)
    vi.advanceTimersByTime(50)
    expect(second).toHaveBeenCalledTimes(1)
    expect(first).not.toHaveBeenCalled()
    vi.advanceTimersByTime(100) // registered at the tick at 10 on the new clock, due at 110
    expect(first).toHaveBeenCalledTimes(1)
    expect(timers.size).toBe(0)
  })
})

describe('setFastTimeout', () => {
  it('runs on the default manager and can be cleared', () => {
    const callback = vi.fn()
    const cleared = vi.fn()
    const timer = setFastTimeout(callback, 25)
    clearFastTimeout(setFastTimeout(cleared, 25))
    expect(timer.isActive).toBe(true)
    expect(defaultTimerManager.size).toBe(1)
    vi.advanceTimersByTime(40)
    expect(callback).toHaveBeenCalledTimes(1)
    expect(cleared).not.toHaveBeenCalled()
    expect(defaultTimerManager.size).toBe(0)
  })
})

describe('the Node timer', () => {
  it('is unref’d so fast timers do not keep the process alive', () => {
    vi.useRealTimers()
    const spy = vi.spyOn(globalThis, 'setTimeout')
    try {
      const timers = new TimerManager()
      const timer = timers.setTimeout(() => {}, 1_000)
      expect(spy).toHaveBeenCalledTimes(1)
      const handle = spy.mock.results[0]?.value as NodeJS.Timeout
      expect(handle.hasRef()).toBe(false)
      timer.cancel()
    } finally {
      spy.mockRestore()
    }
  })
})
