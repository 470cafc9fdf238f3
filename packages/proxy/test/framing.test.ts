// Issue 17, "Framing and limits": raw bytes from a real socket through the proxy to an origin
// that records every byte it received. A rejected request must leave the origin untouched.
import net from 'node:net'
import { STREAM_LINGER_MS } from '@pingora-ts/core'
import type { ProxyHttp } from '@pingora-ts/proxy'
import { describe, expect, it, onTestFinished } from 'vitest'
import { peerFor, raw, rawClient, rawExchange, startProxy } from './helpers.ts'

/** A raw origin that records what it received and answers each head with `answer`. */
async function recordingOrigin(answer = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok') {
  const received: string[] = []
  const closed: boolean[] = []
  const sockets: net.Socket[] = []
  let onHead: (() => void) | undefined
  const o = await raw((socket) => {
    const index = received.length
    received.push('')
    closed.push(false)
    sockets.push(socket)
    socket.on('data', (d: Buffer) => {
      const before = received[index] as string
      const text = before + d.toString('latin1')
      received[index] = text
      // One answer per head received (keep-alive requests may follow on the connection).
      const heads = text.split('\r\n\r\n').length - 1
      const answered = before.split('\r\n\r\n').length - 1
      for (let i = answered; i < heads; i++) socket.write(answer)
      if (heads > answered) onHead?.()
    })
    socket.on('error', () => {})
    socket.on('close', () => {
      closed[index] = true
    })
  })
  return {
    port: o.port,
    received,
    closed,
    sockets,
    /** Resolves when the next request head reaches the origin. */
    nextHead: () =>
      new Promise<void>((resolve) => {
        onHead = resolve
      }),
    closedAt: (index: number) =>
      new Promise<void>((resolve) => {
        const socket = sockets[index]
        if (socket === undefined || closed[index] === true) resolve()
        else socket.once('close', () => resolve())
      }),
  }
}

function appFor(port: number): ProxyHttp<unknown> {
  return { newCtx: () => ({}), upstreamPeer: () => peerFor(port) }
}

function statusOf(answer: string): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0)
}

describe('invalid chunked framing', () => {
  it.each([
    ['chunk data not followed by CRLF', '5\r\nhelloXX0\r\n\r\n'],
    ['a bare LF after a chunk extension', '5;ext=1\nhello\r\n0\r\n\r\n'],
    ['a malformed chunk size', 'zz\r\nhello\r\n0\r\n\r\n'],
  ])('answers 400 for %s that came with the head, forwarding nothing', async (_name, body) => {
    const o = await recordingOrigin()
    const p = await startProxy(appFor(o.port))
    const answer = await rawExchange(
      p.port,
      `POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n${body}`,
    )
    expect(statusOf(answer)).toBe(400)
    expect(answer).toContain('Connection: close')
    expect(o.received).toEqual([])
  })

  it('forwards a valid chunked body that came with the head, and a pipelined request after it', async () => {
    const o = await recordingOrigin()
    const p = await startProxy(appFor(o.port))
    const client = await rawClient(p.port)
    client.socket.write(
      'POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;e=1\r\nhello\r\n0\r\n\r\n' +
        'GET /y HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n',
    )
    await client.closed
    expect(client.received().match(/HTTP\/1\.1 200 OK/g)).toHaveLength(2)
    expect(o.received.join('')).toContain('5\r\nhello\r\n0\r\n\r\n')
    expect(o.received.join('')).toContain('GET /y HTTP/1.1')
  })

  it('closes the upstream connection (never reused) when invalid bytes arrive after the head', async () => {
    const o = await recordingOrigin()
    const p = await startProxy(appFor(o.port))
    const client = await rawClient(p.port)
    const head = o.nextHead()
    client.socket.write('POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel')
    await head
    client.socket.write('loXX0\r\n\r\n')
    await o.closedAt(0)
    expect(o.closed[0]).toBe(true)
    await client.closed
    // A new request uses a new upstream connection.
    const answer = await rawExchange(
      p.port,
      'GET /z HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n',
    )
    expect(statusOf(answer)).toBe(200)
    expect(o.received).toHaveLength(2)
    expect(o.received[1]).toMatch(/^GET \/z HTTP\/1\.1\r\n/)
  })
})

describe('request head limits', () => {
  it('answers 431 to a single 128 KiB header field, forwarding nothing', async () => {
    const o = await recordingOrigin()
    const p = await startProxy(appFor(o.port))
    const answer = await rawExchange(
      p.port,
      `GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${'b'.repeat(128 * 1024)}\r\n\r\n`,
    )
    expect(statusOf(answer)).toBe(431)
    expect(o.received).toEqual([])
  })

  it('answers 414 to a request line over 8 KiB, forwarding nothing', async () => {
    const o = await recordingOrigin()
    const p = await startProxy(appFor(o.port))
    const answer = await rawExchange(p.port, `GET /${'a'.repeat(9000)} HTTP/1.1\r\nHost: a\r\n\r\n`)
    expect(statusOf(answer)).toBe(414)
    expect(o.received).toEqual([])
  })

  it('takes larger limits from the service options', async () => {
    const o = await recordingOrigin()
    const p = await startProxy(
      appFor(o.port),
      {},
      { serverOptions: { maxHeaderBytes: 256 * 1024, maxRequestLineBytes: 16 * 1024 } },
    )
    const value = 'b'.repeat(128 * 1024)
    const answer = await rawExchange(
      p.port,
      `GET /${'a'.repeat(9000)} HTTP/1.1\r\nHost: a\r\nX-Big: ${value}\r\nConnection: close\r\n\r\n`,
    )
    expect(statusOf(answer)).toBe(200)
    expect(o.received[0]).toContain(`X-Big: ${value}\r\n`)
  })
})

