import { execFile } from 'node:child_process'
import { Readable } from 'node:stream'
import { promisify } from 'node:util'
import { ResponseHeader } from '@pingora-ts/http'
import { Client, request } from 'undici'
import { describe, expect, it, onTestFinished } from 'vitest'
import type { Http1ServerSession } from '../../src/protocols/http1/server.ts'
import { type Echo, echoHandler, startServer } from './helpers.ts'

const run = promisify(execFile)

async function hasCurl(): Promise<boolean> {
  try {
    await run('curl', ['--version'])
    return true
  } catch {
    return false
  }
}
const curlAvailable = await hasCurl()

/** A handler that answers with a chunked (unframed) body, or 100-continue, or an upgrade. */
async function smartHandler(session: Http1ServerSession): Promise<void> {
  const request = session.requestHeader
  if (session.isUpgradeRequest()) {
    const response = ResponseHeader.build(101)
    response.insertHeader('Connection', 'Upgrade')
    response.insertHeader('Upgrade', request.getHeader('upgrade') ?? '')
    await session.writeResponseHeader(response)
    for (
      let c = await session.readRequestBody();
      c !== undefined;
      c = await session.readRequestBody()
    ) {
      await session.writeResponseBody(Buffer.from(c.toString().toUpperCase()), false)
    }
    await session.writeResponseBody(undefined, true)
    return
  }
  if (session.isExpectContinueRequest()) await session.writeContinueResponse()
  if (request.rawPath.toString() === '/stream') {
    await session.drainRequestBody()
    await session.writeResponseHeader(ResponseHeader.build(200))
    for (let i = 0; i < 3; i++) await session.writeResponseBody(Buffer.from(`part${i};`), false)
    await session.writeResponseBody(undefined, true)
    return
  }
  await echoHandler(session)
}

describe('interop with undici', () => {
  it('sends sequential keep-alive requests over one connection', async () => {
    const { port, events } = await startServer(smartHandler)
    const client = new Client(`http://127.0.0.1:${port}`)
    onTestFinished(() => client.close())
    for (const path of ['/a', '/b', '/c']) {
      const response = await client.request({ path, method: 'GET' })
      const echo = (await response.body.json()) as Echo
      expect(echo.uri).toBe(path)
    }
    expect(events.connections).toBe(1)
    expect(events.requests).toBe(3)
  })

  it('pipelines requests and gets every answer in order', async () => {
    const { port, events } = await startServer(smartHandler)
    const client = new Client(`http://127.0.0.1:${port}`, { pipelining: 4 })
    onTestFinished(() => client.close())
    const paths = ['/p1', '/p2', '/p3', '/p4', '/p5', '/p6']
    const results = await Promise.all(
      paths.map(async (path) => {
        const response = await client.request({ path, method: 'GET' })
        return ((await response.body.json()) as Echo).uri
      }),
    )
    expect(results).toEqual(paths)
    expect(events.connections).toBe(1)
  })

  it('posts a fixed-length body and a streamed chunked body', async () => {
    const { port } = await startServer(smartHandler)
    const fixed = await request(`http://127.0.0.1:${port}/fixed`, {
      method: 'POST',
      body: 'hello world',
    })
    expect(((await fixed.body.json()) as Echo).body).toBe('hello world')
    const streamed = await request(`http://127.0.0.1:${port}/streamed`, {
      method: 'POST',
      body: Readable.from([Buffer.from('one,'), Buffer.from('two,'), Buffer.from('three')]),
    })
    const echo = (await streamed.body.json()) as Echo
    expect(echo.body).toBe('one,two,three')
    expect(
      echo.headers.some(([n, v]) => n.toLowerCase() === 'transfer-encoding' && v === 'chunked'),
    ).toBe(true)
  })

  it('reads a chunked response body', async () => {
    const { port } = await startServer(smartHandler)
    const response = await request(`http://127.0.0.1:${port}/stream`)
    expect(response.headers['transfer-encoding']).toBe('chunked')
    expect(await response.body.text()).toBe('part0;part1;part2;')
  })

  it('gets no body for HEAD', async () => {
    const { port } = await startServer(smartHandler)
    const response = await request(`http://127.0.0.1:${port}/h`, { method: 'HEAD' })
    expect(response.statusCode).toBe(200)
    expect(Number(response.headers['content-length'])).toBeGreaterThan(0)
    expect(await response.body.text()).toBe('')
  })

  it('upgrades the connection and exchanges raw bytes', async () => {
    const { port } = await startServer(smartHandler)
    const client = new Client(`http://127.0.0.1:${port}`)
    onTestFinished(() => client.destroy())
    const { socket, headers } = await client.upgrade({ path: '/ws', protocol: 'shout' })
    expect(headers.upgrade).toBe('shout')
    const reply = new Promise<string>((resolve) =>
      socket.once('data', (c: Buffer) => resolve(c.toString())),
    )
    socket.write('hello')
    expect(await reply).toBe('HELLO')
    socket.destroy()
  })

  it('passes the headers undici sends through to the request header', async () => {
    const { port } = await startServer(smartHandler)
    const response = await request(`http://127.0.0.1:${port}/ok`, { headers: { 'x-ok': 'v' } })
    const echo = (await response.body.json()) as Echo
    expect(echo.headers).toContainEqual(['x-ok', 'v'])
    expect(echo.headers.some(([n]) => n.toLowerCase() === 'host')).toBe(true)
  })
})

