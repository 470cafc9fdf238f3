import http from 'node:http'
import type { AddressInfo } from 'node:net'

/** A local origin started for the demo. */
export interface LocalOrigin {
  /** `127.0.0.1:PORT` */
  readonly address: string
  /** Stops it. */
  close(): Promise<void>
}

/**
 * Starts a small origin on 127.0.0.1 (a free port) that answers every request with its own
 * name, so the demo shows which upstream served each response.
 * @param name - the name it answers with
 */
export function startLocalOrigin(name: string): Promise<LocalOrigin> {
  const server = http.createServer((request, response) => {
    const body = `hello from ${name} (${request.method} ${request.url})\n`
    response.writeHead(200, {
      'Content-Type': 'text/plain; charset=utf-8',
      'Content-Length': Buffer.byteLength(body),
      'X-Origin': name,
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
