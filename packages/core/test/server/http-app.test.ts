import { execFile } from 'node:child_process'
import diagnosticsChannel from 'node:diagnostics_channel'
import { existsSync } from 'node:fs'
import { ResponseHeader } from '@pingora-ts/http'
import { Agent, request } from 'undici'
import { describe, expect, it, onTestFinished } from 'vitest'
import type { HttpServerApp } from '../../src/apps/http-app.ts'
import { HttpServer, type ServeHttp } from '../../src/apps/http-server.ts'
import type { ServerApp } from '../../src/apps/server-app.ts'
import { CHANNEL_NAMES, type ConnectionErrorMessage } from '../../src/diagnostics.ts'
import { ListeningService } from '../../src/services/listening.ts'
import { closed, connect, echoApp, portOf, readAll, readUntil, startServer } from './helpers.ts'

function agent(): Agent {
  const dispatcher = new Agent({ connections: 1, pipelining: 1 })
  onTestFinished(() => dispatcher.close())
  return dispatcher
}

function captureConnectionErrors(): ConnectionErrorMessage[] {
  const seen: ConnectionErrorMessage[] = []
  const listener = (message: unknown): void => {
    seen.push(message as ConnectionErrorMessage)
  }
  diagnosticsChannel.subscribe(CHANNEL_NAMES.connectionError, listener)
  onTestFinished(() => {
    diagnosticsChannel.unsubscribe(CHANNEL_NAMES.connectionError, listener)
  })
  return seen
}

/** An HttpServerApp answering with the client's port, to tell connections apart. */
const whoAmI: HttpServerApp = {
  async processNewHttp(session) {
    if (!(await session.readRequest())) return undefined
    const body = Buffer.from(`${session.requestHeader.uri} from ${session.clientAddr?.port}`)
    const response = ResponseHeader.build(200)
    response.setContentLength(body.length)
    await session.writeResponseHeader(response, false)
    await session.writeResponseBody(body, true)
    return session.finish()
  },
}

describe('HttpServerApp over HTTP/1', () => {
  it('answers undici and reuses the connection for the next request', async () => {
    const service = new ListeningService('who', whoAmI)
    service.addTcp('127.0.0.1:0')
    await startServer([service])
    const origin = `http://127.0.0.1:${portOf(service)}`
    const dispatcher = agent()
    const first = await request(`${origin}/a`, { dispatcher })
    const firstText = await first.body.text()
    const second = await request(`${origin}/b`, { dispatcher })
    const secondText = await second.body.text()
    expect(first.statusCode).toBe(200)
    expect(firstText).toMatch(/^\/a from \d+$/)
    expect(secondText).toMatch(/^\/b from \d+$/)
    // Same client port: the same TCP connection served both requests.
    expect(secondText.split(' from ')[1]).toBe(firstText.split(' from ')[1])
    expect(service.connectionCount).toBe(1)
  })

  it('closes the connection after keepaliveRequestLimit requests', async () => {
    const app: HttpServerApp = {
      processNewHttp: whoAmI.processNewHttp,
      serverOptions: () => ({ keepaliveRequestLimit: 2 }),
    }
    const service = new ListeningService('limited', app)
    service.addTcp('127.0.0.1:0')
    await startServer([service])
    const socket = await connect(portOf(service))
    const all = readAll(socket)
    socket.write(
      'GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\nGET /3 HTTP/1.1\r\nHost: x\r\n\r\n',
    )
    const text = await all
    expect(text.match(/HTTP\/1\.1 200/g)).toHaveLength(2)
    expect(text).toContain('/2 from')
    expect(text).not.toContain('/3 from')
    expect(text.toLowerCase()).toContain('connection: close')
  })

  it('runs the app cleanup when the service stops', async () => {
    let cleaned = 0
    const app: HttpServerApp = {
      processNewHttp: whoAmI.processNewHttp,
      httpCleanup: () => {
        cleaned++
      },
    }
    const service = new ListeningService('cleanup', app)
    service.addTcp('127.0.0.1:0')
    const server = await startServer([service])
    await server.shutdown()
    expect(cleaned).toBe(1)
  })
})

