import net from 'node:net'
import { onTestFinished } from 'vitest'
import type { ServerApp } from '../../src/apps/server-app.ts'
import type { ServerConfFields } from '../../src/server/configuration.ts'
import { Server } from '../../src/server/server.ts'
import type { Service } from '../../src/services/service.ts'

/** A promise with its resolve function exposed. */
export interface Deferred<T> {
  promise: Promise<T>
  resolve: (value: T) => void
}

export function deferred<T = void>(): Deferred<T> {
  let resolve: (value: T) => void = () => {}
  const promise = new Promise<T>((res) => {
    resolve = res
  })
  return { promise, resolve }
}

/** Starts a server with the given services; it is shut down (fast) when the test ends. */
export async function startServer(
  services: Service[],
  configuration: Partial<ServerConfFields> = {},
): Promise<Server> {
  const server = new Server({ configuration: { gracePeriodSeconds: 30, ...configuration } })
  server.addServices(services)
  onTestFinished(() => server.shutdown({ graceful: false }))
  await server.start()
  return server
}

/** Connects to a TCP port or a Unix socket path and resolves once connected. */
export function connect(target: number | string, host = '127.0.0.1'): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket =
      typeof target === 'number' ? net.connect({ port: target, host }) : net.connect(target)
    socket.once('connect', () => {
      socket.off('error', reject)
      resolve(socket)
    })
    socket.once('error', reject)
    onTestFinished(() => {
      socket.destroy()
    })
  })
}

/** Resolves with the error a connection attempt fails with (or rejects if it connects). */
export function connectError(port: number, host = '127.0.0.1'): Promise<NodeJS.ErrnoException> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host })
    socket.once('connect', () => {
      socket.destroy()
      reject(new Error('connected'))
    })
    socket.once('error', resolve)
  })
}

/** Reads everything until the peer closes. */
export function readAll(socket: net.Socket): Promise<string> {
  return new Promise((resolve) => {
    let text = ''
    socket.setEncoding('latin1')
    socket.on('data', (chunk: string) => {
      text += chunk
    })
    socket.on('error', () => {})
    socket.once('close', () => resolve(text))
  })
}

/** Reads until `text` has arrived (or the socket closes), resolving with everything read. */
export function readUntil(socket: net.Socket, text: string): Promise<string> {
  return new Promise((resolve) => {
    let received = ''
    const onData = (chunk: Buffer): void => {
      received += chunk.toString('latin1')
      if (received.includes(text)) finish()
    }
    const finish = (): void => {
      socket.off('data', onData)
      socket.off('close', finish)
      resolve(received)
    }
    socket.on('data', onData)
    socket.once('close', finish)
  })
}

/** Resolves when the socket closes. */
export function closed(socket: net.Socket): Promise<void> {
  if (socket.destroyed && socket.closed) return Promise.resolve()
  return new Promise((resolve) => {
    socket.on('error', () => {})
    socket.once('close', () => resolve())
  })
}

/** Whether this host can listen on `::1` (IPv6 loopback). */
export function ipv6Available(): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createServer()
    probe.once('error', () => resolve(false))
    probe.listen({ host: '::1', port: 0 }, () => {
      probe.close(() => resolve(true))
    })
  })
}

/** A raw TCP echo app: writes back every chunk until the client ends. */
export const echoApp: ServerApp = {
  async processNew(stream) {
    for (let chunk = await stream.read(); chunk !== undefined; chunk = await stream.read()) {
      await stream.writeAll(chunk)
    }
    return undefined
  },
}

/** The TCP port of a service's first endpoint. */
export function portOf(service: { listeningAddresses(): ReadonlyArray<{ kind: string }> }): number {
  const address = service.listeningAddresses()[0] as { kind: string; port?: number }
  if (address?.kind !== 'tcp' || address.port === undefined) throw new Error('no TCP endpoint')
  return address.port
}
