import { TimerManager } from '@pingora-ts/timeout'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import {
  type ConnectionMeta,
  ConnectionPool,
  type ConnectionPoolOptions,
  DEFAULT_POOL_SIZE,
  type DropReason,
  type IdleProblem,
} from './connection-pool.ts'

/** A stand-in connection: plain data, the pool never looks inside. */
interface Conn {
  readonly name: string
}

/** An idle watcher the test drives by hand, recording what is watched. */
function manualWatcher() {
  const reporters = new Map<Conn, (problem: IdleProblem) => void>()
  const unwatched: Conn[] = []
  const watch = (connection: Conn, onProblem: (problem: IdleProblem) => void) => {
    reporters.set(connection, onProblem)
    return () => {
      reporters.delete(connection)
      unwatched.push(connection)
    }
  }
  const report = (connection: Conn, problem: IdleProblem) => {
    const reporter = reporters.get(connection)
    if (reporter === undefined) throw new Error(`${connection.name} is not watched`)
    reporter(problem)
  }
  return { watch, report, reporters, unwatched }
}

function setup(options: Omit<ConnectionPoolOptions<Conn>, 'onDrop'> = {}) {
  const dropped: Array<[string, DropReason, ConnectionMeta]> = []
  const pool = new ConnectionPool<Conn>({
    ...options,
    onDrop: (connection, reason, meta) => dropped.push([connection.name, reason, meta]),
  })
  return { pool, dropped }
}

const conn = (name: string): Conn => ({ name })
let nextId = 1
const meta = (key: ConnectionMeta['key']): ConnectionMeta => ({ key, id: nextId++ })

describe('ConnectionPool get/put', () => {
  it('returns undefined and counts a miss for an unknown key', () => {
    const { pool } = setup()
    expect(pool.get('nope')).toBeUndefined()
    expect(pool.stats().misses).toBe(1)
    expect(pool.stats().hits).toBe(0)
  })

  it('reuses an idle connection with the same key and counts a hit', () => {
    const { pool } = setup()
    const a = conn('a')
    pool.put(meta('k'), a)
    expect(pool.idle).toBe(1)
    expect(pool.get('k')).toBe(a)
    expect(pool.idle).toBe(0)
    expect(pool.stats().hits).toBe(1)
  })

  it('hands out the most recently returned connection first (LIFO)', () => {
    const { pool } = setup()
    for (const name of ['a', 'b', 'c']) pool.put(meta('k'), conn(name))
    expect(pool.get('k')?.name).toBe('c')
    expect(pool.get('k')?.name).toBe('b')
    expect(pool.get('k')?.name).toBe('a')
    expect(pool.get('k')).toBeUndefined()
  })

  it('keeps groups isolated from each other', () => {
    const { pool } = setup()
    pool.put(meta('x'), conn('x1'))
    pool.put(meta('y'), conn('y1'))
    pool.put(meta('x'), conn('x2'))
    expect(pool.get('y')?.name).toBe('y1')
    expect(pool.get('y')).toBeUndefined()
    expect(pool.get('x')?.name).toBe('x2')
    expect(pool.get('x')?.name).toBe('x1')
  })

  it('treats string, number and bigint keys as different groups', () => {
    const { pool } = setup()
    pool.put(meta('1'), conn('string'))
    pool.put(meta(1), conn('number'))
    pool.put(meta(1n), conn('bigint'))
    expect(pool.get(1n)?.name).toBe('bigint')
    expect(pool.get(1)?.name).toBe('number')
    expect(pool.get('1')?.name).toBe('string')
  })

  it('hands a connection out again after it is put back', () => {
    const { pool } = setup()
    const a = conn('a')
    const m = meta('k')
    pool.put(m, a)
    expect(pool.get('k')).toBe(a)
    pool.put(m, a)
    expect(pool.get('k')).toBe(a)
    expect(pool.stats().hits).toBe(2)
  })

  it('garbage-collects a group once its last connection leaves', () => {
    const { pool } = setup({ size: 2 })
    pool.put(meta('a'), conn('a'))
    pool.put(meta('b'), conn('b'))
    expect(pool.groupKeys()).toEqual(['a', 'b'])
    pool.get('a')
    expect(pool.groupKeys()).toEqual(['b'])
    pool.put(meta('c'), conn('c'))
    pool.put(meta('d'), conn('d')) // evicts b, the last of its group
    expect(pool.groupKeys()).toEqual(['c', 'd'])
  })

  it('replaces a connection put again under the same id and drops the old one', () => {
    const { pool, dropped } = setup()
    const m = meta('k')
    pool.put(m, conn('old'))
    pool.put(m, conn('new'))
    expect(pool.idle).toBe(1)
    expect(dropped).toEqual([['old', 'replaced', m]])
    expect(pool.get('k')?.name).toBe('new')
  })

  it('does not drop a connection put twice under the same id', () => {
    const { pool, dropped } = setup()
    const m = meta('k')
    const a = conn('a')
    pool.put(m, a)
    pool.put(m, a)
    expect(pool.idle).toBe(1)
    expect(dropped).toEqual([])
  })
})

