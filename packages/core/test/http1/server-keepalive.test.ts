import type { PingoraError } from '@pingora-ts/error'
import { ResponseHeader } from '@pingora-ts/http'
import { describe, expect, it, onTestFinished } from 'vitest'
import {
  echoHandler,
  exchange,
  okHandler,
  rawConnect,
  splitResponses,
  startServer,
} from './helpers.ts'

const GET = (path: string, extra = '') => `GET ${path} HTTP/1.1\r\nHost: a\r\n${extra}\r\n`

function bodies(text: string): string[] {
  return splitResponses(text).map((r) => r.body)
}

describe('Http1ServerSession keep-alive', () => {
  it('serves several requests on one HTTP/1.1 connection and says keep-alive', async () => {
    const { port, events } = await startServer(okHandler)
    const client = await rawConnect(port)
    client.send(GET('/1'))
    await client.waitFor('GET /1 body=')
    client.send(GET('/2'))
    const out = await client.waitFor('GET /2 body=')
    expect(bodies(out)).toEqual(['GET /1 body=', 'GET /2 body='])
    expect(splitResponses(out)[0]?.head).toContain('\r\nConnection: keep-alive\r\n')
    expect(events.connections).toBe(1)
    expect(events.requests).toBe(2)
  })

  it('closes after answering a request with Connection: close', async () => {
    const { port, events } = await startServer(okHandler)
    const out = await exchange(port, GET('/1', 'Connection: close\r\n'))
    expect(out).toContain('\r\nConnection: close\r\n')
    await events.loopEnded()
    expect(events.errors).toEqual([])
  })

  it('closes an HTTP/1.0 connection without Connection: keep-alive', async () => {
    const { port } = await startServer(okHandler)
    const out = await exchange(port, 'GET /old HTTP/1.0\r\n\r\n')
    expect(out).toContain('\r\nConnection: close\r\n')
    expect(bodies(out)).toEqual(['GET /old body='])
  })

  it('keeps an HTTP/1.0 connection with Connection: keep-alive open', async () => {
    const { port, events } = await startServer(okHandler)
    const client = await rawConnect(port)
    client.send('GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n')
    const first = await client.waitFor('GET /a body=')
    expect(first).toContain('\r\nConnection: keep-alive\r\n')
    client.send('GET /b HTTP/1.0\r\n\r\n')
    const out = await client.closed
    expect(bodies(out)).toEqual(['GET /a body=', 'GET /b body='])
    expect(events.connections).toBe(1)
  })

  it('answers pipelined requests in order', async () => {
    const { port } = await startServer(echoHandler)
    const client = await rawConnect(port)
    client.send(
      `${GET('/1')}POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc` +
        'POST /3 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nxy\r\n0\r\n\r\n' +
        GET('/4', 'Connection: close\r\n'),
    )
    const out = await client.closed
    const echoes = splitResponses(out).map(
      (r) => JSON.parse(r.body) as { uri: string; body: string },
    )
    expect(echoes.map((e) => [e.uri, e.body])).toEqual([
      ['/1', ''],
      ['/2', 'abc'],
      ['/3', 'xy'],
      ['/4', ''],
    ])
  })

  it('answers pipelined requests sent one byte at a time', async () => {
    const { port } = await startServer(okHandler)
    const client = await rawConnect(port)
    const text = GET('/1') + GET('/2', 'Connection: close\r\n')
    client.socket.setNoDelay(true)
    for (const ch of text) client.send(ch)
    expect(bodies(await client.closed)).toEqual(['GET /1 body=', 'GET /2 body='])
  })

  it('stops after the request-count limit and says close on the last response', async () => {
    const { port, events } = await startServer(okHandler, { keepaliveRequestLimit: 2 })
    const client = await rawConnect(port)
    client.send(GET('/1') + GET('/2') + GET('/3'))
    const out = await client.closed
    const responses = splitResponses(out)
    expect(responses.map((r) => r.body)).toEqual(['GET /1 body=', 'GET /2 body='])
    expect(responses[0]?.head).toContain('Connection: keep-alive')
    expect(responses[1]?.head).toContain('Connection: close')
    expect(events.requests).toBe(2)
  })

  it('lets the handler close with setKeepaliveReusesRemaining(0)', async () => {
    const { port } = await startServer(async (session) => {
      session.setKeepaliveReusesRemaining(0)
      await okHandler(session)
    })
    const client = await rawConnect(port)
    client.send(GET('/1') + GET('/2'))
    const out = await client.closed
    expect(bodies(out)).toEqual(['GET /1 body='])
    expect(out).toContain('Connection: close')
  })

  it('lets the handler disable keep-alive with setKeepalive(undefined)', async () => {
    const { port } = await startServer(async (session) => {
      expect(session.getKeepalive()).toBe(60)
      session.setKeepalive(undefined)
      expect(session.getKeepalive()).toBeUndefined()
      await okHandler(session)
    })
    const client = await rawConnect(port)
    client.send(GET('/1') + GET('/2'))
    expect(bodies(await client.closed)).toEqual(['GET /1 body='])
  })

  it('keeps keep-alive off when the client asked to close, whatever setKeepalive says', async () => {
    const { port } = await startServer(async (session) => {
      session.setKeepalive(30)
      expect(session.getKeepalive()).toBeUndefined()
      await okHandler(session)
    })
    const out = await exchange(port, GET('/1', 'Connection: close\r\n'))
    expect(out).toContain('Connection: close')
  })

  it('closes an idle keep-alive connection after the keep-alive timeout', async () => {
    const { port, events } = await startServer(okHandler, { keepaliveTimeoutMs: 30 })
    const client = await rawConnect(port)
    client.send(GET('/1'))
    const out = await client.closed
    expect(bodies(out)).toEqual(['GET /1 body='])
    await events.loopEnded()
    expect(events.errors).toEqual([])
  })

  it('uses the keep-alive timeout set by the previous request for the idle wait', async () => {
    const { port } = await startServer(
      async (session) => {
        session.setKeepalive(0.03)
        await okHandler(session)
      },
      { keepaliveTimeoutMs: 600_000 },
    )
    const client = await rawConnect(port)
    client.send(GET('/1'))
    expect(bodies(await client.closed)).toEqual(['GET /1 body='])
  })

  it('closes a fresh connection that sends nothing within the read timeout, without error', async () => {
    const { port, events } = await startServer(okHandler, { readTimeoutMs: 30 })
    const client = await rawConnect(port)
    expect(await client.closed).toBe('')
    await events.loopEnded()
    expect(events.errors).toEqual([])
    expect(events.requests).toBe(0)
  })

  it('cuts off a client that stalls inside the request header (ReadTimedout)', async () => {
    const { port, events } = await startServer(okHandler, { readTimeoutMs: 30 })
    const client = await rawConnect(port)
    client.send('GET / HTTP/1.1\r\nHost: a\r\n')
    expect(await client.closed).toBe('')
    await events.loopEnded()
    const error = events.errors[0] as PingoraError
    expect(error.type).toBe('ReadTimedout')
    expect(error.source).toBe('downstream')
  })

  it('cuts off a client that stalls inside the request body (ReadTimedout)', async () => {
    const seen: unknown[] = []
    const { port } = await startServer(
      async (session) => {
        try {
          await session.readRequestBody()
          await session.readRequestBody()
        } catch (error) {
          seen.push(error)
          throw error
        }
      },
      { readTimeoutMs: 30 },
    )
    const client = await rawConnect(port)
    client.send('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc')
    await client.closed
    expect((seen[0] as PingoraError).type).toBe('ReadTimedout')
    expect((seen[0] as PingoraError).source).toBe('downstream')
  })

  it('reports a client that closes inside the request header as ConnectionClosed', async () => {
    const { port, events } = await startServer(okHandler)
    const client = await rawConnect(port)
    client.socket.end('GET / HTTP/1.1\r\nHo')
    await client.closed
    await events.loopEnded()
    const error = events.errors[0] as PingoraError
    expect(error.type).toBe('ConnectionClosed')
    expect(error.source).toBe('downstream')
  })

  it('reports a client that closes inside the request body as ConnectionClosed', async () => {
    const seen: PingoraError[] = []
    const { port, events } = await startServer(async (session) => {
      try {
        await session.drainRequestBody()
      } catch (error) {
        seen.push(error as PingoraError)
        throw error
      }
    })
    const client = await rawConnect(port)
    client.socket.end('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc')
    await client.closed
    await events.loopEnded()
    expect(seen[0]?.type).toBe('ConnectionClosed')
    expect(seen[0]?.source).toBe('downstream')
  })

  it('answers a client that half-closed after sending its request', async () => {
    const { port } = await startServer(okHandler)
    const client = await rawConnect(port)
    client.socket.end(GET('/half'))
    expect(bodies(await client.closed)).toEqual(['GET /half body='])
  })

  it('ends readRequest with false and closes when the shutdown signal aborts during the idle wait', async () => {
    const controller = new AbortController()
    const { port, events } = await startServer(
      async (session) => {
        await okHandler(session)
      },
      () => ({ shutdownSignal: controller.signal }),
    )
    const client = await rawConnect(port)
    client.send(GET('/1'))
    await client.waitFor('GET /1 body=')
    controller.abort()
    const out = await client.closed
    expect(bodies(out)).toEqual(['GET /1 body='])
    await events.loopEnded()
    expect(events.errors).toEqual([])
  })

  it('does not start reading when the shutdown signal is already aborted', async () => {
    const controller = new AbortController()
    controller.abort()
    const { port, events } = await startServer(okHandler, { shutdownSignal: controller.signal })
    const client = await rawConnect(port)
    client.send(GET('/1'))
    expect(await client.closed).toBe('')
    await events.loopEnded()
    expect(events.requests).toBe(0)
  })
})

