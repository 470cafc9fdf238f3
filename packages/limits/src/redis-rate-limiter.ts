import { createHash } from 'node:crypto'
import { channels } from './diagnostics.ts'
import { LocalRateLimiter } from './local-rate-limiter.ts'
import { decide, type RateLimitDecision, slidingEstimate } from './rate-limit-decision.ts'

/**
 * The two Redis commands the limiter needs, with ioredis's signatures: an ioredis `Redis` or
 * `Cluster` fits as is. Another client fits through a two-line adapter (see the package README).
 * Both must reject when Redis answers with an error (`NOSCRIPT ...` included).
 */
export interface RedisScriptClient {
  /** Runs a cached script by its SHA1 (`EVALSHA sha numkeys key... arg...`). */
  evalsha(sha1: string, numkeys: number, ...args: (string | number)[]): Promise<unknown>
  /** Runs (and caches) a script (`EVAL script numkeys key... arg...`). */
  eval(script: string, numkeys: number, ...args: (string | number)[]): Promise<unknown>
}

/** What happens to decisions while Redis is slow or unreachable. */
export type RedisFailurePolicy =
  /** Allow, bounded by a per-process {@link LocalRateLimiter} (`fallbackLimit`). */
  | 'open'
  /** Deny every request until Redis answers again. */
  | 'closed'

/** The batching mode of {@link RedisRateLimiter}: local pre-aggregation for hot keys. */
export interface RedisBatchOptions {
  /** How often pending local counts are added to Redis and the shared counts read back. */
  syncIntervalMs: number
  /**
   * Keys tracked locally at most; decisions for further keys take the one-round-trip path.
   * @defaultValue 10000
   */
  maxKeys?: number
}

/** Options for {@link RedisRateLimiter}. */
export interface RedisRateLimiterOptions {
  /** The Redis client (ioredis `Redis` or `Cluster`, or an adapter). */
  client: RedisScriptClient
  /** Requests (or cost units) allowed per sliding window, across every process sharing Redis. */
  limit: number
  /** The window length in milliseconds. @defaultValue 1000 */
  windowMs?: number
  /** Prefix of the Redis keys; the limited key follows in a hash tag. @defaultValue `'pingora:rl:'` */
  prefix?: string
  /**
   * Longest a decision waits for Redis; past it the failure policy decides. A decision never
   * takes longer than this (plus the local work).
   * @defaultValue 50
   */
  timeoutMs?: number
  /** What to do while Redis is slow or down. @defaultValue `'open'` */
  failurePolicy?: RedisFailurePolicy
  /**
   * The per-process limit of the local fallback limiter used while Redis is down and the policy
   * is `'open'`. With N proxies, `limit / N` keeps the total near the limit.
   * @defaultValue `limit`
   */
  fallbackLimit?: number
  /**
   * After a failure, decisions skip Redis for this long, then one decision probes it again; the
   * limiter goes back to Redis as soon as a probe answers.
   * @defaultValue 1000
   */
  retryIntervalMs?: number
  /** Turns on the batching mode (see {@link RedisBatchOptions}). @defaultValue off */
  batch?: RedisBatchOptions
  /** Milliseconds clock for the local parts (fallback, retry interval), injected by tests. */
  now?: () => number
}

/**
 * The sliding-window counter, atomic in Redis. One hash per limited key:
 * `w` = index of the current fixed window, `c` = its count, `p` = the previous window's count.
 * Time comes from the Redis server (`TIME`), so every proxy agrees on the window whatever its
 * clock. ARGV: limit, window ms, cost, mode (`0` = add the cost only if it fits, `1` = add it
 * unconditionally: the batching mode's sync of already admitted requests).
 * Returns `{allowed, previous, current, elapsedMs}`.
 */
const SCRIPT = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[2])
local index = math.floor(now / window)
local state = redis.call('HMGET', KEYS[1], 'w', 'c', 'p')
local w = tonumber(state[1])
local c = tonumber(state[2]) or 0
local p = tonumber(state[3]) or 0
if w == nil or w < index - 1 then
  p = 0
  c = 0
