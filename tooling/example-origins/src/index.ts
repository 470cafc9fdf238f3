import http from 'node:http'
import http2 from 'node:http2'
import type { AddressInfo } from 'node:net'

/** A local origin started for the demo or the tests. */
export interface LocalOrigin {
  /** `127.0.0.1:PORT` */
  readonly address: string
  /** Stops it. */
  close(): Promise<void>
}

/**
 * Starts an origin on 127.0.0.1 (a free port) that answers every request with a JSON echo of
 * what it received: its own name, the method, the path and the request headers.
 * @param name - the name it answers with
 */
export function startEchoOrigin(name: string): Promise<LocalOrigin> {
  const server = http.createServer((request, response) => {
    const body = JSON.stringify({
      origin: name,
      method: request.method,
      path: request.url,
      headers: request.headers,
    })
    response.writeHead(200, {
      'Content-Type': 'application/json',
      'Content-Length': Buffer.byteLength(body),
    })
    response.end(body)
  })
  return listenLocal(server, () => server.closeAllConnections())
}

/**
 * Starts a small origin on 127.0.0.1 (a free port) that answers every request with its own
 * name (text, and an `X-Origin` header), so a demo shows which upstream served each response.
 * @param name - the name it answers with
 * @param h2c - speak cleartext HTTP/2 (prior knowledge) instead of HTTP/1.1
 */
export function startNamedOrigin(name: string, h2c = false): Promise<LocalOrigin> {
  if (h2c) return startH2cOrigin(name)
  const server = http.createServer((request, response) => {
    const body = `hello from ${name} (${request.method} ${request.url})\n`
    response.writeHead(200, {
      'Content-Type': 'text/plain; charset=utf-8',
      'Content-Length': Buffer.byteLength(body),
      'X-Origin': name,
    })
    response.end(body)
  })
  return listenLocal(server, () => server.closeAllConnections())
}

function startH2cOrigin(name: string): Promise<LocalOrigin> {
  const server = http2.createServer()
  const sessions = new Set<http2.ServerHttp2Session>()
  server.on('session', (session) => {
    sessions.add(session)
    session.once('close', () => sessions.delete(session))
  })
  server.on('stream', (stream, headers) => {
    stream.on('error', () => {})
    const body = `hello from ${name} (${headers[':method']} ${headers[':path']}, h2)\n`
    stream.respond({
      ':status': 200,
      'content-type': 'text/plain; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      'x-origin': name,
    })
    stream.end(body)
  })
  return listenLocal(server, () => {
    for (const session of sessions) session.destroy()
  })
}

/**
 * Listens on a free port of 127.0.0.1; `close` drops the open connections (`dropConnections`)
 * and then stops the server.
 */
function listenLocal(
  server: http.Server | http2.Http2Server,
  dropConnections: () => void,
): Promise<LocalOrigin> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo
      resolve({
        address: `127.0.0.1:${port}`,
        close: () =>
          new Promise<void>((done) => {
            dropConnections()
            server.close(() => done())
          }),
      })
    })
  })
}