describe('ConnectionPool size bound', () => {
  it('defaults to 128 idle connections', () => {
    const { pool, dropped } = setup()
    expect(pool.size).toBe(DEFAULT_POOL_SIZE)
    expect(DEFAULT_POOL_SIZE).toBe(128)
    for (let i = 0; i < 129; i++) pool.put(meta(`k${i % 7}`), conn(`c${i}`))
    expect(pool.idle).toBe(128)
    expect(dropped.map(([name, reason]) => [name, reason])).toEqual([['c0', 'evicted']])
  })

  it('evicts the least recently used connection across groups and hands it to onDrop', () => {
    const { pool, dropped } = setup({ size: 2 })
    const first = meta('x')
    pool.put(first, conn('x1'))
    pool.put(meta('y'), conn('y1'))
    pool.put(meta('x'), conn('x2'))
    expect(dropped).toEqual([['x1', 'evicted', first]])
    expect(pool.stats().evictions).toBe(1)
    expect(pool.get('x')?.name).toBe('x2')
    expect(pool.get('x')).toBeUndefined()
    expect(pool.get('y')?.name).toBe('y1')
  })

  it('keeps the LRU order when connections are taken out', () => {
    const { pool, dropped } = setup({ size: 2 })
    pool.put(meta('a'), conn('a'))
    pool.put(meta('b'), conn('b'))
    pool.get('b')
    pool.put(meta('c'), conn('c'))
    expect(dropped).toEqual([])
    pool.put(meta('d'), conn('d'))
    expect(dropped.map(([name]) => name)).toEqual(['a'])
  })

  it('stops the watcher and idle timer of an evicted connection', () => {
    const timerManager = new TimerManager()
    const watcher = manualWatcher()
    const { pool } = setup({ size: 1, watch: watcher.watch, idleTimeoutMs: 1_000, timerManager })
    const a = conn('a')
    pool.put(meta('k'), a)
    pool.put(meta('k'), conn('b'))
    expect(watcher.unwatched).toEqual([a])
    expect(timerManager.size).toBe(1)
  })

  it('bounds the pool across a thousand keys', () => {
    const { pool, dropped } = setup({ size: 100 })
    for (let i = 0; i < 1_000; i++) pool.put(meta(i), conn(`c${i}`))
    expect(pool.idle).toBe(100)
    expect(pool.stats().evictions).toBe(900)
    expect(dropped[0]?.[0]).toBe('c0')
    expect(dropped.at(-1)?.[0]).toBe('c899')
    expect(pool.get(899)).toBeUndefined()
    expect(pool.get(900)?.name).toBe('c900')
  })

  it.each([0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])(
    'rejects size %s with a RangeError',
    (size) => {
      expect(() => new ConnectionPool({ size })).toThrow(
        new RangeError(`size must be a positive integer, got ${size}`),
      )
    },
  )
})