describe('Http1ServerSession drains the request body before reuse', () => {
  const respondWithoutReading = async (
    session: import('../../src/protocols/http1/server.ts').Http1ServerSession,
  ) => {
    session.setCloseOnResponseBeforeDownstreamFinish(false)
    const response = ResponseHeader.build(200)
    response.insertHeader('Content-Length', 2)
    await session.writeResponseHeader(response)
    await session.writeResponseBody(Buffer.from('ok'), true)
  }

  it('drains an unread body and serves the next request', async () => {
    const { port, events } = await startServer(respondWithoutReading)
    const client = await rawConnect(port)
    client.send(
      `POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello${GET('/2', 'Connection: close\r\n')}`,
    )
    const out = await client.closed
    expect(bodies(out)).toEqual(['ok', 'ok'])
    expect(splitResponses(out)[0]?.head).toContain('Connection: keep-alive')
    expect(events.requests).toBe(2)
  })

  it('drains an unread chunked body with trailers and serves the next request', async () => {
    const { port, events } = await startServer(respondWithoutReading)
    const client = await rawConnect(port)
    client.send(
      'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n' +
        GET('/2', 'Connection: close\r\n'),
    )
    expect(bodies(await client.closed)).toEqual(['ok', 'ok'])
    expect(events.requests).toBe(2)
  })

  it('closes instead of draining when the body is larger than maxDrainBytes', async () => {
    const { port, events } = await startServer(respondWithoutReading, { maxDrainBytes: 10 })
    const client = await rawConnect(port)
    client.send(
      `POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n${'x'.repeat(100)}${GET('/2')}`,
    )
    expect(bodies(await client.closed)).toEqual(['ok'])
    expect(events.requests).toBe(1)
  })

  it('closes when the body does not arrive within the total drain timeout', async () => {
    const { port, events } = await startServer(respondWithoutReading, { totalDrainTimeoutMs: 30 })
    const client = await rawConnect(port)
    client.send('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nxx')
    expect(bodies(await client.closed)).toEqual(['ok'])
    await events.loopEnded()
    expect(events.requests).toBe(1)
  })

  it('says close on a response written before the request body was read (default)', async () => {
    const { port } = await startServer(async (session) => {
      const response = ResponseHeader.build(413)
      await session.writeResponseHeader(response, true)
    })
    const client = await rawConnect(port)
    client.send(`POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello${GET('/2')}`)
    const out = await client.closed
    expect(splitResponses(out)).toHaveLength(1)
    expect(out).toContain('HTTP/1.1 413 Content Too Large\r\n')
    expect(out).toContain('Connection: close')
  })
})

