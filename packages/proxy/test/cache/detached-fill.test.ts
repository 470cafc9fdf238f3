// A fill whose own client leaves: the proxy keeps reading the origin's body into the storage
// (within maxDetachedFillBytes), so the readers streaming it and the next request get the
// whole response; past the bound the fill is dropped and the upstream connection closed.
import { mkdtemp, rm } from 'node:fs/promises'
import type http from 'node:http'
import type net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DiskStorage } from '@pingora-ts/cache'
import type { Session } from '@pingora-ts/proxy'
import { describe, expect, it, onTestFinished } from 'vitest'
import { rawClient } from '../helpers.ts'
import { cachingProxy, client, countingOrigin, TestClock } from './cache-helpers.ts'

const HEAD_PART = 'a'.repeat(1000)
const REST = 'b'.repeat(16 * 1024)

/** A promise and its resolver. */
function deferred<T = void>() {
  let resolve!: (value: T) => void
  const promise = new Promise<T>((r) => {
    resolve = r
  })
  return { promise, resolve }
}

/**
 * An origin that sends the first part of the body of its first response, then the rest once
 * the test says so (in pieces); later responses in one go. `closed` resolves when the first
 * response's connection closes.
 */
async function pausingOrigin(options: { contentLength: boolean; restPieces: number }) {
  const release = deferred()
  const firstClosed = deferred()
  const sockets = new Set<net.Socket>()
  const body = HEAD_PART + REST.repeat(options.restPieces)
  const origin = await countingOrigin((req, res) => {
    sockets.add(req.socket)
    const headers: http.OutgoingHttpHeaders = { 'cache-control': 'max-age=60' }
    if (options.contentLength) headers['content-length'] = body.length
    res.writeHead(200, headers)
    if (origin.calls > 1) {
      res.end(body)
      return
    }
    req.socket.once('close', () => firstClosed.resolve())
    res.write(HEAD_PART)
    void release.promise.then(async () => {
      for (let i = 0; i < options.restPieces && !res.destroyed; i++) {
        await new Promise<void>((resolve) => res.write(REST, () => resolve()))
      }
      if (!res.destroyed) res.end()
    })
  })
  return { origin, body, release: release.resolve, firstClosed: firstClosed.promise, sockets }
}

/**
 * Phases that record, per request path, a promise resolved when the proxy's side of that
 * client's connection closes (so the test knows the proxy saw the client leave).
 */
function downstreamClosedWatch() {
  const closed = new Map<string, Promise<void>>()
  return {
    closed,
    phases: {
      responseFilter(session: Session, response: { insertHeader(n: string, v: string): void }) {
        if (session.cacheStatus !== undefined) {
          response.insertHeader('X-Cache-Status', session.cacheStatus.toUpperCase())
        }
        const socket = (session.downstreamSession as unknown as { stream: { socket: net.Socket } })
          .stream.socket
        const id = session.requestHeader.getHeader('x-id') ?? ''
        if (!closed.has(id)) {
          closed.set(id, new Promise((resolve) => socket.once('close', () => resolve())))
        }
      },
    },
  }
}

