import { readFileSync } from 'node:fs'
import net from 'node:net'
import tls from 'node:tls'
import { fileURLToPath } from 'node:url'
import { onTestFinished } from 'vitest'

const certDir = fileURLToPath(new URL('../../../../tooling/test-utils/certs/', import.meta.url))

/** Reads a file of the checked-in test PKI (`ca.pem`, `a.test.pem`, `a.test.key`...). */
export function testCert(name: string): Buffer {
  return readFileSync(`${certDir}${name}`)
}

/** Absolute path of a file of the test PKI. */
export function testCertPath(name: string): string {
  return `${certDir}${name}`
}

/** A raw TCP (or TLS) origin on 127.0.0.1:0, closed when the test ends. */
export interface RawOrigin {
  readonly port: number
  readonly address: string
  /** Resolves with the next accepted socket (TLS sockets once secure). */
  nextConnection(): Promise<net.Socket>
}

/**
 * Starts a raw origin whose `onSocket` handles every connection (`allowHalfOpen`: it sees the
 * client's FIN and may keep writing).
 */
export async function startRawOrigin(
  onSocket: (socket: net.Socket) => void,
  tlsOptions?: tls.TlsOptions,
): Promise<RawOrigin> {
  const waiters: Array<(socket: net.Socket) => void> = []
  const sockets = new Set<net.Socket>()
  const handle = (socket: net.Socket): void => {
    sockets.add(socket)
    socket.on('error', () => {})
    socket.once('close', () => sockets.delete(socket))
    onSocket(socket)
    waiters.shift()?.(socket)
  }
  const server =
    tlsOptions === undefined
      ? net.createServer({ allowHalfOpen: true }, handle)
      : tls.createServer({ allowHalfOpen: true, ...tlsOptions }, handle)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as net.AddressInfo).port
  onTestFinished(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      }),
  )
  return {
    port,
    address: `127.0.0.1:${port}`,
    nextConnection: () => new Promise((resolve) => waiters.push(resolve)),
  }
}

/** An origin that writes back every byte and ends when the client ends. */
export function echoOrigin(tlsOptions?: tls.TlsOptions): Promise<RawOrigin> {
  return startRawOrigin((socket) => {
    socket.pipe(socket)
  }, tlsOptions)
}

/** Collects everything a socket receives until it closes. */
export function collect(socket: net.Socket): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    socket.on('data', (chunk: Buffer) => chunks.push(chunk))
    socket.on('error', () => {})
    socket.once('close', () => resolve(Buffer.concat(chunks)))
  })
}

/** Resolves once `socket` has received `text` (latin1), with everything received so far. */
export function receiveText(socket: net.Socket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let received = ''
    const onData = (chunk: Buffer): void => {
      received += chunk.toString('latin1')
      if (received.includes(text)) {
        socket.off('data', onData)
        socket.off('close', onClose)
        resolve(received)
      }
    }
    const onClose = (): void => reject(new Error(`closed before "${text}"; got "${received}"`))
    socket.on('data', onData)
    socket.once('close', onClose)
  })
}

/** Resolves once `condition()` holds, checking once per event-loop turn (no timers). */
export function whenTrue(condition: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const check = (): void => {
      if (condition()) resolve()
      else setImmediate(check)
    }
    check()
  })
}
