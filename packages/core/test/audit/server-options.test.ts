import { describe, expect, it } from 'vitest'
import { HttpServer, type ServeHttp } from '../../src/apps/http-server.ts'
import { Server } from '../../src/server/server.ts'
import { ListeningService } from '../../src/services/listening.ts'
import { errorAnswer, normalizeDate } from '../http1/helpers.ts'
import { connect, portOf, readAll, readUntil, startServer } from '../server/helpers.ts'

/**
 * Issue 3 through the Server: the HTTP/1 limits and timeouts are configurable for apps run by a
 * listening service (HttpServerOptions), and the Server's bootstrap/addServices/configuration.
 */

const hello: ServeHttp = { response: () => ({ status: 200, body: 'hello' }) }

async function serve(options: ConstructorParameters<typeof HttpServer>[1]): Promise<number> {
  const service = new ListeningService('options', new HttpServer(hello, options))
  service.addTcp('127.0.0.1:0')
  await startServer([service])
  return portOf(service)
}

async function send(port: number, text: string): Promise<string> {
  const socket = await connect(port)
  const all = readAll(socket)
  socket.write(text)
  return all
}

describe('HttpServerOptions carry the HTTP/1 limits and timeouts', () => {
  it('answers 431 past maxHeaders and closes', async () => {
    const port = await serve({ maxHeaders: 2 })
    const ok = await send(port, 'GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n')
    expect(ok).toMatch(/^HTTP\/1\.1 200 OK\r\n/)
    const out = await send(port, 'GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\nX-B: 2\r\n\r\n')
    expect(normalizeDate(out)).toBe(errorAnswer(431, 'Request Header Fields Too Large'))
  })

  it('answers 414 past maxRequestLineBytes and 431 past maxHeaderBytes', async () => {
    const port = await serve({ maxRequestLineBytes: 40, maxHeaderBytes: 200 })
    const long = await send(port, `GET /${'a'.repeat(60)} HTTP/1.1\r\nHost: a\r\n\r\n`)
    expect(normalizeDate(long)).toBe(errorAnswer(414, 'URI Too Long'))
    const big = await send(port, `GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${'b'.repeat(300)}\r\n\r\n`)
    expect(normalizeDate(big)).toBe(errorAnswer(431, 'Request Header Fields Too Large'))
  })

  it('cuts off a stalled header after readTimeoutMs', async () => {
    const port = await serve({ readTimeoutMs: 30 })
    expect(await send(port, 'GET / HTTP/1.1\r\nHost: a\r\n')).toBe('')
  })

  it('closes an idle keep-alive connection after keepaliveTimeoutMs', async () => {
    const port = await serve({ keepaliveTimeoutMs: 30 })
    const socket = await connect(port)
    const all = readAll(socket)
    socket.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n')
    const first = await readUntil(socket, 'hello')
    expect(first).toContain('\r\nConnection: keep-alive\r\n')
    // The server, not the client, ends the idle connection: `all` resolves only on close.
    const everything = await all
    expect(everything.match(/HTTP\/1\.1 200/g)).toHaveLength(1)
    expect(everything.endsWith('hello')).toBe(true)
  })
})

describe('Server bootstrap, addServices and configuration', () => {
  it('bootstraps, registers services in order and exposes its configuration', async () => {
    const server = new Server({ configuration: { gracePeriodSeconds: 7 } })
    expect(server.configuration.gracePeriodSeconds).toBe(7)
    expect(server.phase).toBe('Setup')
    server.bootstrap()
    expect(server.phase).toBe('BootstrapComplete')
    const a = new ListeningService('a', new HttpServer(hello))
    a.addTcp('127.0.0.1:0')
    const b = new ListeningService('b', new HttpServer(hello))
    b.addTcp('127.0.0.1:0')
    const handles = server.addServices([a, b])
    expect(handles.map((h) => h.name)).toEqual(['a', 'b'])
    expect(handles[0]?.id).not.toBe(handles[1]?.id)
    await server.start()
    expect(server.phase).toBe('Running')
    for (const service of [a, b]) {
      const out = await send(
        portOf(service),
        'GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n',
      )
      expect(out).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nhello$/)
    }
    await server.shutdown({ graceful: false })
    expect(server.phase).toBe('Terminated')
  })
})
