import { readFileSync } from 'node:fs'
import https from 'node:https'
import type net from 'node:net'
import tls from 'node:tls'
import { RequestHeader } from '@pingora-ts/http'
import { Client } from 'undici'
import { describe, expect, it, onTestFinished } from 'vitest'
import type { ReusedHttpStream } from '../../src/protocols/http/reused-http-stream.ts'
import { Http1ClientSession } from '../../src/protocols/http1/client.ts'
import { Http1ServerSession } from '../../src/protocols/http1/server.ts'
import { Stream } from '../../src/protocols/l4/stream.ts'
import { type Echo, echoHandler } from './helpers.ts'

const certs = new URL('../../../../tooling/test-utils/certs/', import.meta.url)
const key = readFileSync(new URL('localhost.key', certs))
const cert = readFileSync(new URL('localhost.pem', certs))
const ca = readFileSync(new URL('ca.pem', certs))

describe('HTTP/1 over TLS', () => {
  it('serves keep-alive requests on a TLS stream to undici', async () => {
    let connections = 0
    const server = tls.createServer({ key, cert }, async (socket) => {
      connections++
      const stream = new Stream(socket)
      let connection: Stream | ReusedHttpStream | undefined = stream
      try {
        while (connection !== undefined) {
          const session: Http1ServerSession = new Http1ServerSession(connection)
          if (!(await session.readRequest())) return
          await echoHandler(session)
          connection = await session.finish()
        }
      } catch {
        stream.destroy()
      }
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as net.AddressInfo).port
    const client = new Client(`https://127.0.0.1:${port}`, {
      connect: { ca, servername: 'localhost' },
    })
    onTestFinished(async () => {
      await client.close()
      server.close()
    })
    for (const path of ['/a', '/b', '/c']) {
      const response = await client.request({ path, method: 'GET' })
      expect(((await response.body.json()) as Echo).uri).toBe(path)
    }
    const posted = await client.request({ path: '/p', method: 'POST', body: 'over tls' })
    expect(((await posted.body.json()) as Echo).body).toBe('over tls')
    // One client connection: had the server closed it, the client would have reconnected.
    expect(connections).toBe(1)
  })

  it('talks to a node:https origin through Http1ClientSession on a TLS stream', async () => {
    const origin = https.createServer({ key, cert }, (req, res) => {
      res.setHeader('Content-Length', 9)
      res.end(`tls ${req.url}`.padEnd(9, '.'))
    })
    await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve))
    onTestFinished(() => {
      origin.closeAllConnections()
      origin.close()
    })
    const socket = tls.connect({
      port: (origin.address() as net.AddressInfo).port,
      host: '127.0.0.1',
      servername: 'localhost',
      ca,
    })
    await new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', resolve)
      socket.once('error', reject)
    })
    const stream = new Stream(socket, 'upstream')
    onTestFinished(() => stream.destroy())
    for (const [i, path] of ['/one', '/two'].entries()) {
      const session = new Http1ClientSession(stream, { reused: i > 0 })
      const req = RequestHeader.build('GET', path)
      req.insertHeader('Host', 'localhost')
      await session.writeRequestHeader(req)
      expect((await session.readResponseHeader()).status).toBe(200)
      let body = ''
      for (
        let c = await session.readResponseBody();
        c !== undefined;
        c = await session.readResponseBody()
      ) {
        body += c
      }
      expect(body).toBe(`tls ${path}`.padEnd(9, '.'))
      expect(session.reuse()).toBe(stream)
    }
  })
})
