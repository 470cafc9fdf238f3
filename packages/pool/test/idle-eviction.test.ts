import { once } from 'node:events'
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net'
import { describe, expect, it, onTestFinished } from 'vitest'
import { type ConnectionMeta, ConnectionPool, type DropReason } from '../src/connection-pool.ts'
import { watchSocket } from '../src/watch-socket.ts'

interface Loopback {
  /** The client side, connected to the server. */
  client: Socket
  /** The server's side of the same connection. */
  peer: Socket
}

/** Starts a server on 127.0.0.1:0 and connects one client to it. */
async function loopback(): Promise<Loopback> {
  const server: Server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  const accepted = once(server, 'connection') as Promise<[Socket]>
  const client = connect(port, '127.0.0.1')
  await once(client, 'connect')
  const [peer] = await accepted
  onTestFinished(async () => {
    client.destroy()
    peer.destroy()
    server.close()
    await once(server, 'close')
  })
  return { client, peer }
}

/** A pool of sockets watched by watchSocket, whose drops resolve `nextDrop()`. */
function socketPool() {
  const waiters: Array<(drop: [Socket, DropReason]) => void> = []
  const drops: Array<[Socket, DropReason]> = []
  const pool = new ConnectionPool<Socket>({
    watch: watchSocket,
    onDrop: (socket, reason) => {
      socket.destroy()
      const waiter = waiters.shift()
      if (waiter) waiter([socket, reason])
      else drops.push([socket, reason])
    },
  })
  const nextDrop = () =>
    new Promise<[Socket, DropReason]>((resolve) => {
      const drop = drops.shift()
      if (drop) resolve(drop)
      else waiters.push(resolve)
    })
  return { pool, nextDrop }
}

const meta = (id: number): ConnectionMeta => ({ key: 'origin:80', id })

describe('ConnectionPool with real sockets', () => {
  it('drops an idle socket when the server closes its side', async () => {
    const { client, peer } = await loopback()
    const { pool, nextDrop } = socketPool()
    pool.put(meta(1), client)
    const dropped = nextDrop()
    peer.end()
    const [socket, reason] = await dropped
    expect(socket).toBe(client)
    expect(reason).toBe('closed')
    expect(pool.get('origin:80')).toBeUndefined()
    expect(pool.stats().closedWhileIdle).toBe(1)
  })

  it('drops an idle socket that the server resets', async () => {
    const { client, peer } = await loopback()
    const { pool, nextDrop } = socketPool()
    pool.put(meta(2), client)
    const dropped = nextDrop()
    peer.resetAndDestroy()
    const [socket, reason] = await dropped
    expect(socket).toBe(client)
    expect(reason).toBe('closed')
    expect(pool.idle).toBe(0)
  })

  it('drops an idle socket that receives unexpected bytes', async () => {
    const { client, peer } = await loopback()
    const { pool, nextDrop } = socketPool()
    pool.put(meta(3), client)
    const dropped = nextDrop()
    peer.write('HTTP/1.1 408 Request Timeout\r\n\r\n')
    const [socket, reason] = await dropped
    expect(socket).toBe(client)
    expect(reason).toBe('unexpected-data')
    expect(pool.get('origin:80')).toBeUndefined()
  })

  it('hands out a healthy socket that still carries data both ways', async () => {
    const { client, peer } = await loopback()
    const { pool } = socketPool()
    peer.on('data', (chunk) => peer.write(chunk)) // echo
    const listenersBefore = client.listenerCount('readable')
    pool.put(meta(4), client)
    expect(client.listenerCount('readable')).toBe(listenersBefore + 1)
    const reused = pool.get('origin:80')
    expect(reused).toBe(client)
    expect(client.listenerCount('readable')).toBe(listenersBefore)
    expect(client.listenerCount('close')).toBe(0)
    const echoed = once(client, 'data')
    client.write('ping')
    const [chunk] = (await echoed) as [Buffer]
    expect(chunk.toString()).toBe('ping')
  })

  it('keeps watching a socket put back after reuse', async () => {
    const { client, peer } = await loopback()
    const { pool, nextDrop } = socketPool()
    pool.put(meta(5), client)
    expect(pool.get('origin:80')).toBe(client)
    pool.put(meta(5), client)
    const dropped = nextDrop()
    peer.end()
    const [, reason] = await dropped
    expect(reason).toBe('closed')
  })

  it('never pools a socket that is already destroyed', async () => {
    const { client } = await loopback()
    const { pool, nextDrop } = socketPool()
    client.destroy()
    pool.put(meta(6), client)
    const [socket, reason] = await nextDrop()
    expect(socket).toBe(client)
    expect(reason).toBe('closed')
    expect(pool.idle).toBe(0)
  })
})

describe('watchSocket', () => {
  it('reports bytes already buffered as unexpected data at once', async () => {
    const { client, peer } = await loopback()
    client.pause()
    const arrived = new Promise<void>((resolve) => {
      client.once('readable', () => resolve())
    })
    peer.write('x')
    await arrived
    const problems: string[] = []
    const unwatch = watchSocket(client, (problem) => problems.push(problem))
    expect(problems).toEqual(['unexpected-data'])
    unwatch()
  })

  it('removes all of its listeners when stopped, and reports nothing after', async () => {
    const { client, peer } = await loopback()
    const counts = () => ['readable', 'close', 'error'].map((e) => client.listenerCount(e))
    const before = counts()
    const problems: string[] = []
    const unwatch = watchSocket(client, (problem) => problems.push(problem))
    expect(counts()).toEqual(before.map((n) => n + 1))
    unwatch()
    unwatch()
    expect(counts()).toEqual(before)
    const closed = once(client, 'close')
    peer.destroy()
    client.resume()
    await closed
    expect(problems).toEqual([])
  })
})