describe('ConnectionPool idle timeout', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 0 })
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('drops a connection idle longer than its timeout', () => {
    const timerManager = new TimerManager()
    const { pool, dropped } = setup({ timerManager })
    const m = meta('k')
    pool.put(m, conn('a'), { idleTimeoutMs: 1_000 })
    vi.advanceTimersByTime(999)
    expect(pool.idle).toBe(1)
    vi.advanceTimersByTime(1)
    expect(pool.idle).toBe(0)
    expect(dropped).toEqual([['a', 'idle-timeout', m]])
    expect(pool.stats().idleTimeouts).toBe(1)
    expect(pool.get('k')).toBeUndefined()
  })

  it('uses the pool default timeout unless put gives one', () => {
    const { pool, dropped } = setup({ idleTimeoutMs: 100 })
    pool.put(meta('k'), conn('default'))
    pool.put(meta('k'), conn('long'), { idleTimeoutMs: 10_000 })
    vi.advanceTimersByTime(200)
    expect(dropped.map(([name]) => name)).toEqual(['default'])
    expect(pool.get('k')?.name).toBe('long')
  })

  it('keeps connections forever without any timeout', () => {
    const { pool } = setup()
    pool.put(meta('k'), conn('a'))
    vi.advanceTimersByTime(3_600_000)
    expect(pool.get('k')?.name).toBe('a')
  })

  it('cancels the idle timer when the connection is handed out', () => {
    const timerManager = new TimerManager()
    const { pool, dropped } = setup({ timerManager, idleTimeoutMs: 50 })
    pool.put(meta('k'), conn('a'))
    expect(timerManager.size).toBe(1)
    expect(pool.get('k')?.name).toBe('a')
    expect(timerManager.size).toBe(0)
    vi.advanceTimersByTime(1_000)
    expect(dropped).toEqual([])
  })

  it('starts a fresh timeout when a connection is put back', () => {
    const { pool, dropped } = setup({ idleTimeoutMs: 100 })
    const m = meta('k')
    pool.put(m, conn('a'))
    vi.advanceTimersByTime(90)
    const a = pool.get('k')
    pool.put(m, a as Conn)
    vi.advanceTimersByTime(90)
    expect(pool.idle).toBe(1)
    vi.advanceTimersByTime(30)
    expect(dropped.map(([, reason]) => reason)).toEqual(['idle-timeout'])
  })

  it.each([-1, Number.NaN, Number.POSITIVE_INFINITY])(
    'rejects idleTimeoutMs %s with a RangeError',
    (idleTimeoutMs) => {
      const message = `idleTimeoutMs must be a finite number >= 0, got ${idleTimeoutMs}`
      expect(() => new ConnectionPool({ idleTimeoutMs })).toThrow(new RangeError(message))
      const { pool } = setup()
      expect(() => pool.put(meta('k'), conn('a'), { idleTimeoutMs })).toThrow(
        new RangeError(message),
      )
      expect(pool.idle).toBe(0)
    },
  )
})

describe('ConnectionPool idle watching', () => {
  it('drops a connection the remote closes while idle and never hands it out', () => {
    const watcher = manualWatcher()
    const { pool, dropped } = setup({ watch: watcher.watch })
    const a = conn('a')
    const m = meta('k')
    pool.put(m, a)
    watcher.report(a, 'closed')
    expect(dropped).toEqual([['a', 'closed', m]])
    expect(pool.get('k')).toBeUndefined()
    expect(pool.stats().closedWhileIdle).toBe(1)
    expect(watcher.unwatched).toEqual([a])
  })

  it('drops a connection that receives unexpected bytes while idle', () => {
    const watcher = manualWatcher()
    const { pool, dropped } = setup({ watch: watcher.watch })
    const a = conn('a')
    const b = conn('b')
    pool.put(meta('k'), a)
    pool.put(meta('k'), b)
    watcher.report(b, 'unexpected-data')
    expect(dropped.map(([name, reason]) => [name, reason])).toEqual([['b', 'unexpected-data']])
    expect(pool.get('k')).toBe(a)
    expect(pool.stats().closedWhileIdle).toBe(1)
  })

  it('stops watching a connection once it is handed out', () => {
    const watcher = manualWatcher()
    const { pool, dropped } = setup({ watch: watcher.watch })
    const a = conn('a')
    pool.put(meta('k'), a)
    expect(watcher.reporters.has(a)).toBe(true)
    pool.get('k')
    expect(watcher.reporters.has(a)).toBe(false)
    expect(watcher.unwatched).toEqual([a])
    expect(dropped).toEqual([])
  })

  it('ignores a late report for a connection that already left', () => {
    const reporters: Array<(problem: IdleProblem) => void> = []
    const { pool, dropped } = setup({
      watch: (_connection, onProblem) => {
        reporters.push(onProblem)
        return () => {}
      },
    })
    pool.put(meta('k'), conn('a'))
    pool.get('k')
    reporters[0]?.('closed')
    expect(dropped).toEqual([])
    expect(pool.stats().closedWhileIdle).toBe(0)
  })

  it('never pools a connection whose watcher reports a problem at once', () => {
    const unwatch = vi.fn()
    const { pool, dropped } = setup({
      watch: (_connection, onProblem) => {
        onProblem('closed')
        return unwatch
      },
    })
    pool.put(meta('k'), conn('dead'))
    expect(dropped.map(([name, reason]) => [name, reason])).toEqual([['dead', 'closed']])
    expect(unwatch).toHaveBeenCalledTimes(1)
    expect(pool.idle).toBe(0)
    expect(pool.get('k')).toBeUndefined()
  })

  it('rejects a watch or onDrop that is not a function with a TypeError', () => {
    expect(() => new ConnectionPool({ watch: 1 as never })).toThrow(
      new TypeError('watch must be a function'),
    )
    expect(() => new ConnectionPool({ onDrop: 'x' as never })).toThrow(
      new TypeError('onDrop must be a function'),
    )
  })
})

