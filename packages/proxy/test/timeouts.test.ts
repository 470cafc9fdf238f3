// Timeouts configured per service and per peer.
import http from 'node:http'
import type { PingoraError } from '@pingora-ts/error'
import { describe, expect, it } from 'vitest'
import { origin, peerFor, raw, rawClient, startProxy } from './helpers.ts'

describe('timeouts configured per service and per peer', () => {
  it('closes a client that does not finish its header within the service headerTimeoutMs', async () => {
    let ctxs = 0
    const p = await startProxy(
      {
        newCtx: () => {
          ctxs++
        },
        upstreamPeer: () => peerFor(1),
      },
      {},
      { serverOptions: { headerTimeoutMs: 200 } },
    )
    const client = await rawClient(p.port)
    client.socket.write('GET / HTTP/1.1\r\nHost: x\r\n')
    await client.closed
    expect(ctxs).toBe(0)
  })

  it('ends a request whose client stops sending its body after the service readTimeoutMs', async () => {
    let originBody = ''
    let originCut = false
    const o = await origin((req, res) => {
      req.on('data', (d: Buffer) => {
        originBody += d.toString()
      })
      req.on('error', () => {})
      req.on('close', () => {
        if (!req.complete) originCut = true
      })
      req.on('end', () => res.end('complete'))
    })
    let logged: PingoraError | undefined
    let loggedCalls = 0
    const p = await startProxy(
      {
        newCtx: () => undefined,
        upstreamPeer: () => peerFor(o.port),
        logging: (_s, e) => {
          loggedCalls++
          logged = e
        },
      },
      {},
      { serverOptions: { readTimeoutMs: 200 } },
    )
    const client = await rawClient(p.port)
    client.socket.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc')
    await client.closed
    expect(client.received()).not.toContain('complete')
    await expect.poll(() => loggedCalls).toBe(1)
    expect(logged).toMatchObject({ type: 'ReadTimedout', source: 'downstream' })
    // What the client sent was streamed up, and the upstream request was cut off rather than
    // completed or left open: the origin saw its connection close mid-body.
    await expect.poll(() => originCut).toBe(true)
    expect(originBody).toBe('abc')
  })

  it('answers 504 when the upstream stops reading the request body within writeTimeoutMs', async () => {
    const o = await raw((socket) => {
      // Accept, never read: the proxy's writes block once the socket buffers are full.
      socket.pause()
    })
    let logged: PingoraError | undefined
    const p = await startProxy({
      newCtx: () => undefined,
      upstreamPeer: () => peerFor(o.port, { writeTimeoutMs: 200 }),
      logging: (_s, e) => {
        logged = e
      },
    })
    const chunk = Buffer.alloc(256 * 1024, 0x63)
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request({
        port: p.port,
        host: '127.0.0.1',
        method: 'POST',
        path: '/',
        headers: { 'content-length': String(1024 * 1024 * 1024) },
      })
      req.on('response', (res) => {
        resolve(res.statusCode ?? 0)
        res.resume()
        req.destroy()
      })
      req.on('error', (e) => reject(e))
      let stopped = false
      req.on('close', () => {
        stopped = true
      })
      const pump = () => {
        while (!stopped && req.write(chunk)) {}
      }
      req.on('drain', pump)
      pump()
    })
    expect(status).toBe(504)
    await expect.poll(() => logged?.type).toBe('WriteTimedout')
    expect(logged?.source).toBe('upstream')
  })
})
