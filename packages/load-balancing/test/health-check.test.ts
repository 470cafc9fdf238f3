import { once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import http from 'node:http'
import net, { type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { HttpConnector } from '@pingora-ts/core'
import { PingoraError } from '@pingora-ts/error'
import { RequestHeader } from '@pingora-ts/http'
import { readCert } from '@pingora-ts/test-utils'
import { describe, expect, it, onTestFinished } from 'vitest'
import { Backend } from '../src/backend.ts'
import { HttpHealthCheck } from '../src/http-health-check.ts'
import { LoadBalancer } from '../src/load-balancer.ts'
import { RoundRobin } from '../src/selection/weighted.ts'
import { TcpHealthCheck } from '../src/tcp-health-check.ts'
import {
  httpBackend,
  type SwitchableBackend,
  silentBackend,
  tcpBackend,
  tlsBackend,
} from './helpers/backends.ts'

const EMPTY = new Uint8Array()
const CA = readCert('ca.pem')

function cleanup<T extends SwitchableBackend>(backend: T): T {
  onTestFinished(() => backend.close())
  return backend
}

async function failure(promise: Promise<unknown>): Promise<PingoraError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  if (!PingoraError.is(error)) throw new Error(`expected a PingoraError, got ${String(error)}`)
  return error
}

/** A changes log fed by the health callbacks. */
function recorder() {
  const changes: string[] = []
  return {
    changes,
    callback: (backend: Backend, healthy: boolean) => {
      changes.push(`${backend.addr} ${healthy ? 'up' : 'down'}`)
    },
  }
}

describe('TcpHealthCheck', () => {
  it('passes when the backend accepts and fails with ConnectRefused when it is down', async () => {
    const server = cleanup(await tcpBackend())
    const check = new TcpHealthCheck()
    const backend = Backend.new(server.addr)
    await expect(check.check(backend)).resolves.toBeUndefined()
    await server.down()
    const error = await failure(check.check(backend))
    expect(error.type).toBe('ConnectRefused')
    expect(error.source).toBe('upstream')
  })

  it('checks unix socket backends', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pingora-ts-hc-'))
    onTestFinished(() => rm(dir, { recursive: true, force: true }))
    const server = cleanup(await tcpBackend(join(dir, 'b.sock')))
    await expect(new TcpHealthCheck().check(Backend.new(server.addr))).resolves.toBeUndefined()
  })

  it('checks IPv6 backends', async () => {
    const server = net.createServer()
    server.listen(0, '::1')
    await once(server, 'listening')
    onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())))
    const { port } = server.address() as AddressInfo
    await expect(new TcpHealthCheck().check(Backend.new(`[::1]:${port}`))).resolves.toBeUndefined()
  })

  it('completes a TLS handshake with newTls and rejects a certificate for another name', async () => {
    const good = cleanup(await tlsBackend())
    const check = TcpHealthCheck.newTls('localhost', { peerOptions: { ca: CA } })
    await expect(check.check(Backend.new(good.addr))).resolves.toBeUndefined()
    const { certs } = await import('@pingora-ts/test-utils')
    const wrong = cleanup(await tlsBackend(certs.wrongHost))
    const error = await failure(check.check(Backend.new(wrong.addr)))
    expect(error.type).toBe('InvalidCert')
    expect(error.source).toBe('upstream')
  })

  it('fails a TLS check whose handshake never completes within the connect timeout', async () => {
    const silent = cleanup(await silentBackend())
    const check = TcpHealthCheck.newTls('localhost', {
      connectTimeoutMs: 50,
      peerOptions: { ca: CA },
    })
    const error = await failure(check.check(Backend.new(silent.addr)))
    expect(error.type).toBe('TLSHandshakeTimedout')
  })

  it('rejects a zero threshold with an exact message', () => {
    expect(() => new TcpHealthCheck({ consecutiveFailure: 0 })).toThrow(
      new RangeError('consecutiveFailure must be a positive integer, got 0'),
    )
  })

  it('marks a backend down when its listener closes and up when it reopens on the same port', async () => {
    const a = cleanup(await tcpBackend())
    const b = cleanup(await tcpBackend())
    const log = recorder()
    const lb = LoadBalancer.tryFromIter(RoundRobin, [a.addr, b.addr], {
      healthCheck: new TcpHealthCheck({ healthChangedCallback: log.callback }),
    })
    await lb.runHealthCheck()
    expect(log.changes).toEqual([])
    await a.down()
    await lb.runHealthCheck()
    expect(log.changes).toEqual([`${a.addr} down`])
    expect(lb.isReady(Backend.new(a.addr))).toBe(false)
    for (let i = 0; i < 6; i++) expect(String(lb.select(EMPTY, 4))).toBe(b.addr)
    await a.up()
    await lb.runHealthCheck()
    expect(log.changes).toEqual([`${a.addr} down`, `${a.addr} up`])
    const picks = new Set(Array.from({ length: 4 }, () => String(lb.select(EMPTY, 4))))
    expect(picks).toEqual(new Set([a.addr, b.addr]))
  })

  it('honours consecutive thresholds in both directions, in parallel mode too', async () => {
    const a = cleanup(await tcpBackend())
    const log = recorder()
    const lb = LoadBalancer.tryFromIter(RoundRobin, [a.addr], {
      parallelHealthCheck: true,
      healthCheck: new TcpHealthCheck({
        consecutiveFailure: 3,
        consecutiveSuccess: 2,
        healthChangedCallback: log.callback,
      }),
    })
    const backend = Backend.new(a.addr)
    await a.down()
    await lb.runHealthCheck()
    await lb.runHealthCheck()
    expect(lb.isHealthy(backend)).toBe(true)
    await lb.runHealthCheck()
    expect(lb.isHealthy(backend)).toBe(false)
    expect(lb.select(EMPTY, 4)).toBeUndefined()
    await a.up()
    await lb.runHealthCheck()
    expect(lb.isHealthy(backend)).toBe(false)
    await lb.runHealthCheck()
    expect(lb.isHealthy(backend)).toBe(true)
    expect(log.changes).toEqual([`${a.addr} down`, `${a.addr} up`])
  })
})