describe('Upgrade', () => {
  it('does not forward Upgrade without Connection: upgrade', async () => {
    const o = await recordingOrigin()
    const p = await startProxy(appFor(o.port))
    const answer = await rawExchange(
      p.port,
      'GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: close\r\n\r\n',
    )
    expect(statusOf(answer)).toBe(200)
    expect(o.received[0]).toMatch(/^GET \/ws HTTP\/1\.1\r\n/)
    expect(o.received[0]?.toLowerCase()).not.toContain('upgrade')
  })

  it('opens no tunnel when an origin answers 101 to Upgrade without Connection: upgrade', async () => {
    const o = await recordingOrigin(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n',
    )
    const p = await startProxy(appFor(o.port))
    const answer = await rawExchange(
      p.port,
      'GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: close\r\n\r\n',
    )
    expect(statusOf(answer)).toBe(502)
    expect(answer).not.toContain('101')
  })

  it('still forwards a real upgrade (Connection: upgrade)', async () => {
    const o = await recordingOrigin(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n',
    )
    const p = await startProxy(appFor(o.port))
    const client = await rawClient(p.port)
    client.socket.write(
      'GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
    )
    await client.waitFor('\r\n\r\n')
    expect(statusOf(client.received())).toBe(101)
    expect(o.received[0]).toContain('Upgrade: websocket')
  })
})

describe('an HTTP/1.0 origin', () => {
  it('reaches an HTTP/1.1 client with our version and framing for the client', async () => {
    const o = await raw((socket) => {
      socket.once('data', () => {
        socket.end(
          'HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nConnection: keep-alive\r\n\r\nhello',
        )
      })
    })
    const p = await startProxy(appFor(o.port))
    const client = await rawClient(p.port)
    client.socket.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n')
    const text = await client.waitFor('0\r\n\r\n')
    expect(text).toMatch(/^HTTP\/1\.1 200 OK\r\n/)
    expect(text).toContain('Transfer-Encoding: chunked\r\n')
    expect(text).toContain('\r\n\r\n5\r\nhello\r\n0\r\n\r\n')
    // The client connection stays usable.
    client.socket.write('GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n')
    await client.closed
    expect(client.received().match(/HTTP\/1\.1 200 OK/g)).toHaveLength(2)
  })

  it('reaches an HTTP/1.0 client close-delimited with an HTTP/1.1 status line', async () => {
    const o = await raw((socket) => {
      socket.once('data', () => socket.end('HTTP/1.0 200 OK\r\n\r\nhello'))
    })
    const p = await startProxy(appFor(o.port))
    const answer = await rawExchange(p.port, 'GET / HTTP/1.0\r\n\r\n')
    expect(answer).toMatch(/^HTTP\/1\.1 200 OK\r\n/)
    expect(answer).not.toContain('chunked')
    expect(answer.endsWith('\r\n\r\nhello')).toBe(true)
  })
})

describe('closing after a response that closes the connection', () => {
  it('closes promptly when a Content-Length + chunked request body never comes', async () => {
    const o = await recordingOrigin()
    const p = await startProxy(appFor(o.port))
    const client = await rawClient(p.port)
    client.socket.write(
      'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n',
    )
    await client.waitFor('\r\n\r\nok')
    const answeredAt = Date.now()
    expect(client.received()).toContain('Connection: close')
    await client.closed
    // Bounded by the lingering read (5 s), not by the 60 s read timeout.
    expect(Date.now() - answeredAt).toBeLessThan(5_500)
    // The upstream connection, left with a partial request, is not kept either.
    await o.closedAt(0)
    expect(o.closed[0]).toBe(true)
  })

  it('lingers (reading and discarding) for at most STREAM_LINGER_MS for a client that never closes', async () => {
    const o = await recordingOrigin()
    const p = await startProxy(appFor(o.port))
    // A client that keeps its side open after the proxy's FIN, and keeps sending.
    const socket = net.connect({ port: p.port, host: '127.0.0.1', allowHalfOpen: true })
    onTestFinished(() => {
      socket.destroy()
    })
    let text = ''
    let error: Error | undefined
    socket.on('data', (d: Buffer) => {
      text += d.toString('latin1')
    })
    socket.on('error', (e) => {
      error = e
    })
    const fin = new Promise<void>((resolve) => socket.once('end', () => resolve()))
    socket.write(
      'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n',
    )
    await fin
    const finAt = Date.now()
    // The whole response arrived before the FIN (no reset cut it short).
    expect(text).toMatch(/^HTTP\/1\.1 200 OK\r\n/)
    expect(text.endsWith('\r\n\r\nok')).toBe(true)
    // Bytes sent after the FIN are read and discarded while the proxy lingers: no reset.
    socket.write('more bytes the proxy reads and discards')
    expect(p.service.connectionCount).toBe(1)
    // The proxy drops the connection once the lingering time is over, not after 60 s.
    await expect
      .poll(() => p.service.connectionCount, { timeout: STREAM_LINGER_MS + 2_000, interval: 50 })
      .toBe(0)
    expect(Date.now() - finAt).toBeLessThan(STREAM_LINGER_MS + 2_000)
    expect(error).toBeUndefined()
  }, 15_000)
})
