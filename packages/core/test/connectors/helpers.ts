import { readFileSync } from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import net from 'node:net'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'

const certDir = fileURLToPath(new URL('../../../../tooling/test-utils/certs/', import.meta.url))

/** Reads a file of the checked-in test PKI (`ca.pem`, `localhost.pem`, `localhost.key`...). */
export function testCert(name: string): Buffer {
  return readFileSync(`${certDir}${name}`)
}

/** A server on 127.0.0.1 (or a Unix socket) that counts the connections it accepts. */
export interface TestServer<S extends net.Server = net.Server> {
  /** The server. */
  readonly server: S
  /** The port (0 for Unix sockets). */
  readonly port: number
  /** `127.0.0.1:<port>`, or the socket path. */
  readonly address: string
  /** Connections accepted so far. */
  accepted(): number
  /** The accepted sockets still open. */
  readonly sockets: Set<net.Socket>
  /** Resolves with the next accepted socket. */
  nextConnection(): Promise<net.Socket>
  /** Stops listening and destroys open connections. */
  close(): Promise<void>
}

async function track<S extends net.Server>(server: S, path?: string): Promise<TestServer<S>> {
  let accepted = 0
  const sockets = new Set<net.Socket>()
  // TLS servers report accepted TCP sockets through 'connection' too.
  server.on('connection', (socket: net.Socket) => {
    accepted++
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    const done = (): void => {
      server.off('error', reject)
      resolve()
    }
    if (path === undefined) server.listen(0, '127.0.0.1', done)
    else server.listen(path, done)
  })
  const info = server.address()
  const port = typeof info === 'object' && info !== null ? info.port : 0
  let closing: Promise<void> | undefined
  return {
    server,
    port,
    address: path ?? `127.0.0.1:${port}`,
    accepted: () => accepted,
    sockets,
    nextConnection: () => new Promise((resolve) => server.once('connection', resolve)),
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve())
        for (const socket of sockets) socket.destroy()
      })
      return closing
    },
  }
}

/** Starts a raw TCP server (or a Unix socket server when `path` is given). */
export function startTcpServer(
  onConnection: (socket: net.Socket) => void = () => {},
  path?: string,
): Promise<TestServer<net.Server>> {
  return track(net.createServer(onConnection), path)
}

/** Starts a node:http origin with keep-alive on. */
export function startHttpOrigin(
  handler: http.RequestListener,
  path?: string,
): Promise<TestServer<http.Server>> {
  const server = http.createServer({ keepAliveTimeout: 60_000 }, handler)
  return track(server, path)
}

/** Starts a node:https origin with the `localhost` test certificate (issued by `ca.pem`). */
export function startHttpsOrigin(handler: http.RequestListener): Promise<TestServer<https.Server>> {
  const server = https.createServer(
    { cert: testCert('localhost.pem'), key: testCert('localhost.key'), keepAliveTimeout: 60_000 },
    handler,
  )
  return track(server)
}

/** A listener whose accept queue is full, so new connects hang in SYN_SENT. */
export interface BlackHole {
  /** The port of the full listener on 127.0.0.1. */
  readonly port: number
  /** Stops the listener and closes every filler socket. */
  readonly close: () => Promise<void>
}

// The worker listens with a backlog of 1 and then blocks its event loop, so it never accepts:
// the kernel completes handshakes into the accept queue until it is full (backlog + 1 on
// Linux), and drops further SYNs, which leaves those connects pending.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads')
const net = require('node:net')
const flag = new Int32Array(workerData)
const server = net.createServer(() => {})
server.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
  parentPort.postMessage(server.address().port)
  while (Atomics.load(flag, 0) === 0) Atomics.wait(flag, 0, 0, 1000)
  process.exit(0)
})
`

/**
 * Starts a black-hole listener on 127.0.0.1: a listen socket that never accepts and whose
 * backlog is filled, so further connects neither succeed nor fail.
 */
export async function startBlackHole(): Promise<BlackHole> {
  const shared = new SharedArrayBuffer(4)
  const flag = new Int32Array(shared)
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: shared })
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()))
  const port = await new Promise<number>((resolve, reject) => {
    worker.once('message', resolve)
    worker.once('error', reject)
  })
  const fillers: net.Socket[] = []
  // Fill the accept queue (backlog 1 holds 2 connections on Linux).
  for (let i = 0; i < 2; i++) {
    await new Promise<void>((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1', () => resolve())
      socket.once('error', reject)
      fillers.push(socket)
    })
  }
  // A few more that are not awaited: they hang once the queue is full, and they fill it on a
  // kernel whose queue holds a little more than backlog + 1.
  for (let i = 0; i < 2; i++) {
    const socket = net.connect(port, '127.0.0.1')
    socket.on('error', () => {})
    fillers.push(socket)
  }
  const close = async (): Promise<void> => {
    for (const socket of fillers) socket.destroy()
    Atomics.store(flag, 0, 1)
    Atomics.notify(flag, 0)
    await exited
  }
  return { port, close }
}

/**
 * Resolves once the socket emits `close` (at once when it already has). Call it before
 * destroying the socket yourself: `socket.closed` turns true at `destroy()`, before the event.
 */
export function closed(socket: net.Socket): Promise<void> {
  if (socket.closed) return Promise.resolve()
  return new Promise((resolve) => socket.once('close', () => resolve()))
}

/** Captures a rejection so tests can assert on the error's fields. */
export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise
  } catch (error) {
    return error
  }
  throw new Error('expected a rejection')
}
