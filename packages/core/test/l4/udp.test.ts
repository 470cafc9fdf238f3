import dgram from 'node:dgram'
import type { PingoraError } from '@pingora-ts/error'
import { describe, expect, it, onTestFinished } from 'vitest'
import { UdpProxy, type UdpProxySession } from '../../src/apps/udp-proxy.ts'
import type { SocketAddress } from '../../src/protocols/digest.ts'
import { type UdpEndpoint, type UdpServerApp, UdpService } from '../../src/services/udp.ts'
import { BasicPeer } from '../../src/upstreams/basic-peer.ts'
import { ipv6Available, startServer } from '../server/helpers.ts'

/** A UDP socket for a test client or origin, closed when the test ends. */
async function udpSocket(type: 'udp4' | 'udp6' = 'udp4'): Promise<dgram.Socket> {
  const socket = dgram.createSocket(type)
  await new Promise<void>((resolve) =>
    socket.bind(0, type === 'udp4' ? '127.0.0.1' : '::1', resolve),
  )
  onTestFinished(() => {
    try {
      socket.close()
    } catch {
      // already closed
    }
  })
  return socket
}

/** Resolves with the next datagram `socket` receives. */
function nextMessage(socket: dgram.Socket): Promise<Buffer> {
  return new Promise((resolve) => socket.once('message', (message) => resolve(message)))
}

/** An origin that answers each datagram with `<its own view of the sender port>:<payload>`. */
async function taggingOrigin(): Promise<{ port: number; received: () => number }> {
  const socket = await udpSocket()
  let received = 0
  socket.on('message', (message, from) => {
    received++
    socket.send(`${from.port}:${message.toString()}`, from.port, from.address)
  })
  return { port: socket.address().port, received: () => received }
}

/** Wraps an app to resolve `processed(n)` once it has handled `n` datagrams. */
function counted(app: UdpServerApp): UdpServerApp & { processed(count: number): Promise<void> } {
  let count = 0
  const waiters: Array<{ count: number; resolve: () => void }> = []
  return {
    processDatagram(datagram: Buffer, from: SocketAddress, endpoint: UdpEndpoint) {
      app.processDatagram(datagram, from, endpoint)
      count++
      for (const waiter of waiters.filter((w) => w.count <= count)) {
        waiters.splice(waiters.indexOf(waiter), 1)
        waiter.resolve()
      }
    },
    cleanup: () => app.cleanup?.(),
    processed: (target) =>
      target <= count
        ? Promise.resolve()
        : new Promise((resolve) => waiters.push({ count: target, resolve })),
  }
}

describe('UdpService', () => {
  it('hands datagrams to its app on IPv4 and IPv6 endpoints and lets it answer', async () => {
    const hasV6 = await ipv6Available()
    const echo: UdpServerApp = {
      processDatagram(datagram, from, endpoint) {
        endpoint.send(Buffer.concat([Buffer.from(`${endpoint.address.family}:`), datagram]), from)
      },
    }
    const service = new UdpService('udp echo', echo)
    service.addUdp('127.0.0.1:0')
    if (hasV6) service.addUdp('[::1]:0')
    await startServer([service])
    const [v4, v6] = service.listeningAddresses()
    const client = await udpSocket()
    const reply = nextMessage(client)
    client.send('hello', v4?.port ?? 0, '127.0.0.1')
    expect((await reply).toString()).toBe('IPv4:hello')
    if (!hasV6) return
    const client6 = await udpSocket('udp6')
    const reply6 = nextMessage(client6)
    client6.send('hello', v6?.port ?? 0, '::1')
    expect((await reply6).toString()).toBe('IPv6:hello')
  })

  it('validates its options', () => {
    const service = new UdpService('x', { processDatagram() {} })
    expect(() => service.addUdp('127.0.0.1')).toThrow(TypeError)
    expect(() => service.addUdp('127.0.0.1:0', { sendQueueLimit: 0 })).toThrow(
      new RangeError('sendQueueLimit must be a positive integer, got 0'),
    )
  })
})