describe('ServeHttp and HttpServer', () => {
  const hello: ServeHttp = {
    response: (session) =>
      session.requestHeader.uri === '/json'
        ? {
            status: 201,
            headers: { 'Content-Type': 'application/json', 'X-Many': ['1', '2'] },
            body: '{"ok":true}',
          }
        : { status: 200, body: 'Hello, world!' },
  }

  it('answers undici with Content-Length and keep-alive', async () => {
    const service = new ListeningService('hello', new HttpServer(hello))
    service.addTcp('127.0.0.1:0')
    await startServer([service])
    const origin = `http://127.0.0.1:${portOf(service)}`
    const dispatcher = agent()
    const plain = await request(`${origin}/`, { dispatcher })
    expect(plain.statusCode).toBe(200)
    expect(plain.headers['content-length']).toBe('13')
    expect(await plain.body.text()).toBe('Hello, world!')
    const json = await request(`${origin}/json`, { dispatcher })
    expect(json.statusCode).toBe(201)
    expect(json.headers['content-type']).toBe('application/json')
    expect(json.headers['x-many']).toEqual(['1', '2'])
    expect(await json.body.json()).toEqual({ ok: true })
    expect(service.connectionCount).toBe(1)
  })

  it.runIf(existsSync('/usr/bin/curl'))('answers curl', async () => {
    const service = new ListeningService('hello', new HttpServer(hello))
    service.addTcp('127.0.0.1:0')
    await startServer([service])
    const url = `http://127.0.0.1:${portOf(service)}/`
    const output = await new Promise<string>((resolve, reject) => {
      execFile('curl', ['-si', url, url], (error, stdout) =>
        error ? reject(error) : resolve(stdout),
      )
    })
    expect(output.match(/HTTP\/1\.1 200/g)).toHaveLength(2)
    expect(output).toContain('Hello, world!')
  })

  it('answers a throwing app with a 500 and publishes the error', async () => {
    const errors = captureConnectionErrors()
    const failing: ServeHttp = {
      response(session) {
        if (session.requestHeader.uri === '/boom') throw new Error('boom')
        return { status: 200, body: 'fine' }
      },
    }
    const service = new ListeningService('failing', new HttpServer(failing))
    service.addTcp('127.0.0.1:0')
    await startServer([service])
    const origin = `http://127.0.0.1:${portOf(service)}`
    const dispatcher = agent()
    const boom = await request(`${origin}/boom`, { dispatcher })
    expect(boom.statusCode).toBe(500)
    await boom.body.dump()
    const fine = await request(`${origin}/`, { dispatcher })
    expect(await fine.body.text()).toBe('fine')
    expect(errors).toHaveLength(1)
    expect(errors[0]?.error).toMatchObject({ type: 'InternalError', source: 'internal' })
    expect(errors[0]?.error.cause).toMatchObject({ message: 'boom' })
  })

  it('answers 400 (not 500) when the app reads a body with a malformed chunk size', async () => {
    const errors = captureConnectionErrors()
    let called: () => void = () => {}
    const appCalled = new Promise<void>((resolve) => {
      called = resolve
    })
    const reading: ServeHttp = {
      async response(session) {
        called()
        let size = 0
        for (let piece = await session.readRequestBody(); piece; ) {
          size += piece.length
          piece = await session.readRequestBody()
        }
        return { status: 200, body: String(size) }
      },
    }
    const service = new ListeningService('reading', new HttpServer(reading))
    service.addTcp('127.0.0.1:0')
    await startServer([service])
    const socket = await connect(portOf(service))
    const all = readAll(socket)
    socket.write('POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n')
    await appCalled
    // The body arrives after the head (so the session could not refuse it up front).
    socket.write('3\r\nabc\r\nzz\r\n')
    const text = await all
    expect(text).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/)
    expect(text).toContain('Connection: close')
    expect(errors[0]?.error).toMatchObject({ type: 'H1Error', source: 'downstream' })
  })

  it('owns the framing: user Content-Length and Transfer-Encoding are replaced', async () => {
    const app: ServeHttp = {
      response: async () => ({
        status: 200,
        headers: { 'content-length': '999', 'Transfer-Encoding': 'chunked', 'X-Kept': 7 },
        body: new Uint8Array([104, 105]),
      }),
    }
    const service = new ListeningService('framing', new HttpServer(app))
    service.addTcp('127.0.0.1:0')
    await startServer([service])
    const response = await request(`http://127.0.0.1:${portOf(service)}/`, { dispatcher: agent() })
    expect(response.headers['content-length']).toBe('2')
    expect(response.headers['transfer-encoding']).toBeUndefined()
    expect(response.headers['x-kept']).toBe('7')
    expect(await response.body.text()).toBe('hi')
  })

  it('omits Content-Length on 204 and sends none of the body for HEAD', async () => {
    const app: ServeHttp = {
      response: (session) =>
        session.requestHeader.uri === '/empty' ? { status: 204 } : { status: 200, body: 'abc' },
    }
    const service = new ListeningService('head', new HttpServer(app))
    service.addTcp('127.0.0.1:0')
    await startServer([service])
    const socket = await connect(portOf(service))
    socket.write('GET /empty HTTP/1.1\r\nHost: x\r\n\r\n')
    const head = await readUntil(socket, '\r\n\r\n')
    expect(head).toMatch(/^HTTP\/1\.1 204/)
    expect(head.toLowerCase()).not.toContain('content-length')
    const all = readAll(socket)
    socket.end('HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
    const text = await all
    expect(text).toMatch(/^HTTP\/1\.1 200/)
    expect(text.toLowerCase()).toContain('content-length: 3')
    expect(text.endsWith('\r\n\r\n')).toBe(true)
  })
})

describe('fault isolation', () => {
  it('destroys only the connection whose app throws', async () => {
    const errors = captureConnectionErrors()
    const picky: ServerApp = {
      async processNew(stream, shutdown) {
        const first = await stream.read()
        if (first?.toString() === 'crash') throw new Error('app bug')
        stream.unread(first ?? Buffer.alloc(0))
        return echoApp.processNew(stream, shutdown)
      },
    }
    const service = new ListeningService('picky', picky)
    service.addTcp('127.0.0.1:0')
    await startServer([service])
    const port = portOf(service)
    const healthy = await connect(port)
    const victim = await connect(port)
    victim.write('crash')
    await closed(victim)
    const reply = readAll(healthy)
    healthy.end('still here')
    expect(await reply).toBe('still here')
    expect(errors).toHaveLength(1)
    expect(errors[0]).toMatchObject({ service: 'picky' })
    expect(errors[0]?.peer).toMatch(/^127\.0\.0\.1:\d+$/)
    expect(errors[0]?.error.cause).toMatchObject({ message: 'app bug' })
  })

  it('contains a synchronous throw from processNew', async () => {
    const errors = captureConnectionErrors()
    const broken = {
      processNew(): Promise<undefined> {
        throw new TypeError('not even async')
      },
    } satisfies ServerApp
    const service = new ListeningService('broken', broken)
    service.addTcp('127.0.0.1:0')
    await startServer([service])
    await closed(await connect(portOf(service)))
    expect(errors).toHaveLength(1)
    expect(errors[0]?.error.cause).toBeInstanceOf(TypeError)
  })
})
