import http from 'node:http'
import type net from 'node:net'
import { Readable } from 'node:stream'
import { Client } from 'undici'
import { describe, expect, it, onTestFinished } from 'vitest'
import { Http1ClientSession } from '../../src/protocols/http1/client.ts'
import type { Http1ServerSession } from '../../src/protocols/http1/server.ts'
import type { Stream } from '../../src/protocols/l4/stream.ts'
import { connectUpstream, startServer } from './helpers.ts'

const HOP_BY_HOP = ['connection', 'keep-alive', 'transfer-encoding', 'te', 'trailer', 'upgrade']

/** A tiny relay on the two sessions: what the proxy package does, without its phases. */
async function startRelay(
  originPort: number,
): Promise<{ port: number; upstreamConnects: () => number }> {
  let idle: Stream | undefined
  let connects = 0
  const upstream = async (): Promise<[Stream, boolean]> => {
    if (idle !== undefined) {
      const s = idle
      idle = undefined
      return [s, true]
    }
    connects++
    return [await connectUpstream(originPort), false]
  }
  const { port } = await startServer(async (downstream: Http1ServerSession) => {
    const [stream, reused] = await upstream()
    const client = new Http1ClientSession(stream, { reused })
    const request = downstream.requestHeader.clone()
    for (const name of HOP_BY_HOP) request.removeHeader(name)
    const hasBody = !downstream.isBodyEmpty()
    if (hasBody && request.getHeader('content-length') === undefined) {
      request.insertHeader('Transfer-Encoding', 'chunked')
    }
    await client.writeRequestHeader(request)
    for (
      let c = await downstream.readRequestBody();
      c !== undefined;
      c = await downstream.readRequestBody()
    ) {
      await client.writeBody(c)
    }
    await client.finishBody()
    const response = await client.readResponseHeader()
    for (const name of HOP_BY_HOP) response.removeHeader(name)
    const noBody = client.isBodyDone()
    await downstream.writeResponseHeader(response, noBody)
    if (!noBody) {
      for (let c = await client.readResponseBody(); ; c = await client.readResponseBody()) {
        await downstream.writeResponseBody(c, c === undefined)
        if (c === undefined) break
      }
    }
    idle = client.reuse()
  })
  return { port, upstreamConnects: () => connects }
}

describe('a relay built from Http1ServerSession and Http1ClientSession', () => {
  it('relays requests and bodies both ways, reusing one upstream connection', async () => {
    const origin = http.createServer((req, res) => {
      let body = ''
      req.on('data', (c: Buffer) => {
        body += c
      })
      req.on('end', () => {
        if (req.url === '/stream') {
          res.write('part1;')
          res.end('part2')
          return
        }
        if (req.url === '/empty') {
          res.statusCode = 204
          res.end()
          return
        }
        res.setHeader('X-Method', req.method ?? '')
        res.end(`${req.method} ${req.url} ${body}`)
      })
    })
    await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve))
    onTestFinished(() => {
      origin.closeAllConnections()
      origin.close()
    })
    const relay = await startRelay((origin.address() as net.AddressInfo).port)
    const client = new Client(`http://127.0.0.1:${relay.port}`)
    onTestFinished(() => client.close())

    const get = await client.request({ path: '/a', method: 'GET' })
    expect(await get.body.text()).toBe('GET /a ')
    const post = await client.request({ path: '/b', method: 'POST', body: 'fixed body' })
    expect(await post.body.text()).toBe('POST /b fixed body')
    const streamed = await client.request({
      path: '/c',
      method: 'PUT',
      body: Readable.from([Buffer.from('chunk1,'), Buffer.from('chunk2')]),
    })
    expect(await streamed.body.text()).toBe('PUT /c chunk1,chunk2')
    const chunked = await client.request({ path: '/stream', method: 'GET' })
    expect(chunked.headers['transfer-encoding']).toBe('chunked')
    expect(await chunked.body.text()).toBe('part1;part2')
    const head = await client.request({ path: '/h', method: 'HEAD' })
    expect(head.headers['x-method']).toBe('HEAD')
    expect(await head.body.text()).toBe('')
    const empty = await client.request({ path: '/empty', method: 'GET' })
    expect(empty.statusCode).toBe(204)
    await empty.body.dump()
    expect(relay.upstreamConnects()).toBe(1)
  })
})
