// Issue 17, "Faults under load": the proxy under steady load (keep-alive and new connections)
// while origins reset mid-body, stall after the header, close idle pooled connections and send
// garbage, and clients abort at every phase. Nothing crashes, every response carries its own
// request id, and afterwards no descriptor, connection or pooled connection is left over and
// memory is back to its baseline.
import { readdirSync } from 'node:fs'
import net from 'node:net'
import v8 from 'node:v8'
import vm from 'node:vm'
import { Agent, request } from 'undici'
import { describe, expect, it, onTestFinished } from 'vitest'
import { peerFor, raw, startProxy } from './helpers.ts'

v8.setFlagsFromString('--expose-gc')
const gc = vm.runInNewContext('gc') as () => void

const LOAD_MS = 3_000

/** Open descriptors of this process. */
function descriptors(): number {
  return readdirSync('/proc/self/fd').length
}

function waitUntil(check: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  return new Promise((resolve, reject) => {
    const poll = () => {
      if (check()) resolve()
      else if (Date.now() > deadline) reject(new Error(`timed out waiting for ${what}`))
      else setTimeout(poll, 20)
    }
    poll()
  })
}

/** The origin: answers by path; counts its open connections. */
async function faultyOrigin() {
  const open = new Set<net.Socket>()
  const o = await raw((socket) => {
    open.add(socket)
    socket.on('close', () => open.delete(socket))
    socket.on('error', () => {})
    let pending = Buffer.alloc(0)
    let bodyLeft = 0
    socket.on('data', (data: Buffer) => {
      pending = Buffer.concat([pending, data])
      for (;;) {
        if (bodyLeft > 0) {
          const take = Math.min(bodyLeft, pending.length)
          bodyLeft -= take
          pending = pending.subarray(take)
          if (bodyLeft > 0) return
        }
        const end = pending.indexOf('\r\n\r\n')
        if (end === -1) return
        const head = pending.toString('latin1', 0, end)
        pending = pending.subarray(end + 4)
        bodyLeft = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0)
        const path = head.slice(head.indexOf(' ') + 1, head.indexOf(' ', head.indexOf(' ') + 1))
        const id = /\r\nx-request-id: *([^\r]*)/i.exec(head)?.[1] ?? ''
        const body = `id:${id}`
        const ok = `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\nX-Request-Id: ${id}\r\n\r\n${body}`
        switch (path) {
          case '/reset':
            socket.write(
              `HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nX-Request-Id: ${id}\r\n\r\n0123456789`,
            )
            setImmediate(() => socket.resetAndDestroy())
            return
          case '/stall':
            socket.write(`HTTP/1.1 200 OK\r\nContent-Length: 100\r\nX-Request-Id: ${id}\r\n\r\nabc`)
            return
          case '/garbage':
            socket.end('\x00\x01GARBAGE \r\n\r\n')
            return
          case '/close-after':
            // Answers, then closes the connection once it sits idle in the proxy's pool.
            socket.write(ok)
            setTimeout(() => socket.end(), 2)
            break
          case '/slow-body': {
            socket.write(`HTTP/1.1 200 OK\r\nContent-Length: 2000\r\nX-Request-Id: ${id}\r\n\r\n`)
            let sent = 0
            const timer = setInterval(() => {
              if (socket.destroyed || sent >= 2000) {
                clearInterval(timer)
                return
              }
              socket.write('s'.repeat(200))
              sent += 200
            }, 5)
            socket.once('close', () => clearInterval(timer))
            return
          }
          default:
            socket.write(ok)
        }
      }
    })
  })
  return { port: o.port, open }
}

