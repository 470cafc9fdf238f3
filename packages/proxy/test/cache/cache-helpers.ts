// Shared by the cache tests: a real origin (node:http), a caching proxy with an injected
// clock, and an undici client.
import type http from 'node:http'
import {
  CacheLock,
  type CacheStorage,
  type HttpCacheOptions,
  MemoryStorage,
  Predictor,
} from '@pingora-ts/cache'
import type { ProxyHttp, Session } from '@pingora-ts/proxy'
import { startOrigin } from '@pingora-ts/test-utils'
import { Agent, request } from 'undici'
import { onTestFinished } from 'vitest'
import { peerFor, startProxy } from '../helpers.ts'

/** A clock the test moves by hand (epoch ms). */
export class TestClock {
  ms = Date.UTC(2026, 0, 1)
  readonly now = (): number => this.ms
  /** Moves the clock forward. */
  advance(seconds: number): void {
    this.ms += seconds * 1000
  }
  /** An HTTP date at the clock's current time plus an offset. */
  date(offsetSec = 0): string {
    return new Date(this.ms + offsetSec * 1000).toUTCString()
  }
}

export type OriginHandler = (request: http.IncomingMessage, response: http.ServerResponse) => void

/** An origin that counts the requests it answers and records their headers. */
export async function countingOrigin(handler: OriginHandler) {
  const seen: http.IncomingMessage[] = []
  const origin = await startOrigin((req, res) => {
    seen.push(req as http.IncomingMessage)
    handler(req as http.IncomingMessage, res as http.ServerResponse)
  })
  onTestFinished(origin.close)
  return {
    port: origin.port,
    url: origin.url,
    seen,
    get calls() {
      return seen.length
    },
  }
}

export interface CacheAppOptions extends Partial<HttpCacheOptions> {
  clock: TestClock
  /** Extra phases (override the defaults below). */
  phases?: Partial<ProxyHttp<unknown>>
}

/**
 * A caching proxy in front of an origin port: cache enabled for every request, memory
 * storage, a lock, `X-Cache-Status` added in `responseFilter`.
 */
export async function cachingProxy(originPort: number, options: CacheAppOptions) {
  const storage: CacheStorage = options.storage ?? new MemoryStorage({ maxBytes: 16 << 20 })
  const lock = options.lock === undefined ? new CacheLock() : options.lock
  const logged: { status: string | undefined; phase: string; reason: string | undefined }[] = []
  const app: ProxyHttp<unknown> = {
    newCtx: () => undefined,
    upstreamPeer: () => peerFor(originPort),
    requestCacheFilter(session: Session) {
      session.cache.enable({
        storage,
        lock,
        predictor: options.predictor ?? new Predictor(),
        maxFileSizeBytes: options.maxFileSizeBytes,
        maxDetachedFillBytes: options.maxDetachedFillBytes,
        now: options.clock.now,
      })
    },
    responseFilter(session: Session, response) {
      if (session.cacheStatus !== undefined) {
        response.insertHeader('X-Cache-Status', session.cacheStatus.toUpperCase())
      }
    },
    logging(session: Session) {
      const cache = session.cacheIfUsed
      logged.push({
        status: session.cacheStatus,
        phase: cache?.phase ?? 'none',
        reason: cache?.noCacheReason,
      })
    },
    ...options.phases,
  }
  const proxy = await startProxy(app)
  return { ...proxy, storage, logged }
}

export interface Reply {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: string
  cacheStatus: string | undefined
}

/** One request through undici (a fresh connection pool per test). */
export function client(connections = 4) {
  const agent = new Agent({ connections })
  onTestFinished(() => agent.close())
  return async (
    url: string,
    path: string,
    init: { method?: string; headers?: Record<string, string>; body?: string } = {},
  ): Promise<Reply> => {
    const response = await request(`${url}${path}`, {
      dispatcher: agent,
      method: (init.method ?? 'GET') as 'GET',
      headers: init.headers,
      body: init.body,
    })
    const body = await response.body.text()
    const cacheStatus = response.headers['x-cache-status']
    return {
      status: response.statusCode,
      headers: response.headers,
      body,
      cacheStatus: typeof cacheStatus === 'string' ? cacheStatus : undefined,
    }
  }
}
