import {
  CacheKey,
  CacheLock,
  CacheMetaDefaults,
  type CacheStorage,
  DiskStorage,
  MemoryStorage,
  Predictor,
  RedisStorage,
} from '@pingora-ts/cache'
import { HttpPeer, Server } from '@pingora-ts/core'
import {
  defaultResponseCacheFilter,
  httpProxyService,
  type ProxyHttp,
  type Session,
} from '@pingora-ts/proxy'
import { Redis } from 'ioredis'

/** The default memory bound of the memory storage (256 MiB). */
export const DEFAULT_MAX_BYTES = 256 * 1024 * 1024
/** The default largest object stored (8 MiB). */
export const DEFAULT_MAX_OBJECT_BYTES = 8 * 1024 * 1024

/** Where the cached responses live. */
export type StorageChoice =
  | { readonly kind: 'memory'; readonly maxBytes?: number }
  | { readonly kind: 'disk'; readonly directory: string; readonly maxBytes?: number }
  | { readonly kind: 'redis'; readonly url: string }

/** What the caching proxy talks to and how it stores. */
export interface CachingProxyOptions {
  /** The origin (`host:port`). */
  readonly upstream: string
  /** The storage. */
  readonly storage: CacheStorage
  /** The largest object stored, in bytes. @defaultValue {@link DEFAULT_MAX_OBJECT_BYTES} */
  readonly maxObjectBytes?: number
  /** Serve stale while revalidating in the background (when the response allows it). */
  readonly staleWhileRevalidate?: boolean
  /** Answer `PURGE` requests from loopback clients by removing the entry. */
  readonly purge?: boolean
  /**
   * Freshness in seconds for 200, 301 and 404 responses that set none (nginx's
   * `proxy_cache_valid`); `undefined`: only what the origin says (and RFC 9111's heuristic).
   */
  readonly defaultTtlSec?: number
}

/**
 * A caching reverse proxy, like nginx's `proxy_cache` in front of one origin: every request
 * may be answered from the cache (the engine keeps the cache to GET/HEAD and lets unsafe
 * methods invalidate), the cache lock coalesces fills, and `X-Cache-Status` tells the client
 * how it was answered (`HIT`, `MISS`, `EXPIRED`, `REVALIDATED`, `STALE`, `UPDATING`, `BYPASS`).
 * @param options - origin, storage and policy
 */
export function cachingProxy(options: CachingProxyOptions): ProxyHttp<undefined> {
  const peer = new HttpPeer(options.upstream, false, '')
  const lock = new CacheLock()
  const predictor = new Predictor()
  const maxFileSizeBytes = options.maxObjectBytes ?? DEFAULT_MAX_OBJECT_BYTES
  const storage = options.storage
  const ttl = options.defaultTtlSec
  const defaults =
    ttl === undefined
      ? undefined
      : new CacheMetaDefaults((status) =>
          status === 200 || status === 301 || status === 404 ? ttl : undefined,
        )
  return {
    newCtx: () => undefined,
    upstreamPeer: () => peer,
    requestCacheFilter(session: Session) {
      session.cache.enable({ storage, lock, predictor, maxFileSizeBytes })
    },
    // One origin: the key is the origin and the path, whatever `Host` the client sent (so
    // several proxies on other ports share entries through Redis or one directory).
    cacheKeyCallback: (_session: Session, _ctx, request) =>
      new CacheKey('', `${options.upstream}${request.uri}`),
    isPurge(session: Session) {
      if (options.purge !== true || session.requestHeader.method !== 'PURGE') return false
      const address = session.clientAddr
      const ip = address !== undefined && 'ip' in address ? String(address.ip) : ''
      return ip === '127.0.0.1' || ip === '::1'
    },
    responseCacheFilter: (session: Session, response) =>
      defaultResponseCacheFilter(session, response, defaults),
    shouldServeStale: (_session, _ctx, error) =>
      error === undefined ? options.staleWhileRevalidate === true : error.source === 'upstream',
    responseFilter(session: Session, response) {
      if (session.cacheStatus !== undefined) {
        response.insertHeader('X-Cache-Status', session.cacheStatus.toUpperCase())
      }
    },
  }
}

/**
 * Opens the storage a command line asked for.
 * @param choice - memory, disk directory or Redis URL
 * @returns the storage and how to release it
 */
export async function openStorage(
  choice: StorageChoice,
): Promise<{ storage: CacheStorage; close: () => Promise<void> }> {
  switch (choice.kind) {
    case 'memory':
      return {
        storage: new MemoryStorage({ maxBytes: choice.maxBytes ?? DEFAULT_MAX_BYTES }),
        close: async () => {},
      }
    case 'disk':
      return {
        storage: await DiskStorage.open({
          directory: choice.directory,
          maxBytes: choice.maxBytes ?? DEFAULT_MAX_BYTES,
        }),
        close: async () => {},
      }
    case 'redis': {
      // Fail fast: with Redis down the cache misses, it never holds requests.
      const client = new Redis(choice.url, {
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        lazyConnect: true,
      })
      client.on('error', () => undefined)
      await client.connect()
      return {
        storage: new RedisStorage({ client }),
        close: async () => {
          client.disconnect()
        },
      }
    }
  }
}

/** A started caching proxy. */
export interface RunningProxy {
  /** The port it listens on. */
  readonly port: number
  /** Stops it (gracefully: in-flight requests finish) and releases the storage. */
  close(graceful?: boolean): Promise<void>
}

/**
 * Starts the caching proxy on `listen`.
 * @param options - origin and policy
 * @param choice - the storage
 * @param listen - `host:port` (port 0 picks a free one)
 */
export async function startCachingProxy(
  options: Omit<CachingProxyOptions, 'storage'>,
  choice: StorageChoice,
  listen = '127.0.0.1:0',
): Promise<RunningProxy> {
  const opened = await openStorage(choice)
  const server = new Server()
  server.bootstrap()
  const service = httpProxyService(
    server.configuration,
    cachingProxy({ ...options, storage: opened.storage }),
  )
  service.addTcp(listen)
  server.addService(service)
  await server.start()
  return {
    port: service.boundAddress().port,
    close: async (graceful = false) => {
      await server.shutdown({ graceful })
      await opened.close()
    },
  }
}
