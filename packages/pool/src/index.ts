/**
 * A bounded pool of idle upstream connections, grouped by reuse key, after pingora-pool.
 *
 * {@link ConnectionPool} hands out the most recently returned connection of a group (LIFO),
 * bounds the total number of idle connections with least-recently-used eviction across groups,
 * and drops a connection the moment it breaks while idle (remote close, unexpected bytes,
 * idle timeout), passing it to `onDrop` so the owner can close it. {@link watchSocket} watches
 * `node:net`/`node:tls` sockets. `@pingora-ts/core`'s connectors use it to reuse upstream
 * connections by peer hash; see `docs/pooling.md`.
 *
 * @module @pingora-ts/pool
 * @packageDocumentation
 */
export {
  type ConnectionMeta,
  ConnectionPool,
  type ConnectionPoolOptions,
  DEFAULT_POOL_SIZE,
  type DropReason,
  type IdleProblem,
  type IdleWatch,
  type PoolStats,
  type PutOptions,
} from './connection-pool.ts'
export { watchSocket } from './watch-socket.ts'
