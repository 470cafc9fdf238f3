import http from 'node:http'
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
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo
      resolve({
        address: `127.0.0.1:${port}`,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections()
            server.close(() => done())
          }),
      })
    })
  })
}
