import net from 'node:net'
import type { PingoraError } from '@pingora-ts/error'
import { describe, expect, it, onTestFinished } from 'vitest'
import { STREAM_READ_HIGH_WATER, Stream } from './stream.ts'

/** A connected pair: `stream` wraps the server side, `peer` is the raw client socket. */
async function pair(): Promise<{ stream: Stream; peer: net.Socket }> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve))
  const peer = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1')
  peer.on('error', () => {})
  const socket = await accepted
  await new Promise<void>((resolve) =>
    peer.connecting ? peer.once('connect', resolve) : resolve(),
  )
  const stream = new Stream(socket)
  onTestFinished(() => {
    stream.destroy()
    peer.destroy()
    server.close()
  })
  return { stream, peer }
}

async function rejection(promise: Promise<unknown>): Promise<PingoraError> {
  try {
    await promise
  } catch (error) {
    return error as PingoraError
  }
  throw new Error('expected a rejection')
}

describe('Stream', () => {
  it('gives each stream a unique id and a digest with both addresses', async () => {
    const a = await pair()
    const b = await pair()
    expect(a.stream.id).not.toBe(b.stream.id)
    expect(a.stream.digest.peerAddr?.address).toBe('127.0.0.1')
    expect(a.stream.digest.localAddr?.port).toBeGreaterThan(0)
    expect(a.stream.digest.tls).toBeUndefined()
  })

  it('reads what the peer sends and resolves undefined at end of stream', async () => {
    const { stream, peer } = await pair()
    peer.end('hello')
    let text = ''
    for (let c = await stream.read(); c !== undefined; c = await stream.read()) text += c
    expect(text).toBe('hello')
    expect(stream.readEnded).toBe(true)
  })

  it('returns unread bytes first, in order', async () => {
    const { stream, peer } = await pair()
    peer.write('world')
    const first = await stream.read()
    stream.unread(Buffer.from('hello '))
    expect(stream.bufferedLength).toBe(6)
    expect(stream.tryRead()?.toString()).toBe('hello ')
    expect(first?.toString()).toBe('world')
    expect(stream.tryRead()).toBeUndefined()
  })

  it('pauses the socket once the read queue passes the high-water mark', async () => {
    const { stream, peer } = await pair()
    const total = 8 * STREAM_READ_HIGH_WATER
    peer.write(Buffer.alloc(total, 1))
    // Nothing reads: the queue must stay bounded while the rest waits in TCP buffers.
    await new Promise<void>((resolve) => {
      const check = (): void => {
        if (stream.socket.isPaused()) resolve()
        else setImmediate(check)
      }
      check()
    })
    expect(stream.bufferedLength).toBeLessThan(total)
    let received = 0
    while (received < total) received += (await stream.read())?.length ?? 0
    expect(received).toBe(total)
  })

  it('rejects a read with ReadTimedout when nothing arrives in time', async () => {
    const { stream } = await pair()
    const error = await rejection(stream.read(20, 'waiting'))
    expect(error.type).toBe('ReadTimedout')
    expect(error.source).toBe('downstream')
  })

  it('does not time out a later read without a timeout because of an earlier timed read', async () => {
    const { stream, peer } = await pair()
    peer.write('a')
    expect((await stream.read(20))?.toString()).toBe('a')
    const later = stream.read()
    // A second stream's identical timed read fails after the first read's deadline has passed
    // on the same timer wheel; the untimed read must still be pending then.
    const other = await pair()
    expect((await rejection(other.stream.read(20))).type).toBe('ReadTimedout')
    let settled = false
    void later.then(
      () => {
        settled = true
      },
      () => {
        settled = true
      },
    )
    await Promise.resolve()
    expect(settled).toBe(false)
    peer.write('b')
    expect((await later)?.toString()).toBe('b')
  })

  it('rejects concurrent reads as an internal error', async () => {
    const { stream, peer } = await pair()
    const first = stream.read()
    const error = await rejection(stream.read())
    expect(error.type).toBe('InternalError')
    peer.write('x')
    expect((await first)?.toString()).toBe('x')
  })

  it('settles a pending read with undefined on cancelRead', async () => {
    const { stream } = await pair()
    const pending = stream.read()
    stream.cancelRead()
    expect(await pending).toBeUndefined()
  })

  it('reports a reset as ReadError', async () => {
    const { stream, peer } = await pair()
    const pending = stream.read()
    peer.resetAndDestroy()
    const result = await pending.then(
      (v) => v,
      (e: PingoraError) => e,
    )
    // Depending on timing the kernel reports the reset or a plain close.
    if (result === undefined) expect(stream.readEnded).toBe(true)
    else expect((result as PingoraError).type).toBe('ReadError')
  })

  it('throws WriteError when writing after destroy', async () => {
    const { stream } = await pair()
    stream.destroy()
    let error: unknown
    try {
      stream.write('x')
    } catch (e) {
      error = e
    }
    expect((error as PingoraError).type).toBe('WriteError')
    expect(stream.closed).toBe(true)
  })

  it('times out a drain when the peer does not read (WriteTimedout)', async () => {
    const { stream, peer } = await pair()
    peer.pause()
    const chunk = Buffer.alloc(1024 * 1024)
    let error: PingoraError | undefined
    for (let i = 0; i < 256 && error === undefined; i++) {
      if (!stream.write(chunk)) error = await rejection(stream.drain(30))
    }
    expect(error?.type).toBe('WriteTimedout')
  })

  it('closes gracefully: the peer reads everything then sees the end', async () => {
    const { stream, peer } = await pair()
    const data = Buffer.alloc(1024 * 1024, 7)
    stream.write(data)
    stream.close()
    expect(stream.closed).toBe(true)
    let received = 0
    peer.on('data', (c: Buffer) => {
      received += c.length
    })
    await new Promise<void>((resolve) => peer.once('end', resolve))
    expect(received).toBe(data.length)
    peer.end()
    await new Promise<void>((resolve) => stream.socket.once('close', () => resolve()))
  })

  it('resolves waitForEnd when the peer ends, without consuming queued bytes', async () => {
    const { stream, peer } = await pair()
    const ended = stream.waitForEnd()
    peer.end('queued')
    await ended
    expect(stream.peerEnded).toBe(true)
    expect(stream.tryRead()?.toString()).toBe('queued')
  })

  it('coalesces writes made in one tick with corkForTick', async () => {
    const { stream, peer } = await pair()
    const chunks: string[] = []
    peer.on('data', (c: Buffer) => chunks.push(c.toString()))
    stream.corkForTick()
    stream.write('a')
    stream.write('b')
    stream.write('c')
    stream.close()
    await new Promise<void>((resolve) => peer.once('end', resolve))
    expect(chunks.join('')).toBe('abc')
    expect(chunks).toHaveLength(1)
  })

  it('cancels only the idle waits when the shutdown signal aborts, on streams reused many times', async () => {
    const controller = new AbortController()
    const idle = await pair()
    const busy = await pair()
    for (let i = 0; i < 3; i++) {
      const next = idle.stream.readIdle(60_000, controller.signal)
      idle.peer.write(`request ${i}`)
      expect((await next)?.toString()).toBe(`request ${i}`)
    }
    const waiting = idle.stream.readIdle(60_000, controller.signal)
    // Idle once, then busy: a body read is not an idle wait and must not be cancelled.
    busy.peer.write('first')
    expect((await busy.stream.readIdle(60_000, controller.signal))?.toString()).toBe('first')
    const bodyRead = busy.stream.read(60_000)
    controller.abort()
    expect(await waiting).toBeUndefined()
    busy.peer.write('body')
    expect((await bodyRead)?.toString()).toBe('body')
    expect(await busy.stream.readIdle(60_000, controller.signal)).toBeUndefined()
  })
})
