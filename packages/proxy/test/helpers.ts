import type http from 'node:http'
import net from 'node:net'
import { HttpPeer, PeerOptions } from '@pingora-ts/core'
import { startOrigin, startRawServer } from '@pingora-ts/test-utils'
import { onTestFinished } from 'vitest'

export { startProxy } from '@pingora-ts/test-utils/proxy'

/**
 * Sends raw bytes to a port and resolves with everything received until the peer closes.
 * @param port - the port on 127.0.0.1
 * @param data - what to send
 */
export function rawExchange(port: number, data: string | Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    socket.on('data', (d) => chunks.push(d))
    socket.on('error', reject)
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')))
    socket.write(data)
  })
}

/**
 * Opens a raw connection and returns helpers to write and to wait for received text.
 * @param port - the port on 127.0.0.1
 */
export async function rawClient(port: number): Promise<{
  socket: net.Socket
  received(): string
  waitFor(text: string | RegExp): Promise<string>
  closed: Promise<void>
}> {
  const socket = net.connect(port, '127.0.0.1')
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve)
    socket.once('error', reject)
  })
  onTestFinished(() => {
    socket.destroy()
  })
  let text = ''
  const waiters: { test: string | RegExp; resolve: (s: string) => void }[] = []
  const check = () => {
    for (let i = waiters.length - 1; i >= 0; i--) {
      const w = waiters[i] as (typeof waiters)[number]
      if (typeof w.test === 'string' ? text.includes(w.test) : w.test.test(text)) {
        waiters.splice(i, 1)
        w.resolve(text)
      }
    }
  }
  socket.on('data', (d: Buffer) => {
    text += d.toString('latin1')
    check()
  })
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
  return {
    socket,
    received: () => text,
    waitFor(test) {
      return new Promise((resolve, reject) => {
        waiters.push({ test, resolve })
        check()
        void closed.then(() => {
          if (waiters.some((w) => w.test === test))
            reject(new Error(`closed before ${test}; got: ${text}`))
        })
      })
    },
    closed,
  }
}

/**
 * Starts a node:http origin on 127.0.0.1:0 for one test.
 * @param handler - answers each request
 */
export async function origin(
  handler: (req: http.IncomingMessage, res: http.ServerResponse) => unknown,
) {
  const o = await startOrigin(handler as never)
  onTestFinished(o.close)
  return o
}

/** How an origin that fails on cue answers (see {@link answerOnCue}). */
export type CueMode = 'ok' | '503' | 'reset' | 'hang'

/**
 * Answers one request the way `mode` says: its `name` (200), a 503, a reset connection, or never
 * (the request hangs). The request body is drained first.
 * @param mode - how to answer
 * @param name - the body of a 200
 * @param req - the request
 * @param res - its response
 */
export function answerOnCue(
  mode: CueMode,
  name: string,
  req: http.IncomingMessage,
  res: http.ServerResponse,
): void {
  req.resume()
  switch (mode) {
    case 'ok':
      res.end(name)
      return
    case '503':
      res.statusCode = 503
      res.end('busy')
      return
    case 'reset':
      req.socket.destroy()
      return
    case 'hang':
      return
  }
}

/**
 * Starts a raw TCP origin on 127.0.0.1:0 for one test.
 * @param onConnection - handles each accepted socket
 */
export async function raw(onConnection: (socket: net.Socket) => void) {
  const o = await startRawServer(onConnection)
  onTestFinished(o.close)
  return o
}

/**
 * A plain-HTTP peer on 127.0.0.1.
 * @param port - the origin's port
 * @param options - peer options
 */
export function peerFor(
  port: number,
  options?: ConstructorParameters<typeof PeerOptions>[0],
): HttpPeer {
  return new HttpPeer({
    address: `127.0.0.1:${port}`,
    tls: false,
    options: options === undefined ? undefined : new PeerOptions(options),
  })
}
