/**
 * put/get cycles on ConnectionPool, BATCH cycles per iteration.
 *
 * - "1 key": every connection shares one group (one upstream), which keeps 16 other idle
 *   connections (warm), or is empty so each cycle creates and collects the group (cold).
 * - "1000 keys": connections spread over 1000 groups, each cycle hitting a different group;
 *   warm groups keep one other idle connection each.
 * - "+ idle timeout": each put also starts a coarse idle timer that get cancels.
 * - "at the bound": every put evicts the least recently used connection.
 * - baseline: a bare `Map<key, T[]>` with push/pop (no bound, no LRU, no timers), for scale.
 *
 * Run: `cd packages/pool && npx vitest bench --run`
 */
import { bench, describe } from 'vitest'
import { type ConnectionMeta, ConnectionPool } from '../src/connection-pool.ts'

const BATCH = 1_000
const KEYS = 1_000

interface Conn {
  readonly id: number
}

const metas: ConnectionMeta[] = []
const connections: Conn[] = []
for (let i = 0; i < KEYS; i++) {
  metas.push({ key: `10.0.0.${i % 250}:${8000 + i}`, id: i })
  connections.push({ id: i })
}
const oneKeyMetas = metas.map((m) => ({ key: 'origin:443', id: m.id }))

describe('put + get (x1000)', () => {
  const warm = new ConnectionPool<Conn>({ size: 4_096 })
  for (let i = 0; i < 16; i++) warm.put({ key: 'origin:443', id: 100_000 + i }, { id: -1 })
  bench('1 key, warm group', () => {
    for (let i = 0; i < BATCH; i++) {
      warm.put(oneKeyMetas[i] as ConnectionMeta, connections[i] as Conn)
      warm.get('origin:443')
    }
  })

  const cold = new ConnectionPool<Conn>({ size: 4_096 })
  bench('1 key, cold group', () => {
    for (let i = 0; i < BATCH; i++) {
      cold.put(oneKeyMetas[i] as ConnectionMeta, connections[i] as Conn)
      cold.get('origin:443')
    }
  })

  const warm1000 = new ConnectionPool<Conn>({ size: 4_096 })
  for (let i = 0; i < KEYS; i++) {
    warm1000.put({ key: (metas[i] as ConnectionMeta).key, id: 100_000 + i }, { id: -1 })
  }
  bench('1000 keys, warm groups', () => {
    for (let i = 0; i < BATCH; i++) {
      const meta = metas[i] as ConnectionMeta
      warm1000.put(meta, connections[i] as Conn)
      warm1000.get(meta.key)
    }
  })

  const pool1000 = new ConnectionPool<Conn>({ size: 4_096 })
  bench('1000 keys, cold groups', () => {
    for (let i = 0; i < BATCH; i++) {
      const meta = metas[i] as ConnectionMeta
      pool1000.put(meta, connections[i] as Conn)
      pool1000.get(meta.key)
    }
  })

  const timed = new ConnectionPool<Conn>({ size: 4_096, idleTimeoutMs: 60_000 })
  for (let i = 0; i < KEYS; i++) {
    timed.put({ key: (metas[i] as ConnectionMeta).key, id: 100_000 + i }, { id: -1 })
  }
  bench('1000 keys, warm groups + idle timeout', () => {
    for (let i = 0; i < BATCH; i++) {
      const meta = metas[i] as ConnectionMeta
      timed.put(meta, connections[i] as Conn)
      timed.get(meta.key)
    }
  })

  const baseline = new Map<ConnectionMeta['key'], Conn[]>()
  bench('baseline Map<key, T[]> push/pop, 1000 keys', () => {
    for (let i = 0; i < BATCH; i++) {
      const meta = metas[i] as ConnectionMeta
      let list = baseline.get(meta.key)
      if (list === undefined) {
        list = []
        baseline.set(meta.key, list)
      }
      list.push(connections[i] as Conn)
      const got = baseline.get(meta.key)
      got?.pop()
      if (got?.length === 0) baseline.delete(meta.key)
    }
  })
})

describe('put with eviction (x1000)', () => {
  const full = new ConnectionPool<Conn>({ size: 128, onDrop: () => {} })
  for (let i = 0; i < 128; i++) full.put({ key: `warm${i}`, id: 10_000 + i }, { id: -1 })
  bench('put at the bound, 1000 keys (evicts LRU each time)', () => {
    for (let i = 0; i < BATCH; i++) full.put(metas[i] as ConnectionMeta, connections[i] as Conn)
  })
})
