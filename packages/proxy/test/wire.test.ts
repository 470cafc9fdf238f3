import http from 'node:http'
import type net from 'node:net'
import { describe, expect, it, onTestFinished } from 'vitest'
import { origin, peerFor, raw, rawClient, rawExchange, startProxy } from './helpers.ts'

/** A raw origin that records each request head and answers with `response`. */
async function recordingOrigin(response: string) {
  const heads: string[] = []
  const o = await raw((socket) => {
    let buffered = ''
    socket.on('data', (d: Buffer) => {
      buffered += d.toString('latin1')
      let end = buffered.indexOf('\r\n\r\n')
      while (end !== -1) {
        heads.push(buffered.slice(0, end + 4))
        buffered = buffered.slice(end + 4)
        socket.write(response)
        end = buffered.indexOf('\r\n\r\n')
      }
    })
  })
  return { ...o, heads }
}

describe('on the wire', () => {
  it('removes hop-by-hop request headers, including those named by Connection', async () => {
    const o = await recordingOrigin('HTTP/1.1 204 No Content\r\n\r\n')
    const p = await startProxy({ newCtx: () => undefined, upstreamPeer: () => peerFor(o.port) })
    const response = await rawExchange(
      p.port,
      'GET /x HTTP/1.1\r\nHost: a.test\r\nConnection: close, X-Private\r\nX-Private: secret\r\n' +
        'Keep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nTE: trailers\r\nX-Kept: Yes\r\n\r\n',
    )
    expect(response).toMatch(/^HTTP\/1\.1 204 /)
    const head = o.heads[0] as string
    expect(head.startsWith('GET /x HTTP/1.1\r\nHost: a.test\r\n')).toBe(true)
    expect(head).toContain('X-Kept: Yes\r\n')
    for (const gone of ['X-Private', 'Keep-Alive', 'Proxy-Connection', 'TE:', 'secret']) {
      expect(head).not.toContain(gone)
    }
  })

  it('gives a client that asked to close Connection: close, never the origin keep-alive', async () => {
    const o = await raw((socket) => {
      socket.once('data', () =>
        socket.write(
          'HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Hop\r\nKeep-Alive: timeout=30, max=100\r\nX-Hop: 1\r\nContent-Length: 2\r\n\r\nok',
        ),
      )
    })
    const p = await startProxy({ newCtx: () => undefined, upstreamPeer: () => peerFor(o.port) })
    const response = await rawExchange(
      p.port,
      'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    )
    const head = response.slice(0, response.indexOf('\r\n\r\n') + 2)
    expect(head).toContain('Connection: close\r\n')
    expect(head).not.toContain('keep-alive')
    expect(head).not.toContain('Keep-Alive')
    expect(head).not.toContain('X-Hop')
    expect(response.endsWith('\r\n\r\nok')).toBe(true)
  })

  it('keeps header case and order from the origin', async () => {
    const o = await raw((socket) => {
      socket.once('data', () =>
        socket.write(
          'HTTP/1.1 200 OK\r\nx-lower: 1\r\nX-UPPER: 2\r\nMiXeD-CaSe: 3\r\nContent-Length: 0\r\n\r\n',
        ),
      )
    })
    const p = await startProxy({ newCtx: () => undefined, upstreamPeer: () => peerFor(o.port) })
    const response = await rawExchange(
      p.port,
      'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    )
    expect(response).toContain('x-lower: 1\r\nX-UPPER: 2\r\nMiXeD-CaSe: 3\r\n')
  })

  it('relays 100 Continue to a client that expects it', async () => {
    const server = http.createServer((req, res) => {
      let body = ''
      req.on('data', (d: Buffer) => {
        body += d.toString()
      })
      req.on('end', () => res.end(`got ${body}`))
    })
    server.on('checkContinue', (req, res) => {
      res.writeContinue()
      server.emit('request', req, res)
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    onTestFinished(
      () =>
        new Promise<void>((r) => {
          server.closeAllConnections()
          server.close(() => r())
        }),
    )
    const port = (server.address() as net.AddressInfo).port
    const p = await startProxy({ newCtx: () => undefined, upstreamPeer: () => peerFor(port) })
    const client = await rawClient(p.port)
    client.socket.write(
      'POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\nConnection: close\r\n\r\n',
    )
    await client.waitFor('HTTP/1.1 100 Continue\r\n')
    client.socket.write('hello')
    const all = await client.waitFor('got hello')
    expect(all.indexOf('100 Continue')).toBeLessThan(all.indexOf('200 OK'))
  })

  it('answers 502 after a relayed 100 Continue when the upstream then fails', async () => {
    const o = await raw((socket) => {
      socket.once('data', () => {
        socket.write('HTTP/1.1 100 Continue\r\n\r\n')
        socket.once('data', () => socket.destroy())
      })
    })
    const p = await startProxy({ newCtx: () => undefined, upstreamPeer: () => peerFor(o.port) })
    const client = await rawClient(p.port)
    client.socket.write(
      'POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\nConnection: close\r\n\r\n',
    )
    await client.waitFor('HTTP/1.1 100 Continue\r\n\r\n')
    client.socket.write('hello')
    const all = await client.waitFor(/HTTP\/1\.1 502 [^\r]*\r\n[\s\S]*\r\n\r\n/)
    expect(all.indexOf('100 Continue')).toBeLessThan(all.indexOf('502'))
  })

  it('relays 103 Early Hints before the final response', async () => {
    const o = await raw((socket) => {
      socket.once('data', () => {
        socket.write('HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n')
        socket.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone')
      })
    })
    const p = await startProxy({ newCtx: () => undefined, upstreamPeer: () => peerFor(o.port) })
    const response = await rawExchange(
      p.port,
      'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    )
    expect(response).toMatch(
      /^HTTP\/1\.1 103 Early Hints\r\nLink: <\/style\.css>; rel=preload\r\n\r\nHTTP\/1\.1 200 OK\r\n/,
    )
    expect(response.endsWith('done')).toBe(true)
  })

  it('tunnels an upgraded connection both ways after the upstream 101', async () => {
    let upstreamHead = ''
    const o = await raw((socket) => {
      let upgraded = false
      socket.on('data', (d: Buffer) => {
        if (!upgraded) {
          upstreamHead += d.toString('latin1')
          if (!upstreamHead.includes('\r\n\r\n')) return
          upgraded = true
          socket.write(
            'HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n',
          )
          return
        }
        socket.write(`echo:${d.toString('latin1')}`)
      })
    })
    const p = await startProxy({ newCtx: () => undefined, upstreamPeer: () => peerFor(o.port) })
    const client = await rawClient(p.port)
    client.socket.write(
      'GET /chat HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n',
    )
    await client.waitFor('\r\n\r\n')
    expect(client.received()).toMatch(/^HTTP\/1\.1 101 Switching Protocols\r\n/)
    expect(client.received()).toContain('Upgrade: echo\r\n')
    expect(upstreamHead).toContain('Upgrade: echo\r\n')
    expect(upstreamHead.toLowerCase()).toContain('connection: upgrade\r\n')
    client.socket.write('ping-1')
    await client.waitFor('echo:ping-1')
    client.socket.write('ping-2')
    await client.waitFor('echo:ping-2')
    client.socket.end()
    await client.closed
  })

  it('does not tunnel when the upstream answers an upgrade request without 101', async () => {
    const o = await recordingOrigin('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nno')
    const p = await startProxy({ newCtx: () => undefined, upstreamPeer: () => peerFor(o.port) })
    const client = await rawClient(p.port)
    client.socket.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n')
    await client.waitFor('\r\n\r\nno')
    // Bytes after a non-101 answer are a new request, not tunnel data.
    client.socket.write('GET /next HTTP/1.1\r\nHost: x\r\n\r\n')
    await client.waitFor(/no[\s\S]*HTTP\/1\.1 200 OK[\s\S]*no$/)
    expect(o.heads.length).toBe(2)
    expect(o.heads[1]).toMatch(/^GET \/next HTTP\/1\.1\r\n/)
  })

  it('sends an HTTP/1.0 client a close-delimited body when the origin uses chunked', async () => {
    const o = await raw((socket) => {
      socket.once('data', () =>
        socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n'),
      )
    })
    const p = await startProxy({ newCtx: () => undefined, upstreamPeer: () => peerFor(o.port) })
    const response = await rawExchange(p.port, 'GET / HTTP/1.0\r\n\r\n')
    expect(response).toMatch(/^HTTP\/1\.1 200 OK\r\n/)
    expect(response).not.toContain('chunked')
    expect(response).toContain('Connection: close\r\n')
    expect(response.endsWith('\r\n\r\nabc')).toBe(true)
  })

  it('answers pipelined requests in order', async () => {
    const o = await origin((req, res) => res.end(`path=${req.url}`))
    const p = await startProxy({ newCtx: () => undefined, upstreamPeer: () => peerFor(o.port) })
    const response = await rawExchange(
      p.port,
      'GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\nGET /3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    )
    const bodies = response.match(/path=\/\d/g)
    expect(bodies).toEqual(['path=/1', 'path=/2', 'path=/3'])
  })

  it('converts an origin close-delimited HTTP/1.0 response to chunked for a 1.1 client', async () => {
    const o = await raw((socket) => {
      socket.once('data', () =>
        socket.end('HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close'),
      )
    })
    const p = await startProxy({ newCtx: () => undefined, upstreamPeer: () => peerFor(o.port) })
    const client = await rawClient(p.port)
    client.socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
    const all = await client.waitFor('0\r\n\r\n')
    expect(all).toContain('Transfer-Encoding: chunked\r\n')
    expect(all).toContain('Connection: keep-alive\r\n')
    expect(all.endsWith('b\r\nuntil close\r\n0\r\n\r\n')).toBe(true)
  })
})