/** Sends a GET on a raw connection and waits until the first body bytes arrive. */
async function startGet(port: number, path: string, id: string) {
  const raw = await rawClient(port)
  raw.socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nX-Id: ${id}\r\n\r\n`)
  await raw.waitFor(/\r\n\r\n[\s\S]*a/)
  return raw
}

describe('a fill whose client leaves', () => {
  for (const contentLength of [true, false]) {
    it(`completes the entry (${contentLength ? 'Content-Length' : 'chunked'})`, async () => {
      const clock = new TestClock()
      const { origin, body, release } = await pausingOrigin({ contentLength, restPieces: 8 })
      const watch = downstreamClosedWatch()
      const proxy = await cachingProxy(origin.port, { clock, phases: watch.phases })
      const first = await startGet(proxy.port, '/leave', 'first')
      first.socket.resetAndDestroy()
      await watch.closed.get('first')
      release()
      // The next request waits for the fill (lock or partial write) and gets it whole.
      const get = client()
      const second = await get(proxy.url, '/leave')
      expect([second.status, second.body.length, second.body === body]).toEqual([
        200,
        body.length,
        true,
      ])
      const third = await get(proxy.url, '/leave')
      expect([third.cacheStatus, third.body === body]).toEqual(['HIT', true])
      expect(origin.calls).toBe(1)
    })
  }

  it('streams the whole body to a reader of the partial write after the filler left', async () => {
    const clock = new TestClock()
    const { origin, body, release } = await pausingOrigin({ contentLength: false, restPieces: 8 })
    const watch = downstreamClosedWatch()
    const proxy = await cachingProxy(origin.port, { clock, phases: watch.phases })
    const first = await startGet(proxy.port, '/share', 'first')
    // A second client streams the entry being written (memory storage: partial writes).
    const second = await startGet(proxy.port, '/share', 'second')
    expect(second.received()).toMatch(/x-cache-status: HIT/i)
    first.socket.resetAndDestroy()
    await watch.closed.get('first')
    release()
    const text = await second.waitFor(/\r\n0\r\n\r\n$/)
    const decoded = text
      .slice(text.indexOf('\r\n\r\n') + 4)
      .replace(/(^|\r\n)[0-9a-f]+\r\n/g, '')
      .replace(/\r\n$/, '')
    expect([decoded.length, decoded === body]).toEqual([body.length, true])
    const get = client()
    const third = await get(proxy.url, '/share')
    expect([third.cacheStatus, third.body === body]).toEqual(['HIT', true])
    expect(origin.calls).toBe(1)
  })

  it('hands a completed fill to a request waiting on the lock (disk storage)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pingora-detached-'))
    onTestFinished(() => rm(dir, { recursive: true, force: true }))
    const storage = await DiskStorage.open({ directory: dir, maxBytes: 16 << 20 })
    const clock = new TestClock()
    const { origin, body, release } = await pausingOrigin({ contentLength: true, restPieces: 8 })
    const watch = downstreamClosedWatch()
    const proxy = await cachingProxy(origin.port, { clock, storage, phases: watch.phases })
    const first = await startGet(proxy.port, '/disk', 'first')
    const get = client()
    // Waits on the lock: the disk storage shows an entry only once committed.
    const waiting = get(proxy.url, '/disk')
    first.socket.resetAndDestroy()
    await watch.closed.get('first')
    release()
    const second = await waiting
    expect([second.cacheStatus, second.body === body]).toEqual(['HIT', true])
    expect(origin.calls).toBe(1)
  })

  for (const contentLength of [true, false]) {
    it(`past maxDetachedFillBytes stores nothing and closes the upstream connection (${
      contentLength ? 'Content-Length' : 'chunked'
    })`, async () => {
      const clock = new TestClock()
      const { origin, body, release, firstClosed, sockets } = await pausingOrigin({
        contentLength,
        restPieces: 8,
      })
      const watch = downstreamClosedWatch()
      const proxy = await cachingProxy(origin.port, {
        clock,
        maxDetachedFillBytes: 64 * 1024,
        phases: watch.phases,
      })
      const first = await startGet(proxy.port, '/big', 'first')
      first.socket.resetAndDestroy()
      await watch.closed.get('first')
      release()
      // The proxy closes the upstream connection instead of pooling it half read.
      await firstClosed
      const get = client()
      const second = await get(proxy.url, '/big')
      expect([second.cacheStatus, second.body === body]).toEqual(['MISS', true])
      expect(origin.calls).toBe(2)
      expect(sockets.size).toBe(2)
      expect(proxy.logged.map((entry) => entry.reason)).toContain('DetachedFillTooLarge')
      expect((await get(proxy.url, '/big')).cacheStatus).toBe('HIT')
    })
  }

  it('maxDetachedFillBytes 0 aborts the fill when the client leaves', async () => {
    const clock = new TestClock()
    const { origin, release } = await pausingOrigin({ contentLength: false, restPieces: 2 })
    const watch = downstreamClosedWatch()
    const proxy = await cachingProxy(origin.port, {
      clock,
      maxDetachedFillBytes: 0,
      phases: watch.phases,
    })
    const first = await startGet(proxy.port, '/zero', 'first')
    first.socket.resetAndDestroy()
    await watch.closed.get('first')
    release()
    const get = client()
    expect((await get(proxy.url, '/zero')).cacheStatus).toBe('MISS')
    expect(proxy.logged.map((entry) => entry.reason)).toContain('DetachedFillTooLarge')
  })
})