elseif w == index - 1 then
  p = c
  c = 0
elseif w > index then
  index = w
end
local elapsed = now - index * window
if elapsed < 0 then elapsed = 0 end
local limit = tonumber(ARGV[1])
local cost = tonumber(ARGV[3])
local allowed = 0
if ARGV[4] == '1' or p * (1 - elapsed / window) + c + cost <= limit then
  allowed = 1
  c = c + cost
end
redis.call('HSET', KEYS[1], 'w', index, 'c', c, 'p', p)
redis.call('PEXPIRE', KEYS[1], window * 2)
return {allowed, p, c, elapsed}
`
const SCRIPT_SHA1 = createHash('sha1').update(SCRIPT).digest('hex')
const TIMED_OUT = Symbol('timed out')

/** One key's local state in batching mode. */
interface BatchEntry {
  /** The shared sliding-window estimate at the last sync (every proxy's admitted requests). */
  shared: number
  /** Requests admitted here since the last sync, not yet added in Redis. */
  pending: number
  /** Local clock time when the current Redis window ends, from the last sync. */
  windowEndsAt: number
  /** Whether a decision used this entry since the last sync (idle entries are dropped). */
  used: boolean
  /** Local clock time of the oldest pending request. */
  pendingSince: number
}

/**
 * A sliding-window rate limit shared by every process that uses the same Redis (or Redis
 * Cluster): one atomic Lua script per decision (`EVALSHA`, falling back to `EVAL` once after
 * `NOSCRIPT`), one round trip. Optional batching mode for hot keys. Decisions never wait longer
 * than `timeoutMs`: while Redis is slow or down, the failure policy decides (fail open with a local
 * fallback limit, or fail closed), and the limiter returns to Redis by itself when it answers.
 *
 * Keys are stored as `<prefix>{<key>}` (a Redis Cluster hash tag: a key's state lives on one
 * shard). `{`, `}` and `%` in keys are percent-encoded so a key can never break out of its tag.
 *
 * ```ts
 * const limiter = new RedisRateLimiter({ client: new Redis(url), limit: 100, windowMs: 1000 })
 * const decision = await limiter.check(appId)
 * ```
 */
export class RedisRateLimiter {
  /** Requests allowed per window across every process. */
  readonly limit: number
  /** Window length in milliseconds. */
  readonly windowMs: number
  readonly #client: RedisScriptClient
  readonly #prefix: string
  readonly #timeoutMs: number
  readonly #failurePolicy: RedisFailurePolicy
  readonly #retryIntervalMs: number
  readonly #fallback: LocalRateLimiter
  readonly #now: () => number
  readonly #batchMaxKeys: number
  readonly #batchEntries: Map<string, BatchEntry> | undefined
  readonly #syncTimer: NodeJS.Timeout | undefined
  #healthy = true
  #retryAt = 0
  #probing = false
  #syncing: Promise<void> | undefined
  #closed = false

  /**
   * Creates the limiter; in batching mode also starts the (unref'd) sync timer.
   * @param options - client, limit, window, timeout, failure policy, batching
   * @throws RangeError when a number option is out of range
   */
  constructor(options: RedisRateLimiterOptions) {
    if (!Number.isInteger(options.limit) || options.limit < 1) {
      throw new RangeError(`limit must be a positive integer, got ${options.limit}`)
    }
    const windowMs = options.windowMs ?? 1000
    if (!Number.isInteger(windowMs) || windowMs < 1) {
      throw new RangeError(`windowMs must be a positive integer, got ${windowMs}`)
    }
    const timeoutMs = options.timeoutMs ?? 50
    if (!(timeoutMs > 0)) throw new RangeError(`timeoutMs must be positive, got ${timeoutMs}`)
    this.limit = options.limit
    this.windowMs = windowMs
    this.#client = options.client
    this.#prefix = options.prefix ?? 'pingora:rl:'
    this.#timeoutMs = timeoutMs
    this.#failurePolicy = options.failurePolicy ?? 'open'
    this.#retryIntervalMs = options.retryIntervalMs ?? 1000
    this.#now = options.now ?? (() => performance.now())
    this.#fallback = new LocalRateLimiter({
      limit: options.fallbackLimit ?? options.limit,
      windowMs,
      now: this.#now,
    })
    const batch = options.batch
    this.#batchMaxKeys = batch?.maxKeys ?? 10_000
    if (batch !== undefined) {
      if (!(batch.syncIntervalMs > 0)) {
        throw new RangeError(`batch.syncIntervalMs must be positive, got ${batch.syncIntervalMs}`)
      }
      this.#batchEntries = new Map()
      this.#syncTimer = setInterval(() => void this.sync(), batch.syncIntervalMs)
      this.#syncTimer.unref()
    }
  }

  /**
   * Decides whether the key may spend `cost` more in the sliding window ending now, counting it if
   * so. Resolves within `timeoutMs`; never rejects.
   * @param key - who is limited (client IP, app id...)
   * @param cost - units this request uses (a positive integer)
   * @defaultValue cost = 1
   */
  async check(key: string, cost = 1): Promise<RateLimitDecision> {
    const entries = this.#batchEntries
    if (entries !== undefined) {
      const entry = entries.get(key)
      if (entry !== undefined) return this.#checkBatched(entry, key, cost)
      if (entries.size < this.#batchMaxKeys) {
        const created: BatchEntry = {
          shared: 0,
          pending: 0,
          windowEndsAt: 0,
          used: true,
          pendingSince: 0,
        }
        entries.set(key, created)
        return this.#checkBatched(created, key, cost)
      }
    }
    if (!this.#healthy) {
      if (this.#now() < this.#retryAt || this.#probing) return this.#degraded(key, cost)
      this.#probing = true
    }
    const reply = await this.#call(key, cost, 0)
    this.#probing = false
    if (reply === undefined) return this.#degraded(key, cost)
    const [allowed, previous, current, elapsedMs] = reply
    return decide(
      allowed === 1,
      previous,
      current,
      elapsedMs,
      this.windowMs,
      this.limit,
      cost,
      'redis',
    )
  }

  /**
   * Batching mode: adds every key's pending local count in Redis and reads the shared counts back
   * (the timer calls this every `syncIntervalMs`; tests and shutdown may call it directly).
   * Resolves when done; a failure keeps the counts pending for the next sync.
   */
  sync(): Promise<void> {
    if (this.#syncing !== undefined) return this.#syncing
    const entries = this.#batchEntries
    if (entries === undefined) return Promise.resolve()
    this.#syncing = this.#syncEntries(entries).finally(() => {
      this.#syncing = undefined
    })
    return this.#syncing
  }

  /** Stops the batching timer and syncs the pending counts one last time. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    if (this.#syncTimer !== undefined) clearInterval(this.#syncTimer)
    await this.sync()
  }

  #checkBatched(entry: BatchEntry, key: string, cost: number): RateLimitDecision {
    entry.used = true
    // Redis down: the shared view is going stale, so the failure policy decides, as without batching.
    if (!this.#healthy) return this.#degraded(key, cost)
    const now = this.#now()
    const estimate = entry.shared + entry.pending
    const allowed = estimate + cost <= this.limit
    if (allowed) {
      if (entry.pending === 0) entry.pendingSince = now
      entry.pending += cost
    }
    const after = allowed ? estimate + cost : estimate
    const resetMs = entry.windowEndsAt > now ? Math.ceil(entry.windowEndsAt - now) : this.windowMs
    return {
      allowed,
      limit: this.limit,
      remaining: Math.max(0, Math.floor(this.limit - after)),
      resetMs,
      // The local view only learns of freed capacity at the next sync.
      retryAfterMs: allowed ? 0 : Math.min(resetMs, this.windowMs),
      source: 'batch',
    }
  }

  async #syncEntries(entries: Map<string, BatchEntry>): Promise<void> {
    const now = this.#now()
    // Redis marked down: wait for the retry time, then this sync is the probe.
    if (!this.#healthy && now < this.#retryAt) return
    const work: Promise<void>[] = []
    for (const [key, entry] of entries) {
      // Counts older than a window (kept through an outage) no longer belong in any window.
      if (entry.pending > 0 && now - entry.pendingSince >= this.windowMs) entry.pending = 0
      if (!entry.used && entry.pending === 0) {
        entries.delete(key)
        continue
      }
      entry.used = false
      const sent = entry.pending
      work.push(
        this.#call(key, sent, 1).then((reply) => {
          if (reply === undefined) return
          const [, previous, current, elapsedMs] = reply
          entry.pending -= sent
          entry.shared = slidingEstimate(previous, current, elapsedMs, this.windowMs)
          entry.windowEndsAt = this.#now() + this.windowMs - elapsedMs
        }),
      )
    }
    await Promise.all(work)
  }

  /** Decision while Redis is unusable: the failure policy. */
  #degraded(key: string, cost: number): RateLimitDecision {
    if (this.#failurePolicy === 'closed') return this.#failClosed()
    const local = this.#fallback.check(key, cost)
    return { ...local, source: 'fallback' }
  }

  #failClosed(): RateLimitDecision {
    return {
      allowed: false,
      limit: this.limit,
      remaining: 0,
      resetMs: this.windowMs,
      retryAfterMs: Math.max(1, Math.ceil(this.#retryAt - this.#now())),
      source: 'fail-closed',
    }
  }

  /**
   * Runs the script for one key within `timeoutMs`. Resolves with the reply, or undefined after
   * an error or the timeout (the limiter is then marked down until the next probe).
   */
  async #call(
    key: string,
    cost: number,
    mode: 0 | 1,
  ): Promise<[number, number, number, number] | undefined> {
    const redisKey = this.#redisKey(key)
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<typeof TIMED_OUT>((resolve) => {
      timer = setTimeout(resolve, this.#timeoutMs, TIMED_OUT)
    })
    const request = this.#evaluate(redisKey, cost, mode)
    let outcome: unknown
    try {
      outcome = await Promise.race([request, timeout])
    } catch (error) {
      outcome = error
    } finally {
      clearTimeout(timer)
    }
    if (outcome === TIMED_OUT) {
      // The command may still run later; its rejection (if any) must not go unhandled.
      request.catch(() => {})
      this.#markDown(new Error(`redis did not answer within ${this.#timeoutMs} ms`))
      return undefined
    }
    if (!isReply(outcome)) {
      this.#markDown(outcome)
      return undefined
    }
    if (!this.#healthy) {
      this.#healthy = true
      if (channels.redisRecovered.hasSubscribers) channels.redisRecovered.publish({ limiter: this })
    }
    return outcome
  }

  /** EVALSHA, and EVAL once if Redis lost its script cache (restart, SCRIPT FLUSH, failover). */
  async #evaluate(redisKey: string, cost: number, mode: 0 | 1): Promise<unknown> {
    try {
      return await this.#client.evalsha(
        SCRIPT_SHA1,
        1,
        redisKey,
        this.limit,
        this.windowMs,
        cost,
        mode,
      )
    } catch (error) {
      if (!isNoScript(error)) throw error
      return this.#client.eval(SCRIPT, 1, redisKey, this.limit, this.windowMs, cost, mode)
    }
  }

  #markDown(error: unknown): void {
    this.#retryAt = this.#now() + this.#retryIntervalMs
    if (!this.#healthy) return
    this.#healthy = false
    if (channels.redisFailed.hasSubscribers) channels.redisFailed.publish({ limiter: this, error })
  }

  #redisKey(key: string): string {
    const safe = /[{}%]/.test(key)
      ? key.replaceAll('%', '%25').replaceAll('{', '%7B').replaceAll('}', '%7D')
      : key
    return `${this.#prefix}{${safe}}`
  }
}

function isReply(value: unknown): value is [number, number, number, number] {
  return Array.isArray(value) && value.length === 4 && value.every((v) => typeof v === 'number')
}

function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('NOSCRIPT')
}