describe.skipIf(!curlAvailable)('interop with curl', () => {
  it('answers curl and reuses the connection for two URLs', async () => {
    const { port, events } = await startServer(smartHandler)
    const base = `http://127.0.0.1:${port}`
    const { stdout, stderr } = await run('curl', ['-sS', '-v', `${base}/one`, `${base}/two`])
    const echoes = stdout
      .replace(/\}\{/g, '}\n{')
      .split('\n')
      .map((line) => (JSON.parse(line) as Echo).uri)
    expect(echoes).toEqual(['/one', '/two'])
    expect(stderr).toMatch(/Re-using existing connection|Reusing existing/i)
    expect(events.connections).toBe(1)
  })

  it('receives a POST body from curl, chunked and not', async () => {
    const { port } = await startServer(smartHandler)
    const url = `http://127.0.0.1:${port}/post`
    const plain = await run('curl', ['-sS', '--data-binary', 'plain body', url])
    expect((JSON.parse(plain.stdout) as Echo).body).toBe('plain body')
    const chunked = await run('curl', [
      '-sS',
      '-H',
      'Transfer-Encoding: chunked',
      '--data-binary',
      'chunky',
      url,
    ])
    expect((JSON.parse(chunked.stdout) as Echo).body).toBe('chunky')
  })

  it('answers curl with Expect: 100-continue', async () => {
    const { port } = await startServer(smartHandler)
    const { stdout, stderr } = await run('curl', [
      '-sS',
      '-v',
      '-H',
      'Expect: 100-continue',
      '--data-binary',
      'after continue',
      `http://127.0.0.1:${port}/c`,
    ])
    expect(stderr).toContain('100 Continue')
    expect((JSON.parse(stdout) as Echo).body).toBe('after continue')
  })

  it('answers curl --http1.0 and a HEAD request', async () => {
    const { port } = await startServer(smartHandler)
    const old = await run('curl', ['-sS', '--http1.0', '-i', `http://127.0.0.1:${port}/stream`])
    expect(old.stdout).toMatch(/^HTTP\/1.1 200 OK\r\n/)
    expect(old.stdout).toContain('Connection: close')
    expect(old.stdout.endsWith('part0;part1;part2;')).toBe(true)
    const head = await run('curl', ['-sS', '-I', `http://127.0.0.1:${port}/h`])
    expect(head.stdout).toMatch(/^HTTP\/1.1 200 OK\r\n/)
  })

  it('streams a chunked response to curl', async () => {
    const { port } = await startServer(smartHandler)
    const { stdout } = await run('curl', ['-sS', `http://127.0.0.1:${port}/stream`])
    expect(stdout).toBe('part0;part1;part2;')
  })
})
