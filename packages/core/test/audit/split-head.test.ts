import net from 'node:net'
import { Http1ServerSession, Stream } from '@pingora-ts/core'
import { describe, expect, it } from 'vitest'
import { echoHandler, echoOf, rawConnect, startServer } from '../http1/helpers.ts'

/** Sends `data` in pieces of `size` bytes, yielding to the event loop between pieces. */
async function sendInPieces(socket: net.Socket, data: Buffer, size: number): Promise<void> {
  for (let i = 0; i < data.length; i += size) {
    if (!socket.write(data.subarray(i, i + size))) {
      await new Promise((resolve) => socket.once('drain', resolve))
    } else {
      await new Promise((resolve) => setImmediate(resolve))
    }
  }
}

describe('request heads that arrive in many small pieces', () => {
  it('parses a 256 KiB head sent in 512-byte pieces', async () => {
    const { port } = await startServer(echoHandler, { maxHeaderBytes: 512 * 1024 })
    const client = await rawConnect(port)
    const big = 'v'.repeat(256 * 1024)
    const head = Buffer.from(
      `GET /p HTTP/1.1\r\nHost: a\r\nX-Big: ${big}\r\nConnection: close\r\n\r\n`,
    )
    await sendInPieces(client.socket, head, 512)
    const echo = echoOf(await client.closed)
    expect(echo.headers.find(([name]) => name === 'X-Big')?.[1]).toBe(big)
  })

  it('keeps the bytes that follow a split head for the next pipelined request', async () => {
    const { port } = await startServer(echoHandler)
    const client = await rawConnect(port)
    const two = Buffer.from(
      'GET /one HTTP/1.1\r\nHost: a\r\nX-Pad: ' +
        'p'.repeat(10_000) +
        '\r\n\r\nGET /two HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n',
    )
    await sendInPieces(client.socket, two, 333)
    const all = await client.closed
    expect(all.match(/HTTP\/1\.1 200 /g)?.length).toBe(2)
    expect(all).toContain('/two')
  })

  it('rejects a bad maxDrainBytes with a bytes message', () => {
    const socket = new net.Socket()
    expect(() => new Http1ServerSession(new Stream(socket), { maxDrainBytes: -1 })).toThrow(
      new RangeError('maxDrainBytes must be a non-negative integer number of bytes, got -1'),
    )
    socket.destroy()
  })
})
