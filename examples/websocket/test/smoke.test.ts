import { once } from 'node:events'
import http from 'node:http'
import { WebSocket } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type EchoOrigin, startEchoOrigin } from '../src/echo-origin.ts'
import { type RunningWebSocketProxy, startWebSocketProxy } from '../src/websocket-proxy.ts'

describe('websocket example', () => {
  let origin: EchoOrigin
  let proxy: RunningWebSocketProxy
  let onTunnelClosed: () => void = () => {}
  const tunnelClosed = new Promise<void>((resolve) => {
    onTunnelClosed = resolve
  })

  beforeAll(async () => {
    origin = await startEchoOrigin()
    proxy = await startWebSocketProxy({ upstream: origin.address, onTunnelClosed })
  })
  afterAll(async () => {
    await proxy?.close()
    await origin?.close()
  })

  it('tunnels WebSocket messages both ways through the proxy', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${proxy.port}/ws`)
    ws.binaryType = 'arraybuffer'
    const received: Array<string | Buffer> = []
    let onMessage: () => void = () => {}
    ws.addEventListener('message', (event) => {
      const data = event.data as string | ArrayBuffer
      received.push(typeof data === 'string' ? data : Buffer.from(data))
      onMessage()
    })
    const nextMessage = (): Promise<string | Buffer> =>
      new Promise((resolve) => {
        const count = received.length
        onMessage = () => {
          if (received.length > count) resolve(received[count] as string | Buffer)
        }
      })
    await once(ws, 'open')

    const text = nextMessage()
    ws.send('hello through the proxy')
    expect(await text).toBe('hello through the proxy')

    // 100 KiB: a 64-bit payload length, spread over many TCP reads both ways.
    const big = Buffer.alloc(100 * 1024)
    for (let i = 0; i < big.length; i++) big[i] = i % 251
    const binary = nextMessage()
    ws.send(big)
    expect(Buffer.compare((await binary) as Buffer, big)).toBe(0)

    const closed = once(ws, 'close')
    ws.close(1000, 'done')
    const [event] = (await closed) as [{ code: number }]
    expect(event.code).toBe(1000)
    // `logging` runs once the tunnel has ended, and sees the 101 that opened it.
    await tunnelClosed
    expect(proxy.app.tunnelsClosed).toBe(1)

    // An upgrade on another path is refused by requestFilter (node:http: undici's request()
    // does not send Upgrade headers).
    const refused = http.get({
      host: '127.0.0.1',
      port: proxy.port,
      path: '/other',
      agent: false,
      headers: {
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
        'sec-websocket-version': '13',
      },
    })
    const [response] = (await once(refused, 'response')) as [http.IncomingMessage]
    response.resume()
    expect(response.statusCode).toBe(403)
  })
})
