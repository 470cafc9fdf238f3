import http from 'node:http'
import type { AddressInfo } from 'node:net'

/** A local origin started for the demo or the tests. */
export interface LocalOrigin {
  /** `127.0.0.1:PORT` */
  readonly address: string
  /** How many requests it answered. */
  readonly requests: () => number
  /** Stops it. */
  close(): Promise<void>
}

/**
 * Starts an origin on 127.0.0.1 (a free port):
 * - `/time`: the time of the answer, fresh for 10 seconds (`max-age=10`), with an `ETag`
 *   (answers `If-None-Match` with 304);
 * - `/private`: `Cache-Control: private` (never stored by a shared cache);
 * - `/plain`: no caching headers at all (stored only with a default freshness);
 * - anything else: 404, fresh for 60 seconds.
 */
export function startDemoOrigin(): Promise<LocalOrigin> {
  let count = 0
  const server = http.createServer((request, response) => {
    count++
    request.resume()
    const url = new URL(request.url ?? '/', 'http://origin')
    if (url.pathname === '/time') {
      const tag = `"${Math.floor(Date.now() / 10_000)}"`
      if (request.headers['if-none-match'] === tag) {
        response.writeHead(304, { ETag: tag, 'Cache-Control': 'max-age=10' })
        response.end()
        return
      }
      const body = `${new Date().toISOString()}\n`
      response.writeHead(200, {
        'Content-Type': 'text/plain',
        'Content-Length': Buffer.byteLength(body),
        'Cache-Control': 'max-age=10',
        ETag: tag,
      })
      response.end(body)
      return
    }
    if (url.pathname === '/private') {
      response.writeHead(200, { 'Cache-Control': 'private, max-age=60' })
      response.end('for one user only\n')
      return
    }
    if (url.pathname === '/plain') {
      response.writeHead(200, { 'Content-Type': 'text/plain' })
      response.end('no caching headers\n')
      return
    }
    response.writeHead(404, { 'Cache-Control': 'max-age=60' })
    response.end('not found\n')
  })
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo
      resolve({
        address: `127.0.0.1:${port}`,
        requests: () => count,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections()
            server.close(() => done())
          }),
      })
    })
  })
}
