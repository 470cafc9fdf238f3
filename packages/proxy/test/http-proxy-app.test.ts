import net from 'node:net'
import { HttpServerAppDriver, ServerConf, Stream } from '@pingora-ts/core'
import { httpProxy } from '@pingora-ts/proxy'
import { describe, expect, it, onTestFinished } from 'vitest'
import { origin, peerFor, rawExchange } from './helpers.ts'

describe('httpProxy, the bare app', () => {
  it('serves requests from a custom accept loop', async () => {
    const o = await origin((req, res) => res.end(`origin saw ${req.url}`))
    const app = httpProxy(new ServerConf(), {
      newCtx: () => undefined,
      upstreamPeer: () => peerFor(o.port),
    })
    const driver = new HttpServerAppDriver(app)
    const shutdown = new AbortController()
    const sockets = new Set<net.Socket>()
    const server = net.createServer((socket) => {
      sockets.add(socket)
      void driver.processNew(new Stream(socket), shutdown.signal)
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    onTestFinished(
      () =>
        new Promise<void>((resolve) => {
          shutdown.abort()
          for (const s of sockets) s.destroy()
          app.clientUpstream.closeIdle()
          server.close(() => resolve())
        }),
    )
    const port = (server.address() as net.AddressInfo).port
    const response = await rawExchange(
      port,
      'GET /custom HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    )
    expect(response).toMatch(/^HTTP\/1\.1 200 /)
    expect(response.endsWith('origin saw /custom')).toBe(true)
  })
})
