// SocketReadSink: client sockets read through net's `onread` option instead of `data` events.
import { once } from 'node:events'
import net from 'node:net'
import { describe, expect, it, onTestFinished } from 'vitest'
import { SocketReadSink } from '../../src/protocols/l4/socket-read-sink.ts'
import { Stream } from '../../src/protocols/l4/stream.ts'

/** A server that runs `onSocket` for its one connection; closed when the test ends. */
async function serve(onSocket: (socket: net.Socket) => void): Promise<number> {
  const server = net.createServer(onSocket)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  onTestFinished(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
      }),
  )
  return (server.address() as net.AddressInfo).port
}

/** Connects through a sink and wraps the socket in a Stream. */
async function connectWithSink(port: number): Promise<Stream> {
  const sink = new SocketReadSink()
  const socket = net.connect({ port, host: '127.0.0.1', onread: sink.onread })
  await once(socket, 'connect')
  const stream = new Stream(socket, 'upstream')
  sink.attach(stream)
  onTestFinished(() => {
    stream.destroy()
  })
  return stream
}

/** Reads until the peer ends. */
async function readToEnd(stream: Stream): Promise<Buffer[]> {
  const chunks: Buffer[] = []
  for (let chunk = await stream.read(); chunk !== undefined; chunk = await stream.read()) {
    chunks.push(chunk)
  }
  return chunks
}

function pattern(length: number): Buffer {
  const b = Buffer.allocUnsafe(length)
  for (let i = 0; i < length; i++) b[i] = (i * 31 + (i >>> 12)) & 0xff
  return b
}

describe('SocketReadSink', () => {
  it('delivers every byte in order, large and small reads alike, then the end', async () => {
    const data = pattern(3 * 1024 * 1024 + 123)
    const port = await serve((socket) => {
      // Mixed write sizes, so that reads come both below and above the copy threshold.
      let offset = 0
      let size = 7
      const next = (): void => {
        while (offset < data.length) {
          const piece = data.subarray(offset, offset + size)
          offset += piece.length
          size = size > 200_000 ? 7 : size * 3
          if (!socket.write(piece)) {
            socket.once('drain', next)
            return
          }
        }
        socket.end()
      }
      next()
    })
    const stream = await connectWithSink(port)
    const chunks = await readToEnd(stream)
    expect(Buffer.concat(chunks).equals(data)).toBe(true)
  })

  it('hands out chunks that own their memory: a later read never changes an earlier chunk', async () => {
    const port = await serve((socket) => {
      socket.write(Buffer.alloc(100, 0x61), () => {
        socket.write(Buffer.alloc(100, 0x62), () => {
          socket.end(Buffer.alloc(40_000, 0x63))
        })
      })
    })
    const stream = await connectWithSink(port)
    const chunks = await readToEnd(stream)
    const all = Buffer.concat(chunks)
    expect(all.length).toBe(40_200)
    // Every chunk still holds what was sent at its position after all reads happened.
    let offset = 0
    for (const chunk of chunks) {
      expect(chunk.equals(all.subarray(offset, offset + chunk.length))).toBe(true)
      offset += chunk.length
    }
    expect(all.subarray(0, 100).every((b) => b === 0x61)).toBe(true)
    expect(all.subarray(100, 200).every((b) => b === 0x62)).toBe(true)
    expect(all.subarray(200).every((b) => b === 0x63)).toBe(true)
  })

  it('copies a short read out of its buffer and hands a long one over with a fresh buffer next', async () => {
    const port = await serve(() => {})
    const sink = new SocketReadSink()
    const socket = net.connect({ port, host: '127.0.0.1' })
    await once(socket, 'connect')
    const stream = new Stream(socket, 'upstream')
    onTestFinished(() => {
      stream.destroy()
    })
    sink.attach(stream)
    // Drive the sink as net's onread does: take the read buffer, fill it, report the count.
    const first = sink.onread.buffer()
    first.fill(0x61, 0, 100)
    sink.onread.callback(100, first)
    const short = stream.tryRead() as Buffer
    expect(short.toString()).toBe('a'.repeat(100))
    expect(short.buffer).not.toBe(first.buffer)
    // The buffer is reused after a short read; the copy keeps its bytes.
    expect(sink.onread.buffer()).toBe(first)
    first.fill(0x62)
    expect(short.toString()).toBe('a'.repeat(100))
    sink.onread.callback(first.length, first)
    const long = stream.tryRead() as Buffer
    expect(long.buffer).toBe(first.buffer)
    expect(long.length).toBe(first.length)
    // Handed over: the next read goes into another buffer.
    expect(sink.onread.buffer()).not.toBe(first)
  })

  it('delivers bytes that arrived before the stream was attached, first', async () => {
    const port = await serve((socket) => {
      socket.end('early bytes, then the end')
    })
    const sink = new SocketReadSink()
    const socket = net.connect({ port, host: '127.0.0.1', onread: sink.onread })
    await once(socket, 'connect')
    // Let the socket read (and end) before any stream exists.
    await once(socket, 'end')
    const stream = new Stream(socket, 'upstream')
    onTestFinished(() => {
      stream.destroy()
    })
    sink.attach(stream)
    expect(stream.tryRead()?.toString()).toBe('early bytes, then the end')
  })
})
