import net from 'node:net'
import { hasRedisServer, startRedis } from '@pingora-ts/test-utils'
import { afterAll, describe, expect, it, onTestFinished } from 'vitest'
import { startTcpProxy } from '../src/tcp-proxy.ts'

/** Sends RESP commands on one connection and resolves the raw replies once `expected` bytes came. */
function redisExchange(port: number, commands: string[][], until: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1')
    let received = ''
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString()
      if (received.endsWith(until)) {
        socket.end()
        resolve(received)
      }
    })
    socket.once('error', reject)
    for (const args of commands) {
      socket.write(
        `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`,
      )
    }
  })
}

function startNamedOrigin(name: string): Promise<{ address: string; close: () => void }> {
  return new Promise((resolve) => {
    const server = net.createServer((socket) => {
      socket.on('error', () => {})
      socket.end(`${name}\n`)
    })
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo
      resolve({ address: `127.0.0.1:${port}`, close: () => server.close() })
    })
  })
}

function readAll(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1')
    let text = ''
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString()
    })
    socket.once('close', () => resolve(text))
    socket.once('error', reject)
  })
}

describe('tcp-proxy example', () => {
  const closers: Array<() => unknown> = []
  afterAll(async () => {
    for (const close of closers) await close()
  })

  it.skipIf(!hasRedisServer)('proxies the Redis protocol to a real redis-server', async () => {
    const redis = await startRedis()
    onTestFinished(redis.stop)
    const lines: string[] = []
    const proxy = await startTcpProxy({
      upstreams: [`127.0.0.1:${redis.port}`],
      onLog: (line) => lines.push(line),
    })
    closers.push(proxy.close)
    const replies = await redisExchange(
      proxy.port,
      [['PING'], ['SET', 'greeting', 'through pingora-ts'], ['GET', 'greeting']],
      'through pingora-ts\r\n',
    )
    expect(replies).toBe('+PONG\r\n+OK\r\n$18\r\nthrough pingora-ts\r\n')
  })

  it('spreads connections over the upstreams in round robin and logs each', async () => {
    const one = await startNamedOrigin('one')
    const two = await startNamedOrigin('two')
    closers.push(one.close, two.close)
    const lines: string[] = []
    let logged: () => void = () => {}
    const proxy = await startTcpProxy({
      upstreams: [one.address, two.address],
      onLog: (line) => {
        lines.push(line)
        if (lines.length === 4) logged()
      },
    })
    closers.push(proxy.close)
    const allLogged = new Promise<void>((resolve) => {
      logged = resolve
    })
    const answers: string[] = []
    for (let i = 0; i < 4; i++) answers.push(await readAll(proxy.port))
    expect(new Set(answers)).toEqual(new Set(['one\n', 'two\n']))
    expect(answers[0]).not.toBe(answers[1])
    expect(answers[0]).toBe(answers[2])
    await allLogged
    expect(lines[0]).toMatch(/^127\.0\.0\.1 -> addr: 127\.0\.0\.1:\d+ up=0 down=4 ms=\d+$/)
  })
})
