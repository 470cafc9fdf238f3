import { Buffer } from 'node:buffer'
import { once } from 'node:events'
import http from 'node:http'
import net from 'node:net'
import { describe, expect, it, onTestFinished } from 'vitest'
import { RequestHeader } from '../src/request-header.ts'
import { ResponseHeader } from '../src/response-header.ts'

async function listen(server: net.Server): Promise<number> {
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  onTestFinished(() => {
    server.close()
  })
  return (server.address() as net.AddressInfo).port
}

/** A raw TCP server that records the bytes of the first request head it receives. */
async function recordingServer(reply: Buffer): Promise<{ port: number; head: Promise<Buffer> }> {
  let resolveHead: (head: Buffer) => void = () => {}
  const head = new Promise<Buffer>((resolve) => {
    resolveHead = resolve
  })
  const server = net.createServer((socket) => {
    // The client may reset the connection once it has the reply; the assertions are elsewhere.
    socket.on('error', () => {})
    let received = Buffer.alloc(0)
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk])
      const end = received.indexOf('\r\n\r\n')
      if (end !== -1) {
        resolveHead(received.subarray(0, end + 4))
        socket.end(reply)
      }
    })
  })
  return { port: await listen(server), head }
}

describe('HTTP/1 wire over real sockets', () => {
  it('node:http sees the header names with their case and order', async () => {
    const seen: { rawHeaders: string[]; url: string; method: string }[] = []
    const server = http.createServer((request, response) => {
      seen.push({
        rawHeaders: request.rawHeaders,
        url: request.url ?? '',
        method: request.method ?? '',
      })
      response.end()
    })
    const port = await listen(server)
    const request = RequestHeader.build('POST', '/submit?a=1')
    request.appendHeader('host', `127.0.0.1:${port}`)
    request.appendHeader('X-UPPER', 'A')
    request.appendHeader('x-lower', 'b')
    request.appendHeader('X-Mixed-Case', 'c')
    request.appendHeader('x-lower', 'd')
    request.appendHeader('Content-Length', 0)
    request.appendHeader('Connection', 'close')
    const socket = net.connect(port, '127.0.0.1')
    onTestFinished(() => {
      socket.destroy()
    })
    socket.write(request.toH1Wire())
    socket.resume()
    await once(socket, 'end')
    expect(seen).toEqual([
      {
        method: 'POST',
        url: '/submit?a=1',
        rawHeaders: [
          'host',
          `127.0.0.1:${port}`,
          'X-UPPER',
          'A',
          'x-lower',
          'b',
          'X-Mixed-Case',
          'c',
          'x-lower',
          'd',
          'Content-Length',
          '0',
          'Connection',
          'close',
        ],
      },
    ])
  })

  it('puts non-UTF-8 path bytes on the wire unchanged', async () => {
    const { port, head } = await recordingServer(Buffer.from('HTTP/1.1 204 No Content\r\n\r\n'))
    const path = Buffer.from([0x2f, 0xc0, 0xaf, 0xfe, 0x3f, 0x78, 0x3d, 0xff])
    const request = RequestHeader.build('GET', path)
    request.appendHeader('Host', 'x')
    const socket = net.connect(port, '127.0.0.1')
    onTestFinished(() => {
      socket.destroy()
    })
    socket.write(request.toH1Wire())
    socket.resume()
    const bytes = await head
    expect(bytes.equals(request.toH1Wire())).toBe(true)
    expect(bytes.subarray(4, 4 + path.length).equals(path)).toBe(true)
  })

  it('node:http reads our response status, custom reason and header case', async () => {
    const response = ResponseHeader.build(299)
    response.setReasonPhrase('Custom Reason')
    response.appendHeader('X-Case-Kept', 'yes')
    response.appendHeader('set-cookie', 'a=1')
    response.appendHeader('Set-Cookie', 'b=2')
    response.setContentLength(2)
    response.appendHeader('Connection', 'close')
    const { port } = await recordingServer(Buffer.concat([response.toH1Wire(), Buffer.from('ok')]))
    const incoming = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const request = http.get({ host: '127.0.0.1', port, path: '/' }, resolve)
      request.on('error', reject)
    })
    incoming.resume()
    expect(incoming.statusCode).toBe(299)
    expect(incoming.statusMessage).toBe('Custom Reason')
    expect(incoming.rawHeaders).toEqual([
      'X-Case-Kept',
      'yes',
      'set-cookie',
      'a=1',
      'Set-Cookie',
      'b=2',
      'Content-Length',
      '2',
      'Connection',
      'close',
    ])
    await once(incoming, 'end')
  })
})
