import { once } from 'node:events'
import http from 'node:http'
import net from 'node:net'
import tls from 'node:tls'
import { certs, readCert } from '@pingora-ts/test-utils'

/** A listener on 127.0.0.1 (or a unix path) that can go down and come back on the same address. */
export interface SwitchableBackend {
  /** `127.0.0.1:port` or `unix:/path`. */
  readonly addr: string
  readonly port: number
  /** Connections accepted so far. */
  readonly connections: () => number
  /** Closes the listener and every open connection. */
  down(): Promise<void>
  /** Listens again on the same address. */
  up(): Promise<void>
  close(): Promise<void>
}

async function switchable(create: () => net.Server, path?: string): Promise<SwitchableBackend> {
  let server = create()
  const sockets = new Set<net.Socket>()
  let accepted = 0
  let port = 0
  let isUp = false
  const track = (s: net.Server) => {
    s.on('connection', (socket: net.Socket) => {
      accepted++
      sockets.add(socket)
      socket.on('close', () => sockets.delete(socket))
    })
    // TLS servers emit secureConnection on top; counting `connection` covers both.
  }
  const listen = async () => {
    track(server)
    if (path !== undefined) server.listen(path)
    else server.listen(port, '127.0.0.1')
    await once(server, 'listening')
    if (path === undefined) port = (server.address() as net.AddressInfo).port
    isUp = true
  }
  await listen()
  const down = async () => {
    if (!isUp) return
    isUp = false
    const closed = new Promise((resolve) => server.close(resolve))
    for (const socket of sockets) socket.destroy()
    await closed
  }
  return {
    addr: path !== undefined ? `unix:${path}` : `127.0.0.1:${port}`,
    port,
    connections: () => accepted,
    down,
    async up() {
      if (isUp) return
      server = create()
      await listen()
    },
    close: down,
  }
}

/** A TCP listener that accepts connections and leaves them open. */
export function tcpBackend(path?: string): Promise<SwitchableBackend> {
  return switchable(() => net.createServer(() => {}), path)
}

/** A TCP listener that accepts and never speaks (hangs TLS handshakes and HTTP reads). */
export function silentBackend(): Promise<SwitchableBackend> {
  return switchable(() => net.createServer(() => {}))
}

/** A TLS listener with one of the test certificates. */
export function tlsBackend(cert: { cert: string; key: string } = certs.localhost) {
  const base = (p: string) => p.slice(p.lastIndexOf('/') + 1)
  return switchable(() =>
    tls.createServer({ cert: readCert(base(cert.cert)), key: readCert(base(cert.key)) }, () => {}),
  )
}

/** An HTTP origin whose behaviour the test sets; records each request's method, path and host. */
export async function httpBackend(handler?: http.RequestListener) {
  const seen: string[] = []
  const state = { status: 200, body: 'ok' }
  const backend = await switchable(() =>
    http.createServer((request, response) => {
      seen.push(`${request.method} ${request.url} ${request.headers.host}`)
      if (handler !== undefined) return handler(request, response)
      response.statusCode = state.status
      response.end(state.body)
    }),
  )
  return Object.assign(backend, { seen, state })
}