describe('ConnectionPool remove and clear', () => {
  it('takes a connection out by id without calling onDrop', () => {
    const timerManager = new TimerManager()
    const watcher = manualWatcher()
    const { pool, dropped } = setup({ watch: watcher.watch, idleTimeoutMs: 100, timerManager })
    const a = conn('a')
    const m = meta('k')
    pool.put(m, a)
    expect(pool.remove(m)).toBe(a)
    expect(pool.get('k')).toBeUndefined()
    expect(pool.remove(m)).toBeUndefined()
    expect(dropped).toEqual([])
    expect(watcher.unwatched).toEqual([a])
    expect(timerManager.size).toBe(0)
  })

  it('returns undefined when removing an id that was never pooled', () => {
    const { pool } = setup()
    expect(pool.remove({ id: 123_456 })).toBeUndefined()
  })

  it('drops every idle connection on clear', () => {
    const { pool, dropped } = setup()
    pool.put(meta('a'), conn('a'))
    pool.put(meta('b'), conn('b'))
    pool.clear()
    expect(dropped.map(([name, reason]) => [name, reason]).sort()).toEqual([
      ['a', 'cleared'],
      ['b', 'cleared'],
    ])
    expect(pool.idle).toBe(0)
    expect(pool.get('a')).toBeUndefined()
  })

  it('lets onDrop put a connection back into the pool', () => {
    const pool: ConnectionPool<Conn> = new ConnectionPool<Conn>({
      size: 1,
      onDrop: (connection, reason) => {
        if (reason === 'evicted' && connection.name === 'a') pool.put(meta('z'), conn('a2'))
      },
    })
    pool.put(meta('x'), conn('a'))
    pool.put(meta('y'), conn('b')) // evicts a, whose onDrop puts a2, which evicts b
    expect(pool.idle).toBe(1)
    expect(pool.get('z')?.name).toBe('a2')
  })
})

describe('ConnectionPool stats', () => {
  it('counts hits, misses, evictions, closes and idle timeouts', () => {
    vi.useFakeTimers({ now: 0 })
    try {
      const watcher = manualWatcher()
      const { pool } = setup({ size: 3, watch: watcher.watch })
      const closing = conn('closing')
      pool.put(meta('k'), conn('a'))
      pool.put(meta('k'), closing)
      pool.put(meta('t'), conn('timing-out'), { idleTimeoutMs: 10 })
      pool.put(meta('k'), conn('d')) // evicts a
      watcher.report(closing, 'closed')
      vi.advanceTimersByTime(20)
      pool.get('k')
      pool.get('k')
      expect(pool.stats()).toEqual({
        idle: 0,
        hits: 1,
        misses: 1,
        evictions: 1,
        closedWhileIdle: 1,
        idleTimeouts: 1,
      })
    } finally {
      vi.useRealTimers()
    }
  })
})
