import type { PingoraError } from '@pingora-ts/error'
import type { RequestHeader } from '@pingora-ts/http'
import type { Session } from '@pingora-ts/proxy'
import { describe, expect, it } from 'vitest'
import { origin, peerFor, raw, rawClient, rawExchange, startProxy } from './helpers.ts'

describe('body filters', () => {
  it('drops chunks a response body filter returns undefined for, with correct chunked framing', async () => {
    const o = await origin((_req, res) => {
      res.write('keep-')
      res.write('DROP')
      res.end('end')
    })
    const p = await startProxy({
      newCtx: () => undefined,
      upstreamPeer: () => peerFor(o.port),
      upstreamRequestFilter(_s: Session, r: RequestHeader) {
        r.insertHeader('X-Audit', '1')
      },
      responseBodyFilter(_s, body) {
        if (body === undefined) return undefined
        const text = Buffer.from(body).toString().replaceAll('DROP', '')
        return text.length === 0 ? undefined : Buffer.from(text)
      },
    })
    const response = await rawExchange(
      p.port,
      'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    )
    const body = response.slice(response.indexOf('\r\n\r\n') + 4)
    expect(response).toContain('Transfer-Encoding: chunked\r\n')
    // Whatever the origin's write boundaries, the decoded body is the same and ends properly.
    const decoded: string[] = []
    let rest = body
    for (;;) {
      const line = rest.indexOf('\r\n')
      const size = Number.parseInt(rest.slice(0, line), 16)
      if (size === 0) break
      decoded.push(rest.slice(line + 2, line + 2 + size))
      rest = rest.slice(line + 2 + size + 2)
    }
    expect(decoded.join('')).toBe('keep-end')
    expect(rest.slice(rest.indexOf('\r\n'))).toBe('\r\n\r\n')
  })
})

describe('slow bodies are streamed, not collected', () => {
  it('forwards each piece of a trickled upload before the client sends the next', async () => {
    let received = ''
    let notify: () => void = () => {}
    const o = await origin((req, res) => {
      req.on('data', (d: Buffer) => {
        received += d.toString()
        notify()
      })
      req.on('end', () => res.end(`got ${received}`))
    })
    const until = (text: string) =>
      new Promise<void>((resolve) => {
        notify = () => {
          if (received === text) resolve()
        }
        notify()
      })
    const p = await startProxy({ newCtx: () => undefined, upstreamPeer: () => peerFor(o.port) })
    const client = await rawClient(p.port)
    client.socket.write(
      'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nfirst\r\n',
    )
    await until('first')
    client.socket.write('6\r\nsecond\r\n')
    await until('firstsecond')
    client.socket.write('0\r\n\r\n')
    await client.waitFor('got firstsecond')
  })

  it('relays each piece of a trickled response before the origin writes the next', async () => {
    let next: () => void = () => {}
    const o = await origin((_req, res) => {
      res.write('first;')
      next = () => res.end('second;')
    })
    const p = await startProxy({ newCtx: () => undefined, upstreamPeer: () => peerFor(o.port) })
    const client = await rawClient(p.port)
    client.socket.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
    await client.waitFor('first;')
    expect(client.received()).not.toContain('second;')
    next()
    await client.waitFor('second;')
    await client.closed
    expect(client.received().endsWith('0\r\n\r\n')).toBe(true)
  })
})

describe('the 64 KiB retry buffer', () => {
  it('does not retry on a fresh connection once more than 64 KiB of the body was sent', async () => {
    // First request on a connection: answered. Second: the origin reads 80 KiB of the body,
    // then drops the connection without answering.
    const o = await raw((socket) => {
      let requests = 0
      let buffered = Buffer.alloc(0)
      let bodySeen = 0
      socket.on('data', (d: Buffer) => {
        if (requests === 2) {
          bodySeen += d.length
          if (bodySeen > 80 * 1024) socket.destroy()
          return
        }
        buffered = Buffer.concat([buffered, d])
        const end = buffered.indexOf('\r\n\r\n')
        if (end === -1) return
        requests++
        if (requests === 1) {
          buffered = Buffer.alloc(0)
          socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok')
        } else {
          bodySeen = buffered.length - end - 4
        }
      })
    })
    const attempts: boolean[] = []
    let logged: PingoraError | undefined
    const p = await startProxy({
      newCtx: () => undefined,
      upstreamPeer: () => peerFor(o.port),
      connectedToUpstream: (_s, r) => {
        attempts.push(r)
      },
      logging: (_s, e) => {
        logged = e
      },
    })
    const first = await rawExchange(
      p.port,
      'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    )
    expect(first).toMatch(/^HTTP\/1\.1 200 /)
    attempts.length = 0
    const size = 200 * 1024
    const client = await rawClient(p.port)
    client.socket.write(
      `POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ${size}\r\nConnection: close\r\n\r\n`,
    )
    client.socket.write(Buffer.alloc(size, 0x62))
    await client.waitFor(/^HTTP\/1\.1 502 /)
    expect(attempts).toEqual([true])
    expect(logged?.retry).toBe(false)
  })
})
