/**
 * Test-only helpers for pingora-ts packages: the checked-in test PKI ({@link certs},
 * {@link readCert}), origin servers ({@link startOrigin}), raw TCP servers
 * ({@link startRawServer}) and `redis-server` processes ({@link startRedis}), all on
 * `127.0.0.1` with an OS-assigned port.
 *
 * ```ts
 * const origin = await startOrigin((req, res) => res.end('ok'))
 * onTestFinished(origin.close)
 * ```
 *
 * @packageDocumentation
 */
export { type CertPaths, certs, readCert } from './certs.ts'
export {
  type OriginHandler,
  type OriginOptions,
  type StartedServer,
  startOrigin,
} from './origin.ts'
export { startRawServer } from './raw-server.ts'
export {
  hasRedisServer,
  type RespReply,
  type StartedRedis,
  type StartRedisOptions,
  startRedis,
} from './redis.ts'
