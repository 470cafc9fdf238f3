import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import tls from 'node:tls'
import { onTestFinished } from 'vitest'
import { type TlsDigest, tlsDigest } from '../src/tls-digest.ts'
import type { TlsSettings } from '../src/tls-settings.ts'

/** A TLS server under test that answers each connection with its own digest as JSON over HTTP/1.1. */
export interface TestServer {
  readonly port: number
  readonly server: tls.Server
  /** Errors the server saw on handshakes (`tlsClientError`). */
  readonly clientErrors: Error[]
  close(): Promise<void>
}

/** Starts `tls.createServer(settings.toServerOptions())` on 127.0.0.1:0, attached to the settings. */
export async function startTlsServer(settings: TlsSettings): Promise<TestServer> {
  const server = tls.createServer(settings.toServerOptions(), (socket) => {
    respond(socket)
  })
  return listenTls(server, settings)
}

/** Answers one connection with its digest, as a tiny HTTP/1.1 response (so curl can read it). */
export function respond(socket: tls.TLSSocket): void {
  const body = JSON.stringify(tlsDigest(socket))
  socket.on('error', () => undefined)
  socket.end(
    `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  )
}

export async function listenTls(server: tls.Server, settings: TlsSettings): Promise<TestServer> {
  const clientErrors: Error[] = []
  server.on('tlsClientError', (error) => clientErrors.push(error))
  const detach = settings.attach(server)
  const sockets = new Set<import('node:net').Socket>()
  server.on('connection', (socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  let closing: Promise<void> | undefined
  const close = () => {
    closing ??= new Promise<void>((resolve) => {
      detach()
      settings.close()
      for (const socket of sockets) socket.destroy()
      server.close(() => resolve())
    })
    return closing
  }
  onTestFinished(close)
  return { port, server, clientErrors, close }
}

/** Outcome of one client connection. */
export interface ConnectResult {
  /** Whether the server's response arrived. */
  readonly ok: boolean
  readonly error: (Error & { code?: string }) | undefined
  /** Client-side digest, when the handshake completed. */
  readonly client: TlsDigest | undefined
  /** Server-side digest sent back by the server. */
  readonly server: TlsDigest | undefined
  /** The TLS session, for resumption. */
  readonly session: Buffer | undefined
}

/** Connects with `tls.connect` and reads the server's answer to the end. */
export function connect(port: number, options: tls.ConnectionOptions = {}): Promise<ConnectResult> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ...options })
    let client: TlsDigest | undefined
    let session: Buffer | undefined
    let text = ''
    let settled = false
    const finish = (error?: Error) => {
      if (settled) return
      settled = true
      socket.destroy()
      const bodyStart = text.indexOf('\r\n\r\n')
      const server =
        bodyStart >= 0 && text.length > bodyStart + 4
          ? (JSON.parse(text.slice(bodyStart + 4)) as TlsDigest)
          : undefined
      resolve({ ok: server !== undefined && error === undefined, error, client, server, session })
    }
    socket.on('secureConnect', () => {
      client = tlsDigest(socket)
    })
    socket.on('session', (s: Buffer) => {
      session = s
    })
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => {
      text += chunk
    })
    socket.on('end', () => finish())
    socket.on('close', () => finish())
    socket.on('error', (error) => finish(error))
  })
}

/** Connects without verification and returns the SHA-256 fingerprint of the served leaf. */
export function servedCert(
  port: number,
  servername: string | undefined,
  options: tls.ConnectionOptions = {},
): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = tls.connect({
      host: '127.0.0.1',
      port,
      servername,
      rejectUnauthorized: false,
      ...options,
    })
    socket.on('secureConnect', () => {
      resolve(socket.getPeerCertificate().fingerprint256)
      socket.destroy()
    })
    socket.on('error', () => resolve(undefined))
    socket.on('close', () => resolve(undefined))
  })
}
