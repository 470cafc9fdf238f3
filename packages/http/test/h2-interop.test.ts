import { once } from 'node:events'
import http2 from 'node:http2'
import type { AddressInfo } from 'node:net'
import { describe, expect, it, onTestFinished } from 'vitest'
import { RequestHeader } from '../src/request-header.ts'
import { ResponseHeader } from '../src/response-header.ts'

interface Received {
  request: RequestHeader
}

/** An h2c server on 127.0.0.1:0 that parses each request with RequestHeader.fromH2Headers. */
async function startServer(respond: (request: RequestHeader) => ResponseHeader) {
  const received: Received[] = []
  const server = http2.createServer()
  // @types/node leaves out the fourth argument Node passes: the flat rawHeaders list.
  server.on(
    'stream',
    (
      stream: http2.ServerHttp2Stream,
      headers: http2.IncomingHttpHeaders,
      _flags: number,
      rawHeaders?: string[],
    ) => {
      const request = RequestHeader.fromH2Headers(headers, rawHeaders)
      received.push({ request })
      stream.respond(respond(request).toH2Headers())
      stream.end('body')
    },
  )
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as AddressInfo).port
  const client = http2.connect(`http://127.0.0.1:${port}`)
  onTestFinished(async () => {
    client.close()
    server.close()
    await once(server, 'close')
  })
  return { port, client, received }
}

async function send(client: http2.ClientHttp2Session, request: RequestHeader) {
  const stream = client.request(request.toH2Headers({ scheme: 'http' }), {
    endStream: request.sendEndStream,
  })
  const [headers, , rawHeaders] = (await once(stream, 'response')) as [
    http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader,
    number,
    string[],
  ]
  stream.resume()
  await once(stream, 'end')
  return ResponseHeader.fromH2Headers(headers, rawHeaders)
}

describe('HTTP/2 conversion with node:http2', () => {
  it('carries a request with Host as :authority and a response back', async () => {
    const { port, client, received } = await startServer(() => {
      const response = ResponseHeader.build(201)
      response.appendHeader('Content-Type', 'text/plain')
      response.appendHeader('Set-Cookie', 'a=1')
      response.appendHeader('Set-Cookie', 'b=2')
      response.appendHeader('Connection', 'keep-alive')
      response.appendHeader('Transfer-Encoding', 'chunked')
      return response
    })
    const request = RequestHeader.build('GET', '/items?id=7')
    request.appendHeader('Host', `localhost:${port}`)
    request.appendHeader('X-Trace', 't1')
    request.appendHeader('Accept', 'text/plain')
    request.appendHeader('x-trace', 't2')
    request.appendHeader('Connection', 'keep-alive')
    request.appendHeader('Keep-Alive', 'timeout=5')
    request.appendHeader('Upgrade', 'websocket')
    request.appendHeader('TE', 'trailers')

    const response = await send(client, request)

    const seen = (received[0] as Received).request
    expect(seen.method).toBe('GET')
    expect(seen.version).toBe('HTTP/2')
    expect(seen.path).toBe('/items')
    expect(seen.query).toBe('id=7')
    expect([...seen.headers]).toEqual([
      ['host', `localhost:${port}`],
      ['x-trace', 't1'],
      ['x-trace', 't2'],
      ['accept', 'text/plain'],
      ['te', 'trailers'],
    ])
    expect(response.status).toBe(201)
    expect(response.version).toBe('HTTP/2')
    expect(response.getHeader('content-type')).toBe('text/plain')
    expect(response.getHeaderAll('set-cookie')).toEqual(['a=1', 'b=2'])
    expect(response.getHeader('connection')).toBeUndefined()
    expect(response.getHeader('transfer-encoding')).toBeUndefined()
  })

  it('keeps obs-text bytes in the path and values across HTTP/2', async () => {
    const { client, received } = await startServer(() => {
      const response = ResponseHeader.build(200)
      response.appendHeader('X-Bytes', Uint8Array.from([0x63, 0xe9, 0xff]))
      return response
    })
    const request = RequestHeader.build('GET', Uint8Array.from([0x2f, 0xe9, 0xff, 0x80]))
    request.appendHeader('X-Name', 'caf\xe9')
    const response = await send(client, request)
    const seen = (received[0] as Received).request
    expect([...seen.rawPath]).toEqual([0x2f, 0xe9, 0xff, 0x80])
    expect(seen.getHeader('x-name')).toBe('caf\xe9')
    expect(response.getHeader('x-bytes')).toBe('c\xe9\xff')
  })

  it('sends a body when sendEndStream is off', async () => {
    let body = ''
    const server = http2.createServer()
    server.on('stream', (stream, headers) => {
      const request = RequestHeader.fromH2Headers(headers)
      stream.setEncoding('utf8')
      stream.on('data', (chunk: string) => {
        body += chunk
      })
      stream.on('end', () => {
        stream.respond({ ':status': 200, 'x-method': request.method })
        stream.end()
      })
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const client = http2.connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)
    onTestFinished(async () => {
      client.close()
      server.close()
      await once(server, 'close')
    })
    const request = RequestHeader.build('POST', '/upload')
    request.setSendEndStream(false)
    const stream = client.request(request.toH2Headers({ scheme: 'http' }), {
      endStream: request.sendEndStream,
    })
    stream.end('payload')
    const [headers] = (await once(stream, 'response')) as [
      http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader,
    ]
    stream.resume()
    await once(stream, 'end')
    expect(body).toBe('payload')
    expect(ResponseHeader.fromH2Headers(headers).getHeader('x-method')).toBe('POST')
  })
})