describe('Http1ServerSession keep-alive set before the request is read', () => {
  async function presetServer(preset: number | undefined): Promise<number> {
    const { Http1ServerSession } = await import('../../src/protocols/http1/server.ts')
    const { Stream } = await import('../../src/protocols/l4/stream.ts')
    const net = await import('node:net')
    const server = net.createServer(async (socket) => {
      let connection: ConstructorParameters<typeof Http1ServerSession>[0] | undefined = new Stream(
        socket,
      )
      while (connection !== undefined) {
        const session: InstanceType<typeof Http1ServerSession> = new Http1ServerSession(
          connection,
          {
            keepaliveTimeoutMs: 600_000,
          },
        )
        session.setKeepalive(preset)
        if (!(await session.readRequest())) return
        await okHandler(session)
        connection = await session.finish()
      }
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    onTestFinished(() => {
      server.close()
    })
    return (server.address() as import('node:net').AddressInfo).port
  }

  it('honours setKeepalive(undefined) called before readRequest', async () => {
    const client = await rawConnect(await presetServer(undefined))
    client.send(GET('/1') + GET('/2'))
    const out = await client.closed
    expect(bodies(out)).toEqual(['GET /1 body='])
    expect(out).toContain('Connection: close')
  })

  it('uses a keep-alive timeout set before readRequest for the next idle wait', async () => {
    const client = await rawConnect(await presetServer(0.03))
    client.send(GET('/1'))
    const out = await client.closed
    expect(bodies(out)).toEqual(['GET /1 body='])
    expect(out).toContain('Connection: keep-alive')
  })
})

describe('Http1ServerSession shutdown with many idle connections', () => {
  it('closes every idle connection on abort without listener warnings', async () => {
    const controller = new AbortController()
    const warnings: Error[] = []
    const onWarning = (warning: Error): void => {
      warnings.push(warning)
    }
    process.on('warning', onWarning)
    onTestFinished(() => {
      process.off('warning', onWarning)
    })
    const { port } = await startServer(okHandler, { shutdownSignal: controller.signal })
    const clients = await Promise.all(Array.from({ length: 20 }, () => rawConnect(port)))
    for (const client of clients) client.send(GET('/'))
    await Promise.all(clients.map((client) => client.waitFor('GET / body=')))
    controller.abort()
    const outs = await Promise.all(clients.map((client) => client.closed))
    expect(outs.every((out) => bodies(out).length === 1)).toBe(true)
    await new Promise<void>((resolve) => setImmediate(resolve))
    expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([])
  })
})

describe('Http1ServerSession under a pipelining flood', () => {
  it('answers 2000 pipelined requests in order while the client reads late', async () => {
    const { port, events } = await startServer(okHandler)
    const client = await rawConnect(port)
    client.socket.pause()
    let requests = ''
    for (let i = 0; i < 2000; i++) requests += GET(`/${i}`)
    client.send(requests)
    // Let the server fill the socket buffers while nobody reads, then read everything.
    await new Promise<void>((resolve) => setImmediate(resolve))
    client.socket.resume()
    const out = await client.waitFor('body=', 2000)
    const got = bodies(out)
    expect(got).toHaveLength(2000)
    expect(got[0]).toBe('GET /0 body=')
    expect(got[1999]).toBe('GET /1999 body=')
    expect(got.every((body, i) => body === `GET /${i} body=`)).toBe(true)
    expect(events.connections).toBe(1)
  })
})

describe('Http1ServerSession header timeout', () => {
  it('cuts off a client that trickles its header within the read timeout (slowloris)', async () => {
    const { port, events } = await startServer(okHandler, {
      readTimeoutMs: 10_000,
      headerTimeoutMs: 60,
    })
    const client = await rawConnect(port)
    const text = `GET / HTTP/1.1\r\nHost: a\r\nX-Slow: ${'s'.repeat(500)}\r\n\r\n`
    let sent = 0
    // One byte at a time, each well inside the read timeout, never finishing in time.
    const trickle = setInterval(() => {
      if (sent < text.length && !client.socket.destroyed) client.send(text[sent++] as string)
    }, 5)
    onTestFinished(() => clearInterval(trickle))
    expect(await client.closed).toBe('')
    clearInterval(trickle)
    await events.loopEnded()
    const error = events.errors[0] as PingoraError
    expect(error.type).toBe('ReadTimedout')
    expect(error.source).toBe('downstream')
    expect(sent).toBeLessThan(text.length)
  })
})

describe('Http1ServerSession response during shutdown', () => {
  it('says Connection: close on a response written after the shutdown signal aborted', async () => {
    const controller = new AbortController()
    const { port } = await startServer(
      async (session) => {
        controller.abort()
        await okHandler(session)
      },
      () => ({ shutdownSignal: controller.signal }),
    )
    const client = await rawConnect(port)
    client.send(GET('/1') + GET('/2'))
    const out = await client.closed
    expect(bodies(out)).toEqual(['GET /1 body='])
    expect(out).toContain('Connection: close')
  })
})

describe('Http1ServerSession keep-alive units', () => {
  it('takes the timeout in milliseconds (setKeepaliveMs) and in seconds (setKeepalive)', async () => {
    const seen: Array<number | undefined | string> = []
    const { port } = await startServer(async (session) => {
      session.setKeepaliveMs(1500)
      seen.push(session.getKeepalive())
      session.setKeepalive(2)
      seen.push(session.getKeepalive())
      session.setKeepaliveMs(0)
      seen.push(session.getKeepalive())
      try {
        session.setKeepaliveMs(-1)
      } catch (error) {
        seen.push((error as Error).message)
      }
      session.setKeepaliveMs(undefined)
      seen.push(session.getKeepalive())
      await okHandler(session)
    })
    const client = await rawConnect(port)
    client.send(GET('/1') + GET('/2'))
    expect(bodies(await client.closed)).toEqual(['GET /1 body='])
    expect(seen).toEqual([1.5, 2, 0, 'keepaliveMs must be a finite number >= 0, got -1', undefined])
  })
})
