import net from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type RunningEchoServer, startEchoServer } from '../src/echo-server.ts'

describe('echo-server example', () => {
  let echo: RunningEchoServer

  beforeAll(async () => {
    echo = await startEchoServer()
  })
  afterAll(async () => {
    await echo?.close()
  })

  it('writes back every byte and closes after the client finishes', async () => {
    const socket = net.connect(echo.port, '127.0.0.1')
    const chunks: Buffer[] = []
    socket.on('data', (chunk: Buffer) => chunks.push(chunk))
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
    const payload = Buffer.alloc(256 * 1024)
    for (let i = 0; i < payload.length; i++) payload[i] = i % 253
    socket.end(payload)
    await closed
    expect(Buffer.compare(Buffer.concat(chunks), payload)).toBe(0)
    expect(echo.app.bytesEchoed).toBe(payload.length)
  })
})
