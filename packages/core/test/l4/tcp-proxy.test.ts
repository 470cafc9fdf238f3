import { createHash } from 'node:crypto'
import type net from 'node:net'
import tls from 'node:tls'
import type { PingoraError } from '@pingora-ts/error'
import { describe, expect, it } from 'vitest'
import { TcpProxy, type TcpProxySession } from '../../src/apps/tcp-proxy.ts'
import { ListeningService } from '../../src/services/listening.ts'
import { BasicPeer } from '../../src/upstreams/basic-peer.ts'
import { closed, connect, portOf, startServer } from '../server/helpers.ts'
import {
  collect,
  echoOrigin,
  receiveText,
  startRawOrigin,
  testCert,
  testCertPath,
  whenTrue,
} from './helpers.ts'

interface Logged {
  session: TcpProxySession
  error: PingoraError | undefined
}

async function startTcpProxy(
  upstream: () => BasicPeer,
  options: { idleTimeoutMs?: number; tls?: boolean } = {},
): Promise<{ port: number; logged: Promise<Logged>; sessions: TcpProxySession[] }> {
  const sessions: TcpProxySession[] = []
  let onLogged: (entry: Logged) => void = () => {}
  const logged = new Promise<Logged>((resolve) => {
    onLogged = resolve
  })
  const proxy = new TcpProxy({
    upstreamPeer(session) {
      sessions.push(session)
      return upstream()
    },
    logging(session, error) {
      onLogged({ session, error })
    },
    idleTimeoutMs: options.idleTimeoutMs,
  })
  const service = new ListeningService('tcp proxy', proxy)
  if (options.tls === true) {
    service.addTls('127.0.0.1:0', testCertPath('localhost.pem'), testCertPath('localhost.key'))
  } else {
    service.addTcp('127.0.0.1:0')
  }
  await startServer([service])
  return { port: portOf(service), logged, sessions }
}