describe('UdpProxy', () => {
  async function startUdpProxy(
    options: Partial<ConstructorParameters<typeof UdpProxy>[0]> & {
      upstreamPeer: ConstructorParameters<typeof UdpProxy>[0]['upstreamPeer']
    },
  ) {
    const logged: Array<{ session: UdpProxySession; error: PingoraError | undefined }> = []
    const proxy = new UdpProxy({
      logging: (session, error) => logged.push({ session, error }),
      ...options,
    })
    const app = counted(proxy)
    const service = new UdpService('udp proxy', app)
    service.addUdp('127.0.0.1:0')
    await startServer([service])
    return { proxy, app, port: service.listeningAddresses()[0]?.port ?? 0, logged }
  }

  it('gives each client address its own upstream socket and routes answers back to it', async () => {
    const origin = await taggingOrigin()
    const { proxy, port } = await startUdpProxy({
      upstreamPeer: () => new BasicPeer(`127.0.0.1:${origin.port}`),
    })
    const a = await udpSocket()
    const b = await udpSocket()
    const replyA = nextMessage(a)
    const replyB = nextMessage(b)
    a.send('from a', port, '127.0.0.1')
    b.send('from b', port, '127.0.0.1')
    const [textA, textB] = [(await replyA).toString(), (await replyB).toString()]
    expect(textA).toMatch(/^\d+:from a$/)
    expect(textB).toMatch(/^\d+:from b$/)
    // Two sessions: the origin saw two different upstream source ports.
    expect(textA.split(':')[0]).not.toBe(textB.split(':')[0])
    // The same client keeps its session (same upstream port).
    const again = nextMessage(a)
    a.send('again', port, '127.0.0.1')
    expect((await again).toString()).toBe(`${textA.split(':')[0]}:again`)
    expect(proxy.stats()).toEqual({ sessions: 2, sessionsOpened: 2, droppedNoSession: 0 })
  })

  it('ends idle sessions (injected clock) and opens a new one on the next datagram', async () => {
    const origin = await taggingOrigin()
    let now = 1_000_000
    const { proxy, port, logged } = await startUdpProxy({
      upstreamPeer: () => new BasicPeer(`127.0.0.1:${origin.port}`),
      idleTimeoutMs: 60_000,
      now: () => now,
    })
    const client = await udpSocket()
    const first = nextMessage(client)
    client.send('one', port, '127.0.0.1')
    await first
    now += 59_999
    proxy.expireIdle()
    expect(proxy.stats().sessions).toBe(1)
    now += 1
    proxy.expireIdle()
    expect(proxy.stats().sessions).toBe(0)
    expect(logged).toHaveLength(1)
    expect(logged[0]?.session).toMatchObject({
      datagramsFromClient: 1,
      datagramsToClient: 1,
      bytesFromClient: 3,
    })
    expect(logged[0]?.error).toBeUndefined()
    const second = nextMessage(client)
    client.send('two', port, '127.0.0.1')
    expect((await second).toString()).toMatch(/^\d+:two$/)
    expect(proxy.stats()).toMatchObject({ sessions: 1, sessionsOpened: 2 })
  })

  it('drops datagrams beyond maxSessions', async () => {
    const origin = await taggingOrigin()
    const { proxy, app, port } = await startUdpProxy({
      upstreamPeer: () => new BasicPeer(`127.0.0.1:${origin.port}`),
      maxSessions: 1,
    })
    const a = await udpSocket()
    const b = await udpSocket()
    const replyA = nextMessage(a)
    a.send('a', port, '127.0.0.1')
    await replyA
    b.send('b', port, '127.0.0.1')
    await app.processed(2)
    expect(proxy.stats()).toEqual({ sessions: 1, sessionsOpened: 1, droppedNoSession: 1 })
  })

  it('queues at most maxQueuedDatagrams while the upstream is being chosen', async () => {
    const origin = await taggingOrigin()
    let choose: (peer: BasicPeer) => void = () => {}
    const chosen = new Promise<BasicPeer>((resolve) => {
      choose = resolve
    })
    const { app, port, proxy, logged } = await startUdpProxy({
      upstreamPeer: () => chosen,
      maxQueuedDatagrams: 2,
    })
    const client = await udpSocket()
    const replies: string[] = []
    let gotTwo: () => void = () => {}
    const two = new Promise<void>((resolve) => {
      gotTwo = resolve
    })
    client.on('message', (message) => {
      replies.push(message.toString().split(':')[1] as string)
      if (replies.length === 2) gotTwo()
    })
    for (let i = 0; i < 5; i++) client.send(`d${i}`, port, '127.0.0.1')
    await app.processed(5)
    choose(new BasicPeer(`127.0.0.1:${origin.port}`))
    await two
    expect(replies).toEqual(['d0', 'd1'])
    proxy.cleanup()
    expect(logged[0]?.session.droppedDatagrams).toBe(3)
    expect(origin.received()).toBe(2)
  })

  it('validates its options', () => {
    expect(
      () => new UdpProxy({ upstreamPeer: () => new BasicPeer('127.0.0.1:1'), maxSessions: 0 }),
    ).toThrow(new RangeError('maxSessions must be an integer >= 1, got 0'))
    expect(() => new UdpProxy({} as never)).toThrow(
      new TypeError('UdpProxy needs an upstreamPeer function'),
    )
  })
})
