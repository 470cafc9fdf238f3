import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { PingoraError } from '@pingora-ts/error'
import { RequestHeader } from '@pingora-ts/http'
import { ALPN } from '@pingora-ts/tls'
import { describe, expect, it, onTestFinished } from 'vitest'
import { ConnectorOptions } from '../../src/connectors/connector-options.ts'
import { HttpConnector } from '../../src/connectors/http-connector.ts'
import type { ClientSession } from '../../src/protocols/http/client-session.ts'
import type { Http1ClientSession } from '../../src/protocols/http1/client.ts'
import { ServerConf } from '../../src/server/configuration.ts'
import { HttpPeer } from '../../src/upstreams/http-peer.ts'
import type { Peer } from '../../src/upstreams/peer.ts'
import { closed, startHttpOrigin, startHttpsOrigin, testCert } from './helpers.ts'

interface Exchange {
  readonly status: number
  readonly body: string
  readonly reused: boolean
}

/** One GET through the connector: write, read the whole response, release. */
async function get(connector: HttpConnector, peer: Peer, path = '/'): Promise<Exchange> {
  const [session, reused] = await connector.getHttpSession(peer)
  const result = await exchange(session, path)
  connector.releaseHttpSession(session, peer)
  return { ...result, reused }
}

/** Writes a GET and reads its whole response. */
async function exchange(
  session: ClientSession,
  path = '/',
): Promise<{ status: number; body: string }> {
  const request = RequestHeader.build('GET', path)
  request.insertHeader('Host', 'origin.test')
  await session.writeRequestHeader(request)
  await session.finishBody()
  const response = await session.readResponseHeader()
  let body = ''
  for (;;) {
    const chunk = await session.readResponseBody()
    if (chunk === undefined) break
    body += chunk.toString('latin1')
  }
  return { status: response.status, body }
}

