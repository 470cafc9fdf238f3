import { once } from 'node:events'
import http from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import type { Backend } from '@pingora-ts/load-balancing'
import { onTestFinished } from 'vitest'
import { type HealthCheckedLbOptions, type RunningLb, startHealthCheckedLb } from '../src/start.ts'

/**
 * Handles a request instead of the default handler; returns `true` when it did. `/health` never
 * reaches it.
 */
export type Intercept = (request: http.IncomingMessage, response: http.ServerResponse) => boolean

/** A real node:http origin that can go down (listener closed, sockets destroyed) and come back. */
export interface Origin {
  /** The name it answers with (body and `x-origin`). */
  readonly name: string
  /** `127.0.0.1:port`, the same across restarts. */
  readonly addr: string
  /** Requests other than `/health` it received. */
  readonly requests: number
  /** Its open sockets. */
  readonly sockets: ReadonlySet<Socket>
  /** Listens again on the same port. */
  up(): Promise<void>
  /** Synchronously stops listening and destroys every open socket; resolves once closed. */
  down(): Promise<void>
  /** Makes `/health` answer 200 (`true`) or 503. */
  setHealthy(value: boolean): void
  /** Replaces the handling of non-health requests. */
  intercept: Intercept | undefined
}

/**
 * Starts an origin on 127.0.0.1 port 0. It answers every request with `200`, its name as the
 * body, `x-origin: name` and the request's `x-request-id` echoed; `/health` answers 200 or 503.
 * @param name - its name
 */
export async function startOrigin(name: string): Promise<Origin> {
  let server: http.Server | undefined
  let port = 0
  let healthy = true
  let requests = 0
  const sockets = new Set<Socket>()
  const origin: Origin = {
    name,
    get addr() {
      return `127.0.0.1:${port}`
    },
    get requests() {
      return requests
    },
    sockets,
    intercept: undefined,
    async up() {
      const s = http.createServer((request, response) => {
        if (request.url === '/health') {
          response.writeHead(healthy ? 200 : 503, { 'x-origin': name })
          response.end()
          return
        }
        requests++
        if (origin.intercept?.(request, response) === true) return
        const id = request.headers['x-request-id']
        response.writeHead(200, {
          'x-origin': name,
          'x-request-id': typeof id === 'string' ? id : '',
          'content-type': 'text/plain',
        })
        response.end(name)
      })
      // Long keep-alive: the origin never closes an idle connection the proxy is about to reuse.
      s.keepAliveTimeout = 120_000
      s.on('connection', (socket: Socket) => {
        sockets.add(socket)
        socket.once('close', () => sockets.delete(socket))
      })
      s.listen(port, '127.0.0.1')
      await once(s, 'listening')
      port = (s.address() as AddressInfo).port
      server = s
    },
    down() {
      const s = server
      server = undefined
      if (s === undefined) return Promise.resolve()
      const closed = new Promise<void>((resolve) => s.close(() => resolve()))
      for (const socket of sockets) socket.destroy()
      return closed
    },
    setHealthy(value) {
      healthy = value
    },
  }
  await origin.up()
  onTestFinished(() => origin.down())
  return origin
}

/** Health flips as `addr up|down` strings, awaitable. */
export interface HealthEvents {
  /** Every flip so far, in order. */
  readonly log: readonly string[]
  /** The callback to pass as `onHealthChange`. */
  onHealthChange(backend: Backend, healthy: boolean): void
  /** Resolves when `event` (`'127.0.0.1:1234 down'`) has happened. */
  next(event: string): Promise<void>
}

/** Records the load balancer's health flips. */
export function healthEvents(): HealthEvents {
  const waiting: { event: string; resolve: () => void }[] = []
  const log: string[] = []
  return {
    log,
    onHealthChange(backend, healthy) {
      const event = `${backend.addr} ${healthy ? 'up' : 'down'}`
      log.push(event)
      for (const w of waiting.splice(0)) {
        if (w.event === event) w.resolve()
        else waiting.push(w)
      }
    },
    next(event) {
      if (log.includes(event)) return Promise.resolve()
      return new Promise((resolve) => waiting.push({ event, resolve }))
    },
  }
}

/**
 * Starts the example's load balancer on 127.0.0.1 port 0 (TCP checks every minute unless told
 * otherwise) and closes it when the test ends.
 * @param options - at least the upstreams
 */
export async function startLb(
  options: Partial<HealthCheckedLbOptions> & { upstreams: string[] },
): Promise<RunningLb> {
  const running = await startHealthCheckedLb({
    listen: '127.0.0.1:0',
    healthCheck: 'tcp',
    healthPath: '/health',
    healthCheckFrequencyMs: 60_000,
    ...options,
  })
  onTestFinished(() => running.close())
  return running
}

/**
 * The upstream the load balancer picks now for a hashing key (`undefined` when none is ready).
 * @param lb - the running load balancer
 * @param key - the `x-user` value
 */
export function ownerOf(lb: RunningLb, key: string): string | undefined {
  return lb.upstreams.select(Buffer.from(key, 'latin1'), 256)?.addr
}

/**
 * The first `user-N` key whose upstream is `addr`.
 * @param lb - the running load balancer
 * @param addr - the upstream
 */
export function keyOwnedBy(lb: RunningLb, addr: string): string {
  for (let i = 0; i < 10_000; i++) {
    if (ownerOf(lb, `user-${i}`) === addr) return `user-${i}`
  }
  throw new Error(`no key maps to ${addr}`)
}
