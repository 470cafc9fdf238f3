/**
 * An RFC 9111 shared HTTP cache for pingora-ts: cache keys, `Cache-Control` parsing,
 * freshness and cacheability, conditional and range requests, the per-request cache state
 * machine, the cache lock, and memory, disk and Redis storage. The TypeScript counterpart of
 * `pingora-cache` (plus `pingora-memory-cache` and TinyUFO).
 *
 * @module @pingora-ts/cache
 * @packageDocumentation
 */
export {
  type Cacheable,
  CacheControl,
  DELTA_SECONDS_MAX,
  type DeltaSeconds,
  parseDeltaSeconds,
} from './cache-control.ts'
export { etagListMatchesWeak, notModifiedFilter, splitEtags, toNotModified } from './conditional.ts'
export {
  CHANNEL_NAMES,
  channels,
  type RefreshFinishedMessage,
  type StorageErrorMessage,
} from './diagnostics.ts'
export { DiskStorage, type DiskStorageOptions } from './disk-storage.ts'
export {
  HEURISTIC_FRACTION,
  HEURISTIC_MAX_SEC,
  HEURISTICALLY_CACHEABLE,
  type RespCacheable,
  requestCacheable,
  respCacheable,
  revalidateMergeHeader,
  storedHeader,
  upstreamRequestFilter,
  varyNames,
} from './filters.ts'
export {
  type CachePhase,
  DETACHED_FILL_MAX_BYTES,
  type HitStatus,
  HttpCache,
  type HttpCacheDigest,
  type HttpCacheOptions,
  invalidationTargets,
  type VaryFilter,
} from './http-cache.ts'
export { formatHttpDate, parseHttpDate } from './http-date.ts'
export { CacheKey, HASH_SIZE, type HashHex, hashParts } from './key.ts'
export {
  CacheLock,
  type CacheLockOptions,
  type Locked,
  type LockStatus,
  ReadLock,
  WritePermit,
} from './lock.ts'
export {
  MemoryCache,
  type MemoryCacheOptions,
  type MemoryCacheStatus,
  RTCache,
  type RTCacheOptions,
} from './memory-cache.ts'
export { MemoryStorage, type MemoryStorageOptions } from './memory-storage.ts'
export { CacheMeta, CacheMetaDefaults, type CacheMetaInit, META_MAX_BYTES } from './meta.ts'
export { NoCacheReason } from './no-cache-reason.ts'
export { Predictor, type PredictorOptions } from './predictor.ts'
export {
  type ByteRange,
  MAX_RANGES,
  multipartPartHeader,
  multipartTail,
  parseRange,
  RangeBodyFilter,
  type RangeType,
  rangeHeaderFilter,
} from './range.ts'
export { type RedisClientLike, RedisStorage, type RedisStorageOptions } from './redis-storage.ts'
export type {
  CacheStorage,
  HitHandler,
  LookupResult,
  MissHandler,
  PurgeType,
} from './storage.ts'
export { CountMinSketch, hashKey, TinyUfo } from './tiny-ufo.ts'
export { VarianceBuilder } from './variance.ts'
export { WeightedLru } from './weighted-lru.ts'
export { type ZipfTraceOptions, zipfTrace } from './zipf.ts'