describe('HttpConnector', () => {
  it('reuses one origin connection for sequential requests', async () => {
    const origin = await startHttpOrigin((req, res) => res.end(`hello ${req.url}`))
    onTestFinished(origin.close)
    const connector = new HttpConnector()
    const peer = new HttpPeer(origin.address, false, '')
    const results: Exchange[] = []
    for (let i = 0; i < 10; i++) results.push(await get(connector, peer, `/${i}`))
    expect(results.map((r) => r.body)).toEqual(results.map((_, i) => `hello /${i}`))
    expect(results.map((r) => r.reused)).toEqual([false, ...Array<boolean>(9).fill(true)])
    expect(origin.accepted()).toBe(1)
    expect(connector.stats()).toMatchObject({ newConnections: 1, reusedConnections: 9, idle: 1 })
  })

  it('accepts a Backend-like address object, as the load balancer hands out', async () => {
    const origin = await startHttpOrigin((_req, res) => res.end('ok'))
    onTestFinished(origin.close)
    const backend = { addr: origin.address, weight: 1 }
    const result = await get(new HttpConnector(), new HttpPeer(backend, false, ''))
    expect(result).toEqual({ status: 200, body: 'ok', reused: false })
  })

  it('does not pool a connection whose response asked to close it', async () => {
    const origin = await startHttpOrigin((_req, res) => {
      res.setHeader('Connection', 'close')
      res.end('bye')
    })
    onTestFinished(origin.close)
    const connector = new HttpConnector()
    const peer = new HttpPeer(origin.address, false, '')
    expect(await get(connector, peer)).toMatchObject({ body: 'bye', reused: false })
    expect(await get(connector, peer)).toMatchObject({ body: 'bye', reused: false })
    expect(connector.stats().idle).toBe(0)
    expect(origin.accepted()).toBe(2)
  })

  it('does not pool a connection whose response body was not read', async () => {
    const origin = await startHttpOrigin((_req, res) => res.end('x'.repeat(100_000)))
    onTestFinished(origin.close)
    const connector = new HttpConnector()
    const peer = new HttpPeer(origin.address, false, '')
    const [session] = await connector.getHttpSession(peer)
    const request = RequestHeader.build('GET', '/')
    request.insertHeader('Host', 'origin.test')
    await session.writeRequestHeader(request)
    await session.finishBody()
    await session.readResponseHeader()
    connector.releaseHttpSession(session, peer)
    expect(connector.stats().idle).toBe(0)
    const [, reused] = await connector.getHttpSession(peer)
    expect(reused).toBe(false)
  })

  it('opens a new connection from newHttpSession without taking the idle pooled one', async () => {
    const origin = await startHttpOrigin((_req, res) => res.end('ok'))
    onTestFinished(origin.close)
    const connector = new HttpConnector()
    const peer = new HttpPeer(origin.address, false, '')
    const first = await get(connector, peer)
    expect(first.reused).toBe(false)
    expect(connector.stats().idle).toBe(1)
    const fresh = await connector.newHttpSession(peer)
    onTestFinished(() => fresh.shutdown())
    expect(fresh.reused).toBe(false)
    expect(fresh.protocol).toBe('h1')
    // The idle connection is still pooled: newHttpSession never looked at the pool.
    expect(connector.stats().idle).toBe(1)
    expect(origin.accepted()).toBe(2)
  })

  it('connects anew after the origin closes an idle keep-alive connection', async () => {
    const origin = await startHttpOrigin((_req, res) => res.end('ok'))
    onTestFinished(origin.close)
    const connector = new HttpConnector()
    const peer = new HttpPeer(origin.address, false, '')
    const accepted = once(origin.server, 'connection')
    await get(connector, peer)
    const [serverSide] = (await accepted) as [import('node:net').Socket]
    // Close the idle connection from the origin side and wait for the client to see it.
    const [session] = await connector.getHttpSession(peer)
    const clientSocket = (session as Http1ClientSession).stream.socket
    connector.releaseHttpSession(session, peer)
    serverSide.destroy()
    await closed(clientSocket)
    const result = await get(connector, peer)
    expect(result).toEqual({ status: 200, body: 'ok', reused: false })
    expect(origin.accepted()).toBe(2)
  })

  it('speaks HTTP/1.1 over TLS even when the peer offers h2', async () => {
    const origin = await startHttpsOrigin((_req, res) => res.end('secure'))
    onTestFinished(origin.close)
    const connector = new HttpConnector()
    const peer = new HttpPeer({
      address: origin.address,
      tls: true,
      sni: 'localhost',
      options: { ca: testCert('ca.pem'), alpn: ALPN.H2H1 },
    })
    expect(await get(connector, peer)).toEqual({ status: 200, body: 'secure', reused: false })
    expect(await get(connector, peer)).toEqual({ status: 200, body: 'secure', reused: true })
    expect(origin.accepted()).toBe(1)
  })

  it('applies the peer read timeout to the session', async () => {
    const origin = await startHttpOrigin(() => {
      // Never answers.
    })
    onTestFinished(origin.close)
    const connector = new HttpConnector()
    const peer = new HttpPeer({ address: origin.address, options: { readTimeoutMs: 50 } })
    const [session] = await connector.getHttpSession(peer)
    const request = RequestHeader.build('GET', '/')
    request.insertHeader('Host', 'origin.test')
    await session.writeRequestHeader(request)
    await session.finishBody()
    const error = await session.readResponseHeader().then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(PingoraError.is(error) && error.type).toBe('ReadTimedout')
    connector.releaseHttpSession(session, peer)
    expect(connector.stats().idle).toBe(0)
  })

  it('hands out a pooled session without connecting, and closes idle connections on demand', async () => {
    const origin = await startHttpOrigin((_req, res) => res.end('ok'))
    onTestFinished(origin.close)
    const connector = new HttpConnector()
    const peer = new HttpPeer(origin.address, false, '')
    expect(connector.reusedHttpSession(peer)).toBeUndefined()
    await get(connector, peer)
    const session = connector.reusedHttpSession(peer)
    expect(session?.reused).toBe(true)
    if (session === undefined) return
    expect(await exchange(session)).toEqual({ status: 200, body: 'ok' })
    connector.releaseHttpSession(session, peer)
    expect(connector.stats().idle).toBe(1)
    const done = closed((session as Http1ClientSession).stream.socket)
    connector.closeIdle()
    await done
    expect(connector.stats().idle).toBe(0)
  })

  it('does not keep the process alive with idle pooled connections', async () => {
    const origin = await startHttpOrigin((_req, res) => res.end('ok'))
    onTestFinished(origin.close)
    const root = fileURLToPath(new URL('../../../../', import.meta.url))
    const script = `
      import { HttpConnector, HttpPeer } from './packages/core/src/index.ts'
      import { RequestHeader } from './packages/http/src/index.ts'
      const connector = new HttpConnector()
      const peer = new HttpPeer('${origin.address}', false, '')
      const [session] = await connector.getHttpSession(peer)
      const request = RequestHeader.build('GET', '/')
      request.insertHeader('Host', 'origin.test')
      await session.writeRequestHeader(request)
      await session.finishBody()
      await session.readResponseHeader()
      while ((await session.readResponseBody()) !== undefined) {}
      connector.releaseHttpSession(session, peer)
      if (connector.stats().idle !== 1) process.exit(2)
    `
    const child = spawn(
      join(root, 'node_modules/.bin/tsx'),
      ['--conditions=@pingora-ts/source', '--input-type=module', '-e', script],
      { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] },
    )
    const watchdog = setTimeout(() => child.kill(), 25_000)
    const [code] = (await once(child, 'exit')) as [number | null]
    clearTimeout(watchdog)
    // Killed by the watchdog means the idle connection kept the process alive.
    expect(code).toBe(0)
    expect(origin.accepted()).toBe(1)
  })

  it('reads its settings from a ServerConf', () => {
    const conf = new ServerConf({
      upstreamKeepalivePoolSize: 7,
      clientBindToIpv4: ['127.0.0.2'],
      clientBindToIpv6: ['::1'],
      caFile: '/etc/ssl/ca.pem',
    })
    const options = ConnectorOptions.fromServerConf(conf)
    expect(options).toMatchObject({
      keepalivePoolSize: 7,
      bindToV4: ['127.0.0.2'],
      bindToV6: ['::1'],
      caFile: '/etc/ssl/ca.pem',
      debugSslKeylog: false,
    })
    expect(new HttpConnector(options).transport.options).toBe(options)
    // A ServerConf given directly is read the same way.
    expect(new HttpConnector(conf).transport.options).toMatchObject({
      keepalivePoolSize: 7,
      bindToV4: ['127.0.0.2'],
    })
  })

  it('serves at least 99.9% of 2,000 requests from 20 callers on reused connections', async () => {
    const origin = await startHttpOrigin((_req, res) => res.end('ok'))
    onTestFinished(origin.close)
    const connector = new HttpConnector()
    const peer = new HttpPeer(origin.address, false, '')
    const total = 2_000
    const callers = 20
    // Warm-up: 20 requests in flight at once need 20 connections; that many new connections
    // is the floor for any pool, so the ratio is measured after it.
    await Promise.all(Array.from({ length: callers }, () => get(connector, peer)))
    const warm = origin.accepted()
    expect(warm).toBeLessThanOrEqual(callers)
    let sent = 0
    let reusedCount = 0
    const caller = async (): Promise<void> => {
      while (sent < total) {
        sent++
        const result = await get(connector, peer)
        if (result.body !== 'ok') throw new Error(`unexpected body ${result.body}`)
        if (result.reused) reusedCount++
      }
    }
    await Promise.all(Array.from({ length: callers }, caller))
    const newConnections = origin.accepted() - warm
    expect(1 - newConnections / total).toBeGreaterThanOrEqual(0.999)
    expect(reusedCount).toBe(total - newConnections)
  })
})
