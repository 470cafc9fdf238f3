import http from 'node:http'
import type { AddressInfo } from 'node:net'

/** A local origin started for the demo or the tests. */
export interface LocalOrigin {
  /** `127.0.0.1:PORT` */
  readonly address: string
  /** Stops it. */
  close(): Promise<void>
}

/** The user record the demo origin serves at `/user`, secrets included. */
export const DEMO_USER = {
  id: 7,
  name: 'Ada',
  password: 'correct horse battery staple',
  keys: [
    { kind: 'api', secret: 'k-1' },
    { kind: 'ssh', secret: 'k-2' },
  ],
}

/**
 * Starts an origin on 127.0.0.1 (a free port) with a few JSON and non-JSON resources:
 * - `/user`: {@link DEMO_USER} as JSON, sent chunked in several pieces
 * - `/text`: a plain-text body with a `Content-Length`
 * - `/big?bytes=N`: a chunked JSON array of N bytes
 * - `/big-cl?bytes=N`: the same with a `Content-Length`
 */
export function startDemoOrigin(): Promise<LocalOrigin> {
  const server = http.createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://origin')
    if (url.pathname === '/user') {
      const body = JSON.stringify(DEMO_USER)
      response.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8' })
      // Several writes: the proxy must reassemble the JSON across chunks.
      const third = Math.ceil(body.length / 3)
      response.write(body.slice(0, third))
      response.write(body.slice(third, 2 * third))
      response.end(body.slice(2 * third))
      return
    }
    if (url.pathname === '/big' || url.pathname === '/big-cl') {
      const bytes = Number(url.searchParams.get('bytes') ?? '0')
      const body = JSON.stringify(['x'.repeat(Math.max(0, bytes - 4))])
      const headers: http.OutgoingHttpHeaders = { 'Content-Type': 'application/json' }
      if (url.pathname === '/big-cl') headers['Content-Length'] = Buffer.byteLength(body)
      response.writeHead(200, headers)
      response.end(body)
      return
    }
    const text = 'password: not JSON, so not rewritten\n'
    response.writeHead(200, {
      'Content-Type': 'text/plain',
      'Content-Length': Buffer.byteLength(text),
    })
    response.end(text)
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