describe('TcpProxy', () => {
  it('relays bytes both ways and counts them', async () => {
    const origin = await echoOrigin()
    const proxy = await startTcpProxy(() => new BasicPeer(origin.address))
    const client = await connect(proxy.port)
    const reply = collect(client)
    client.write('hello ')
    await receiveText(client, 'hello ')
    client.end('world')
    expect((await reply).toString()).toBe('hello world')
    const { session, error } = await proxy.logged
    expect(error).toBeUndefined()
    expect(session.bytesFromClient).toBe(11)
    expect(session.bytesToClient).toBe(11)
    expect(session.clientAddr?.address).toBe('127.0.0.1')
    expect(session.peer?.toString()).toBe(`addr: ${origin.address}`)
  })

  it('passes the client FIN upstream and still relays the answer that follows', async () => {
    // The origin answers only after the client has finished sending (like `nc -q`).
    const origin = await startRawOrigin((socket) => {
      let size = 0
      socket.on('data', (chunk: Buffer) => {
        size += chunk.length
      })
      socket.on('end', () => socket.end(`got ${size} bytes after your FIN`))
    })
    const proxy = await startTcpProxy(() => new BasicPeer(origin.address))
    const client = await connect(proxy.port)
    client.allowHalfOpen = true
    const reply = collect(client)
    client.end(Buffer.alloc(5000, 1))
    expect((await reply).toString()).toBe('got 5000 bytes after your FIN')
    expect((await proxy.logged).error).toBeUndefined()
  })

  it('passes the upstream FIN to the client while the client keeps sending', async () => {
    // The origin greets and half-closes at once, then keeps reading until the client ends.
    const origin = await startRawOrigin((socket) => {
      socket.end('greeting then FIN\n')
    })
    const proxy = await startTcpProxy(() => new BasicPeer(origin.address))
    const upstreamSide = origin.nextConnection()
    const client = await connect(proxy.port)
    client.allowHalfOpen = true
    const ended = new Promise<string>((resolve) => {
      let text = ''
      client.on('data', (chunk: Buffer) => {
        text += chunk.toString()
      })
      client.once('end', () => resolve(text))
    })
    expect(await ended).toBe('greeting then FIN\n')
    const origin_ = await upstreamSide
    const late = receiveText(origin_, 'sent after the FIN')
    client.write('sent after the FIN')
    await late
    client.end()
    await closed(client)
    const { session, error } = await proxy.logged
    expect(error).toBeUndefined()
    expect(session.bytesFromClient).toBe(18)
  })

  it('reads the client only as fast as the upstream takes bytes (backpressure)', async () => {
    let upstreamSocket: net.Socket | undefined
    const origin = await startRawOrigin((socket) => {
      upstreamSocket = socket
      socket.pause()
    })
    const proxy = await startTcpProxy(() => new BasicPeer(origin.address))
    const client = await connect(proxy.port)
    const total = 16 * 1024 * 1024
    const payload = Buffer.alloc(total)
    for (let i = 0; i < total; i += 4096) payload[i] = (i / 4096) & 0xff
    const sent = createHash('sha256').update(payload).digest('hex')
    client.write(payload)
    await whenTrue(() => proxy.sessions[0]?.upstream?.socket.writableNeedDrain === true)
    await whenTrue(() => proxy.sessions[0]?.downstream.socket.isPaused() === true)
    const stalledAt = proxy.sessions[0]?.bytesFromClient ?? 0
    // Only socket buffers (a few MiB) hold what the proxy read: without backpressure it
    // would have read everything.
    expect(stalledAt).toBeLessThan(total * 0.75)
    const socket = upstreamSocket as net.Socket
    const hash = createHash('sha256')
    let received = 0
    const done = new Promise<void>((resolve) => {
      socket.on('data', (chunk: Buffer) => {
        hash.update(chunk)
        received += chunk.length
        if (received === total) resolve()
      })
    })
    socket.resume()
    await done
    expect(hash.digest('hex')).toBe(sent)
    client.destroy()
  })

  it('closes both sides after the idle timeout', async () => {
    const origin = await echoOrigin()
    const upstreamSide = origin.nextConnection()
    const proxy = await startTcpProxy(() => new BasicPeer(origin.address), { idleTimeoutMs: 150 })
    const client = await connect(proxy.port)
    const echoed = receiveText(client, 'ping')
    client.write('ping')
    await echoed
    const upstream = await upstreamSide
    const startedIdle = Date.now()
    await Promise.all([closed(client), closed(upstream)])
    expect(Date.now() - startedIdle).toBeGreaterThanOrEqual(100)
    const { error } = await proxy.logged
    expect(error).toMatchObject({ type: 'ReadTimedout' })
  })

  it('closes the client when the upstream refuses, and logs the typed error', async () => {
    // Nothing listens on port 1 of the loopback: the connect is refused.
    const proxy = await startTcpProxy(() => new BasicPeer('127.0.0.1:1'))
    const client = await connect(proxy.port)
    await closed(client)
    const { error, session } = await proxy.logged
    expect(error).toMatchObject({ type: 'ConnectRefused', source: 'upstream' })
    expect(session.upstream).toBeUndefined()
  })

  it('terminates TLS in front and originates TLS behind', async () => {
    const origin = await echoOrigin({
      cert: testCert('a.test.pem'),
      key: testCert('a.test.key'),
    })
    const proxy = await startTcpProxy(
      () => {
        const peer = new BasicPeer(origin.address, { ca: testCert('ca.pem').toString() })
        peer.sni = 'a.test'
        return peer
      },
      { tls: true },
    )
    const client = tls.connect({
      port: proxy.port,
      host: '127.0.0.1',
      servername: 'localhost',
      ca: testCert('ca.pem'),
    })
    await new Promise<void>((resolve, reject) => {
      client.once('secureConnect', resolve)
      client.once('error', reject)
    })
    const reply = collect(client)
    client.end('over two TLS connections')
    expect((await reply).toString()).toBe('over two TLS connections')
    const { session, error } = await proxy.logged
    expect(error).toBeUndefined()
    expect(session.downstream.digest.tls?.sni).toBe('localhost')
    expect(session.upstream?.digest.tls?.version).toMatch(/^TLSv1\.[23]$/)
  })
})
