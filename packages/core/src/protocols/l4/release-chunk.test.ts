import { once } from 'node:events'
import net from 'node:net'
import { describe, expect, it, onTestFinished } from 'vitest'
import { RELEASE_MIN_BYTES, releaseWrittenChunk } from './release-chunk.ts'
import { Stream } from './stream.ts'

const canRelease = 'transfer' in ArrayBuffer.prototype

/** A connected pair: `stream` wraps the client side, `received` collects what the server got. */
async function pair(): Promise<{ stream: Stream; received: () => Promise<Buffer> }> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve))
  const socket = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1')
  await once(socket, 'connect')
  const peer = await accepted
  const chunks: Buffer[] = []
  peer.on('data', (d: Buffer) => chunks.push(d))
  const ended = once(peer, 'end')
  const stream = new Stream(socket, 'upstream')
  onTestFinished(() => {
    stream.destroy()
    peer.destroy()
    server.close()
  })
  return {
    stream,
    received: async () => {
      stream.socket.end()
      await ended
      return Buffer.concat(chunks)
    },
  }
}

/** A chunk that owns its whole ArrayBuffer, filled with a recognisable pattern. */
function ownedChunk(length: number, seed: number): Buffer {
  const chunk = Buffer.allocUnsafeSlow(length)
  for (let i = 0; i < length; i++) chunk[i] = (i + seed) & 0xff
  return chunk
}

describe('releaseWrittenChunk', () => {
  it.skipIf(!canRelease)('frees a written chunk once the socket has flushed it', async () => {
    const { stream, received } = await pair()
    const chunk = ownedChunk(64 * 1024, 1)
    const expected = Buffer.from(chunk)
    if (!stream.write(chunk)) await stream.drain()
    expect(stream.socket.writableLength).toBe(0)
    expect(releaseWrittenChunk(chunk, stream)).toBe(true)
    expect(chunk.byteLength).toBe(0)
    expect((await received()).equals(expected)).toBe(true)
  })

  it('keeps a chunk whose write is still queued', async () => {
    const { stream, received } = await pair()
    const chunk = ownedChunk(64 * 1024, 2)
    const expected = Buffer.from(chunk)
    stream.cork()
    stream.write(chunk)
    expect(releaseWrittenChunk(chunk, stream)).toBe(false)
    expect(chunk.equals(expected)).toBe(true)
    stream.uncork()
    expect((await received()).equals(expected)).toBe(true)
  })

  it('keeps a chunk that shares its buffer with other bytes', async () => {
    const { stream, received } = await pair()
    const whole = ownedChunk(96 * 1024, 3)
    const head = whole.subarray(0, 64 * 1024)
    const tail = whole.subarray(64 * 1024)
    if (!stream.write(head)) await stream.drain()
    expect(releaseWrittenChunk(head, stream)).toBe(false)
    if (!stream.write(tail)) await stream.drain()
    expect(releaseWrittenChunk(tail, stream)).toBe(false)
    expect(head.byteLength + tail.byteLength).toBe(96 * 1024)
    expect((await received()).equals(ownedChunk(96 * 1024, 3))).toBe(true)
  })

  it('leaves chunks below the size threshold to the garbage collector', async () => {
    const { stream } = await pair()
    const chunk = ownedChunk(RELEASE_MIN_BYTES - 1, 4)
    if (!stream.write(chunk)) await stream.drain()
    expect(releaseWrittenChunk(chunk, stream)).toBe(false)
    expect(chunk.byteLength).toBe(RELEASE_MIN_BYTES - 1)
  })

  it('keeps chunks it cannot detach', async () => {
    const { stream } = await pair()
    const chunk = new Uint8Array(new SharedArrayBuffer(RELEASE_MIN_BYTES))
    if (!stream.write(chunk)) await stream.drain()
    expect(releaseWrittenChunk(chunk, stream)).toBe(false)
    expect(chunk.byteLength).toBe(RELEASE_MIN_BYTES)
  })

  it.skipIf(canRelease)('does nothing where the runtime has no ArrayBuffer transfer', async () => {
    const { stream } = await pair()
    const chunk = ownedChunk(64 * 1024, 5)
    if (!stream.write(chunk)) await stream.drain()
    expect(releaseWrittenChunk(chunk, stream)).toBe(false)
    expect(chunk.byteLength).toBe(64 * 1024)
  })
})
