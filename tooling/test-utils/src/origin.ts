import http from 'node:http'
import http2 from 'node:http2'
import https from 'node:https'
import type { AddressInfo, Server as NetServer } from 'node:net'
import { type CertPaths, certs, readCert } from './certs.ts'

/** A server listening on 127.0.0.1 with a port picked by the OS. */
export interface StartedServer {
  /** Base URL, e.g. `http://127.0.0.1:40123` (`tcp://` for raw servers). */
  readonly url: string
  /** The port the OS assigned. */
  readonly port: number
  /** Always `127.0.0.1`. */
  readonly host: string
  /** Stops listening and destroys open connections; safe to call twice (`onTestFinished(s.close)`). */
  readonly close: () => Promise<void>
}

/** Request handler for {@link startOrigin}: a node:http or node:http2 compat handler. */
export type OriginHandler = (
  request: http.IncomingMessage | http2.Http2ServerRequest,
  response: http.ServerResponse | http2.Http2ServerResponse,
) => void

/** Options for {@link startOrigin}. */
export interface OriginOptions {
  /**
   * `'http'` (HTTP/1.1), `'https'` (HTTP/1.1 over TLS), `'h2'` (HTTP/2 over TLS, also HTTP/1.1
   * through ALPN) or `'h2c'` (cleartext HTTP/2, prior knowledge).
   * @defaultValue `'http'`
   */
  protocol?: 'http' | 'https' | 'h2' | 'h2c'
  /** Server certificate for TLS protocols. @defaultValue `certs.localhost` */
  cert?: CertPaths
}

/**
 * Starts an origin server on `127.0.0.1:0` with a handler.
 * @param handler - answers each request
 * @param options - protocol and certificate
 */
export async function startOrigin(
  handler: OriginHandler,
  options: OriginOptions = {},
): Promise<StartedServer & { readonly server: NetServer }> {
  const protocol = options.protocol ?? 'http'
  const pair = options.cert ?? certs.localhost
  const tlsOptions = () => ({ cert: readCert(base(pair.cert)), key: readCert(base(pair.key)) })
  let server: NetServer
  const h1 = handler as unknown as http.RequestListener
  const h2 = handler as unknown as (
    request: http2.Http2ServerRequest,
    response: http2.Http2ServerResponse,
  ) => void
  switch (protocol) {
    case 'http':
      server = http.createServer(h1)
      break
    case 'https':
      server = https.createServer(tlsOptions(), h1)
      break
    case 'h2':
      server = http2.createSecureServer({ ...tlsOptions(), allowHTTP1: true }, h2)
      break
    case 'h2c':
      server = http2.createServer(h2)
      break
    default:
      throw new TypeError(`unknown protocol: ${String(protocol)}`)
  }
  const scheme = protocol === 'https' || protocol === 'h2' ? 'https' : 'http'
  return listen(server, scheme)
}

function base(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1)
}

/** @internal Listens on 127.0.0.1:0 and builds the started-server shape; tracks sockets for close. */
export async function listen(
  server: NetServer,
  scheme: string,
): Promise<StartedServer & { readonly server: NetServer }> {
  const sockets = new Set<{ destroy(): void }>()
  server.on('connection', (socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  })
  // http2 sessions keep their own sockets; destroying the TCP sockets ends them too.
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  })
  const { port } = server.address() as AddressInfo
  let closing: Promise<void> | undefined
  const close = (): Promise<void> => {
    closing ??= new Promise<void>((resolve) => {
      server.close(() => resolve())
      for (const socket of sockets) socket.destroy()
    })
    return closing
  }
  return { url: `${scheme}://127.0.0.1:${port}`, port, host: '127.0.0.1', close, server }
}