describe('faults under load', () => {
  it('survives faulty origins and aborting clients, answers every request with its own id, and leaks nothing', async () => {
    const origin = await faultyOrigin()
    const p = await startProxy({
      newCtx: () => undefined,
      // Request bodies are read whole before the upstream request (bufferRequestBody): clients
      // that abort inside the body meet it too.
      async requestFilter(session) {
        if (session.requestHeader.method === 'POST') await session.bufferRequestBody()
        return false
      },
      upstreamPeer: () => peerFor(origin.port, { readTimeoutMs: 300, idleTimeoutMs: 2_000 }),
    })
    const service = p.service
    const connector = p.proxy.clientUpstream
    const agent = new Agent({ connections: 8, keepAliveTimeout: 10_000 })
    onTestFinished(() => agent.close().catch(() => {}))

    let nextId = 0
    const wrongIds: string[] = []
    const statuses = new Map<string, number>()
    const count = (key: string) => statuses.set(key, (statuses.get(key) ?? 0) + 1)

    const keepAliveRequest = async (path: string) => {
      const id = `k${nextId++}`
      try {
        const post = path === '/post'
        const response = await request(`${p.url}${path}`, {
          dispatcher: agent,
          headers: { 'x-request-id': id },
          method: post ? 'POST' : 'GET',
          body: post ? 'p'.repeat(3000) : undefined,
        })
        const header = response.headers['x-request-id']
        if (header !== undefined && header !== id) wrongIds.push(`${id} got header ${header}`)
        const text = await response.body.text()
        const echoes = path === '/ok' || path === '/close-after' || path === '/post'
        if (response.statusCode === 200 && echoes && text !== `id:${id}`) {
          wrongIds.push(`${id} got ${text.slice(0, 40)}`)
        }
        count(`${path} ${response.statusCode}`)
      } catch {
        count(`${path} error`)
      }
    }

    const newConnectionRequest = (path: string) =>
      new Promise<void>((resolve) => {
        const id = `n${nextId++}`
        const socket = net.connect(p.port, '127.0.0.1')
        let text = ''
        socket.on('data', (d: Buffer) => {
          text += d.toString('latin1')
        })
        socket.on('error', () => {})
        socket.on('close', () => {
          const header = /\r\nX-Request-Id: ([^\r]*)/i.exec(text)?.[1]
          if (header !== undefined && header !== id) wrongIds.push(`${id} got header ${header}`)
          if (
            text.startsWith('HTTP/1.1 200') &&
            path.startsWith('/ok') &&
            !text.endsWith(`id:${id}`)
          ) {
            wrongIds.push(`${id} got ${text}`)
          }
          count(`new ${path} ${text.slice(9, 12) || 'closed'}`)
          resolve()
        })
        socket.write(
          `GET ${path} HTTP/1.1\r\nHost: x\r\nX-Request-Id: ${id}\r\nConnection: close\r\n\r\n`,
        )
      })

    /** A client that gives up at phase `phase` of the exchange. */
    const abortingClient = (phase: number) =>
      new Promise<void>((resolve) => {
        const socket = net.connect(p.port, '127.0.0.1')
        socket.on('error', () => {})
        socket.on('close', () => resolve())
        socket.once('connect', () => {
          switch (phase) {
            case 0: // inside the request head
              socket.write('GET /ok HTTP/1.1\r\nHost: x\r\nX-Req')
              setImmediate(() => socket.destroy())
              break
            case 1: // right after the head, before any answer
              socket.write('GET /slow-body HTTP/1.1\r\nHost: x\r\n\r\n')
              setImmediate(() => socket.destroy())
              break
            case 2: // after the response header, inside the response body
              socket.write('GET /slow-body HTTP/1.1\r\nHost: x\r\n\r\n')
              socket.once('data', () => socket.destroy())
              break
            case 3: // inside the request body
              socket.write('POST /ok HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789')
              setImmediate(() => socket.destroy())
              break
            default: // a reset (RST) instead of a FIN, inside the request body
              socket.write('POST /ok HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n01234')
              setImmediate(() => socket.resetAndDestroy())
          }
        })
      })

    // Warm up, then take the baselines (the pool holds some idle connections by then).
    for (let i = 0; i < 50; i++) await keepAliveRequest('/ok')
    gc()
    const heapBefore = process.memoryUsage().heapUsed
    const fdsBefore = descriptors()
    const idleBefore = connector.stats().idle
    const originOpenBefore = origin.open.size

    const paths = [
      '/ok',
      '/ok',
      '/ok',
      '/close-after',
      '/reset',
      '/stall',
      '/garbage',
      '/slow-body',
      '/post',
    ]
    const until = Date.now() + LOAD_MS
    const loop = async (step: (i: number) => Promise<void>) => {
      for (let i = 0; Date.now() < until; i++) await step(i)
    }
    await Promise.all([
      ...Array.from({ length: 8 }, (_, k) =>
        loop((i) => keepAliveRequest(paths[(i + k) % paths.length] as string)),
      ),
      ...Array.from({ length: 3 }, (_, k) =>
        loop((i) => newConnectionRequest(i % 3 === 0 ? '/garbage' : `/ok?${k}`)),
      ),
      ...Array.from({ length: 3 }, (_, k) => loop((i) => abortingClient((i + k) % 5))),
    ])

    // Nobody got somebody else's response, and every kind of fault was met.
    expect(wrongIds).toEqual([])
    // (Each keep-alive loop starts on a different path, so every fault is met at least once.)
    expect(statuses.get('/ok 200') ?? 0).toBeGreaterThan(8)
    expect(statuses.get('/close-after 200') ?? 0).toBeGreaterThan(0)
    expect(statuses.get('/post 200') ?? 0).toBeGreaterThan(0)
    expect(statuses.get('/garbage 502') ?? 0).toBeGreaterThan(0)
    expect(statuses.get('/stall error') ?? 0).toBeGreaterThan(0)
    expect(statuses.get('/reset error') ?? 0).toBeGreaterThan(0)
    // A pooled connection the origin closed is never used for a request: those always succeed.
    expect(statuses.get('/close-after error') ?? 0).toBe(0)
    expect(statuses.get('/close-after 502') ?? 0).toBe(0)

    // Afterwards: no client connection left, every upstream connection either pooled or closed.
    await agent.close()
    await waitUntil(() => service.connectionCount === 0, 'client connections to close')
    await waitUntil(
      () => origin.open.size === connector.stats().idle,
      `origin connections (${origin.open.size}) to match the pool (${connector.stats().idle})`,
    )
    expect(connector.stats().idle).toBeLessThanOrEqual(Math.max(idleBefore, 8))
    // Descriptors: the same as before, give or take the pooled pairs (two descriptors each, both
    // ends live in this process) and the agent's sockets, now closed.
    const pooledDelta = 2 * (origin.open.size - originOpenBefore)
    await waitUntil(
      () => descriptors() <= fdsBefore + pooledDelta,
      `descriptors back to ${fdsBefore + pooledDelta} (now ${descriptors()})`,
    )
    gc()
    const heapAfter = process.memoryUsage().heapUsed
    expect(heapAfter - heapBefore).toBeLessThan(8 * 1024 * 1024)
  }, 20_000)
})
