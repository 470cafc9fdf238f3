/**
 * Test-only helpers for pingora-ts packages: the checked-in test PKI ({@link certs},
 * {@link readCert}), origin servers ({@link startOrigin}), raw TCP servers
 * ({@link startRawServer}), a raw HTTP/2 frame client ({@link RawH2Client}), `redis-server`
 * processes ({@link startRedis}) and `haproxy` processes ({@link startHaproxy}), all on
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
  H2_CLIENT_PREFACE,
  H2_ERROR,
  H2_FLAG,
  H2_FRAME,
  type H2Frame,
  h2Frame,
  h2GetFields,
  h2PostFields,
  h2RstStream,
  h2Settings,
  hpackIndexed,
  hpackIndexedLiteral,
  hpackInteger,
  hpackLiteral,
  hpackString,
  RawH2Client,
} from './h2-frames.ts'
export { freePort, hasHaproxy, type StartedHaproxy, startHaproxy } from './haproxy.ts'
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
