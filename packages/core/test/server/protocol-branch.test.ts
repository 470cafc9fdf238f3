// The seam between a connection and its requests: the protocol branch of HttpServerAppDriver and
// the ReusedHttpStream that carries a connection's state from one request to the next.
import http2 from 'node:http2'
import { ResponseHeader } from '@pingora-ts/http'
import { TlsSettings } from '@pingora-ts/tls'
import { Agent, request } from 'undici'
import { describe, expect, it, onTestFinished } from 'vitest'
import type { HttpServerApp } from '../../src/apps/http-app.ts'
import type { ReusedHttpStream } from '../../src/protocols/http/reused-http-stream.ts'
import type { ServerSession } from '../../src/protocols/http/server-session.ts'
import { ListeningService } from '../../src/services/listening.ts'
import { certs, readPem } from '../tls/helpers.ts'
import { portOf, startServer } from './helpers.ts'

/** Answers 200 with the connection's reuse count and what the previous request left on it. */
function connectionApp(seen: ReusedHttpStream[]): HttpServerApp {
  return {
    async processNewHttp(session: ServerSession) {
      if (!(await session.readRequest())) return undefined
      const connection = session.connection
      seen.push(connection)
      const body = Buffer.from(`${connection.reuseCount} ${String(connection.context)}`)
      connection.context = session.requestHeader.uri
      const response = ResponseHeader.build(200)
      response.setContentLength(body.length)
      await session.writeResponse(response, body)
      return session.finish()
    },
    serverOptions: () => ({ keepaliveTimeoutMs: 1500 }),
  }
}

describe('HttpServerAppDriver', () => {
  it('carries one ReusedHttpStream (reuse count, keep-alive ms, context) across the requests of a connection', async () => {
    const seen: ReusedHttpStream[] = []
    const service = new ListeningService('seam', connectionApp(seen))
    service.addTcp('127.0.0.1:0')
    await startServer([service])
    const dispatcher = new Agent({ connections: 1 })
    onTestFinished(() => dispatcher.close())
    const bodies: string[] = []
    for (const path of ['/a', '/b', '/c']) {
      const response = await request(`http://127.0.0.1:${portOf(service)}${path}`, { dispatcher })
      bodies.push(await response.body.text())
    }
    expect(bodies).toEqual(['0 undefined', '1 /a', '2 /b'])
    // One object for the whole connection, its keep-alive timeout kept in milliseconds.
    expect(new Set(seen).size).toBe(1)
    expect(seen[0]?.keepaliveTimeoutMs).toBe(1500)
    expect(service.connectionCount).toBe(1)
  })

  it('serves a TLS connection that negotiated h2 as HTTP/2 (one stream per request), not as HTTP/1', async () => {
    const seen: ReusedHttpStream[] = []
    const service = new ListeningService('seam-h2', connectionApp(seen))
    const settings = TlsSettings.intermediate(certs.localhost.cert, certs.localhost.key)
    settings.setAlpn(['h2', 'http/1.1'])
    service.addTlsWithSettings('127.0.0.1:0', undefined, settings)
    await startServer([service])
    const client = http2.connect(`https://localhost:${portOf(service)}`, {
      ca: readPem(certs.ca),
      host: '127.0.0.1',
    } as http2.SecureClientSessionOptions)
    onTestFinished(() => client.destroy())
    const get = (path: string) =>
      new Promise<string>((resolve, reject) => {
        const stream = client.request({ ':path': path })
        let body = ''
        stream.setEncoding('utf8')
        stream.on('data', (chunk: string) => {
          body += chunk
        })
        stream.on('end', () => resolve(body))
        stream.on('error', reject)
      })
    expect(await get('/a')).toBe('0 undefined')
    // The streams of one HTTP/2 connection share its ReusedHttpStream (and its context).
    expect(await get('/b')).toBe('0 /a')
    expect(new Set(seen).size).toBe(1)
  })
})
