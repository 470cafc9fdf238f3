// Real HTTP/2 clients against the proxy: 100-continue from an h2 client through to an HTTP/1.1
// origin, and curl --http2-prior-knowledge through to an h2c origin (h2 -> h2).
import { execFile } from 'node:child_process'
import { once } from 'node:events'
import http2 from 'node:http2'
import type { AddressInfo } from 'node:net'
import { promisify } from 'node:util'
import { type H2Engine, HttpPeer } from '@pingora-ts/core'
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest'
import { origin, startProxy } from './helpers.ts'

/** The downstream HTTP/2 engine the running describe block tests (set in its beforeAll). */
let engine: H2Engine = 'node'

const run = promisify(execFile)

describe.each<H2Engine>(['node', 'native'])('HTTP/2 clients (%s h2 engine)', (tested) => {
  beforeAll(() => {
    engine = tested
  })

  it('100-continue: the h2 client gets the informational 100, sends its body, gets the answer', async () => {
    let sawExpect = ''
    const o = await origin((req, res) => {
      sawExpect = String(req.headers.expect)
      let n = 0
      req.on('data', (d: Buffer) => {
        n += d.length
      })
      req.on('end', () => res.end(`got ${n}`))
    })
    const proxy = await startProxy(
      {
        newCtx: () => undefined,
        upstreamPeer: () => new HttpPeer({ address: `127.0.0.1:${o.port}` }),
      },
      {},
      { serverOptions: { h2c: true, h2: { engine } } },
    )
    const client = http2.connect(`http://127.0.0.1:${proxy.port}`)
    client.on('error', () => {})
    onTestFinished(() => {
      client.destroy()
    })
    const stream = client.request({
      ':method': 'POST',
      ':path': '/up',
      expect: '100-continue',
      'content-length': '5',
    })
    const informational: number[] = []
    stream.on('headers', (h) => informational.push(Number(h[':status'])))
    await once(stream, 'continue')
    stream.end('hello')
    const [response] = (await once(stream, 'response')) as [http2.IncomingHttpHeaders]
    stream.setEncoding('utf8')
    let body = ''
    for await (const chunk of stream) body += chunk
    expect(informational).toContain(100)
    expect(response[':status']).toBe(200)
    expect(body).toBe('got 5')
    expect(sawExpect).toBe('100-continue')
  })

  it('curl --http2-prior-knowledge through to an h2c origin', async () => {
    const server = http2.createServer()
    server.on('stream', (stream, headers) => {
      stream.respond({
        ':status': 200,
        'x-proto': 'h2',
        'x-authority': String(headers[':authority']),
      })
      stream.end(`${headers[':method']} ${headers[':path']}`)
    })
    const sessions = new Set<http2.ServerHttp2Session>()
    server.on('session', (s) => {
      sessions.add(s)
      s.on('close', () => sessions.delete(s))
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    onTestFinished(
      () =>
        new Promise<void>((resolve) => {
          for (const s of sessions) s.destroy()
          server.close(() => resolve())
        }),
    )
    const originPort = (server.address() as AddressInfo).port
    const proxy = await startProxy(
      {
        newCtx: () => undefined,
        upstreamPeer: () => {
          const peer = new HttpPeer({ address: `127.0.0.1:${originPort}` })
          peer.options.setHttpVersion(2, 2)
          return peer
        },
      },
      {},
      { serverOptions: { h2c: true, h2: { engine } } },
    )
    // One URL per curl run: curl 7.88 fails a second h2c prior-knowledge request on a reused
    // connection ("Error in the HTTP2 framing layer") even against a bare node:http2 server.
    const curl = (path: string) =>
      run('curl', [
        '-sS',
        '-i',
        '--max-time',
        '20',
        '--http2-prior-knowledge',
        `http://127.0.0.1:${proxy.port}${path}`,
      ]).then((r) => r.stdout)
    const stdout = (await curl('/via-curl?x=1')) + (await curl('/again'))
    expect(stdout).toMatch(/^HTTP\/2 200/)
    expect(stdout).toMatch(/x-proto: h2\r\n/)
    expect(stdout).toContain(`x-authority: 127.0.0.1:${proxy.port}`)
    expect(stdout).toContain('GET /via-curl?x=1')
    expect(stdout).toContain('GET /again')
    // Both requests went over one upstream connection (the second reused it).
    expect(proxy.proxy.clientUpstream.h2Stats().connections).toBe(1)
  })
})
