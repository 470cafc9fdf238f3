import type { Session } from '@pingora-ts/proxy'
import { describe, expect, it } from 'vitest'
import { peerFor, raw, rawClient, rawExchange, startProxy } from './helpers.ts'

describe('CONNECT', () => {
  it('lets CONNECT through to the phases when allowConnectMethodProxying is set', async () => {
    const methods: string[] = []
    const p = await startProxy(
      {
        newCtx: () => undefined,
        upstreamPeer: () => peerFor(1),
        async requestFilter(session: Session) {
          methods.push(session.requestHeader.method)
          await session.respondError(403)
          return true
        },
      },
      {},
      { serverOptions: { allowConnectMethodProxying: true } },
    )
    const response = await rawExchange(
      p.port,
      'CONNECT example.test:443 HTTP/1.1\r\nHost: example.test:443\r\nConnection: close\r\n\r\n',
    )
    expect(response).toMatch(/^HTTP\/1\.1 403 /)
    expect(methods).toEqual(['CONNECT'])
  })
})

describe('upgrades are never reused', () => {
  it('closes both sides after a tunnel: the next request gets a new upstream connection', async () => {
    let connections = 0
    const o = await raw((socket) => {
      connections++
      let head = ''
      let upgraded = false
      socket.on('data', (d: Buffer) => {
        if (upgraded) {
          socket.end(`echo:${d.toString('latin1')}`)
          return
        }
        head += d.toString('latin1')
        if (!head.includes('\r\n\r\n')) return
        if (/upgrade: echo/i.test(head)) {
          upgraded = true
          socket.write(
            'HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n',
          )
        } else {
          head = ''
          socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok')
        }
      })
    })
    const reused: boolean[] = []
    const p = await startProxy({
      newCtx: () => undefined,
      upstreamPeer: () => peerFor(o.port),
      connectedToUpstream: (_s, r) => {
        reused.push(r)
      },
    })
    const client = await rawClient(p.port)
    client.socket.write(
      'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n',
    )
    await client.waitFor('101 Switching Protocols')
    await client.waitFor('\r\n\r\n')
    client.socket.write('ping')
    await client.waitFor('echo:ping')
    // The origin ended the tunnel: the client connection must not be kept for HTTP.
    await client.closed
    const after = await rawExchange(
      p.port,
      'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    )
    expect(after).toMatch(/^HTTP\/1\.1 200 /)
    expect(reused).toEqual([false, false])
    expect(connections).toBe(2)
  })
})