describe('HttpHealthCheck', () => {
  it('sends GET / with the Host header and passes on 200', async () => {
    const origin = cleanup(await httpBackend())
    const check = new HttpHealthCheck({ host: 'api.internal' })
    await check.check(Backend.new(origin.addr))
    expect(origin.seen).toEqual(['GET / api.internal'])
  })

  it('fails on a non-200 status with CustomCode("non 200 code", status)', async () => {
    const origin = cleanup(await httpBackend())
    origin.state.status = 503
    const error = await failure(new HttpHealthCheck({ host: 'x' }).check(Backend.new(origin.addr)))
    expect(error.type).toBe('non 200 code')
    expect(error.status).toBe(503)
    expect(error.source).toBe('upstream')
  })

  it('sends a custom request and lets a validator decide on the response header', async () => {
    const origin = cleanup(await httpBackend())
    origin.state.status = 204
    const request = RequestHeader.build('HEAD', '/healthz')
    request.insertHeader('Host', 'svc')
    const statuses: number[] = []
    const check = new HttpHealthCheck({
      host: 'svc',
      request,
      validator: (response) => {
        statuses.push(response.status)
        if (response.status >= 300) throw new Error(`status ${response.status}`)
      },
    })
    await check.check(Backend.new(origin.addr))
    origin.state.status = 302
    await expect(check.check(Backend.new(origin.addr))).rejects.toThrow('status 302')
    expect(statuses).toEqual([204, 302])
    expect(origin.seen).toEqual(['HEAD /healthz svc', 'HEAD /healthz svc'])
  })

  it('checks a backend listening on a unix socket', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pingora-ts-hc-'))
    onTestFinished(() => rm(dir, { recursive: true, force: true }))
    const path = join(dir, 'http.sock')
    const seen: string[] = []
    const server = http.createServer((request, response) => {
      seen.push(String(request.headers.host))
      response.end('ok')
    })
    server.listen(path)
    await once(server, 'listening')
    onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())))
    await new HttpHealthCheck({ host: 'uds.local' }).check(Backend.new(`unix:${path}`))
    expect(seen).toEqual(['uds.local'])
  })

  it('probes the override port on the backend address', async () => {
    const origin = cleanup(await httpBackend())
    const dead = cleanup(await tcpBackend())
    await dead.down()
    const check = new HttpHealthCheck({ host: 'x', portOverride: origin.port })
    await check.check(Backend.new(dead.addr))
    expect(origin.seen).toHaveLength(1)
  })

  it('opens a fresh connection per check unless reuseConnection is set', async () => {
    const origin = cleanup(await httpBackend())
    const backend = Backend.new(origin.addr)
    const fresh = new HttpHealthCheck({ host: 'x' })
    for (let i = 0; i < 3; i++) await fresh.check(backend)
    expect(origin.connections()).toBe(3)
    const connector = new HttpConnector()
    const reusing = new HttpHealthCheck({ host: 'x', reuseConnection: true, connector })
    for (let i = 0; i < 3; i++) await reusing.check(backend)
    expect(origin.connections()).toBe(4)
    expect(connector.stats().reusedConnections).toBe(2)
  })

  it('fails with ReadTimedout when the backend accepts but never answers', async () => {
    const silent = cleanup(await silentBackend())
    const check = new HttpHealthCheck({ host: 'x', readTimeoutMs: 50 })
    const error = await failure(check.check(Backend.new(silent.addr)))
    expect(error.type).toBe('ReadTimedout')
  })

  it('speaks HTTPS with tls: true and verifies the certificate against the host', async () => {
    const { startOrigin } = await import('@pingora-ts/test-utils')
    const origin = await startOrigin((_req, res) => res.end('ok'), { protocol: 'https' })
    onTestFinished(origin.close)
    const check = new HttpHealthCheck({ host: 'localhost', tls: true, peerOptions: { ca: CA } })
    await check.check(Backend.new(`127.0.0.1:${origin.port}`))
    const wrongName = new HttpHealthCheck({
      host: 'other.test',
      tls: true,
      peerOptions: { ca: CA },
    })
    const error = await failure(wrongName.check(Backend.new(`127.0.0.1:${origin.port}`)))
    expect(error.type).toBe('InvalidCert')
  })

  it('takes an HTTP backend out of rotation while it fails and back when it recovers', async () => {
    const a = cleanup(await httpBackend())
    const b = cleanup(await httpBackend())
    const log = recorder()
    const lb = LoadBalancer.tryFromIter(RoundRobin, [a.addr, b.addr], {
      healthCheck: new HttpHealthCheck({
        host: 'x',
        consecutiveFailure: 2,
        healthChangedCallback: log.callback,
      }),
    })
    a.state.status = 500
    await lb.runHealthCheck()
    expect(lb.isReady(Backend.new(a.addr))).toBe(true)
    await lb.runHealthCheck()
    expect(lb.isReady(Backend.new(a.addr))).toBe(false)
    for (let i = 0; i < 4; i++) expect(String(lb.select(EMPTY, 4))).toBe(b.addr)
    // Going fully down and coming back on the same port.
    await a.down()
    await lb.runHealthCheck()
    a.state.status = 200
    await a.up()
    await lb.runHealthCheck()
    expect(lb.isReady(Backend.new(a.addr))).toBe(true)
    expect(log.changes).toEqual([`${a.addr} down`, `${a.addr} up`])
  })
})

describe('LoadBalancer background service with real health checks', () => {
  it('notices a backend going down and coming back while running, then stops on abort', async () => {
    const a = cleanup(await tcpBackend())
    const b = cleanup(await tcpBackend())
    let notify: (() => void) | undefined
    const log: string[] = []
    const lb = LoadBalancer.tryFromIter(RoundRobin, [a.addr, b.addr], {
      healthCheckFrequencyMs: 10,
      healthCheck: new TcpHealthCheck({
        healthChangedCallback: (backend, healthy) => {
          log.push(`${backend.addr} ${healthy ? 'up' : 'down'}`)
          notify?.()
        },
      }),
    })
    const shutdown = new AbortController()
    const running = lb.start(shutdown.signal)
    await lb.ready
    const nextChange = () =>
      new Promise<void>((resolve) => {
        notify = resolve
      })
    let changed = nextChange()
    await a.down()
    await changed
    expect(String(lb.select(EMPTY, 4))).toBe(b.addr)
    changed = nextChange()
    await a.up()
    await changed
    expect(log).toEqual([`${a.addr} down`, `${a.addr} up`])
    shutdown.abort()
    await running
  })
})
