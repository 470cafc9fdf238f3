import { createHash } from 'node:crypto'
import http from 'node:http'
import type { AddressInfo, Socket } from 'node:net'

/** A local WebSocket echo origin. */
export interface EchoOrigin {
  /** `127.0.0.1:PORT` */
  readonly address: string
  /** Stops it. */
  close(): Promise<void>
}

// RFC 6455 §1.3: the GUID appended to Sec-WebSocket-Key to prove the handshake was understood.
const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'
/** The largest frame payload the echo origin accepts (a test server, not a general one). */
const MAX_PAYLOAD = 16 * 1024 * 1024

const OPCODE_CLOSE = 0x8
const OPCODE_PING = 0x9
const OPCODE_PONG = 0xa

/**
 * Starts a WebSocket echo origin on 127.0.0.1 (a free port): it accepts the upgrade on any
 * path and sends every data frame back unchanged (RFC 6455, server frames unmasked), answers
 * pings with pongs and closes when the client does. Plain HTTP requests get a 426.
 */
export function startEchoOrigin(): Promise<EchoOrigin> {
  const sockets = new Set<Socket>()
  const server = http.createServer((_request, response) => {
    response.writeHead(426, { Upgrade: 'websocket', 'Content-Length': '0' })
    response.end()
  })
  server.on('upgrade', (request: http.IncomingMessage, socket: Socket, head: Buffer) => {
    const key = request.headers['sec-websocket-key']
    if (request.headers.upgrade?.toLowerCase() !== 'websocket' || typeof key !== 'string') {
      socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n')
      return
    }
    const accept = createHash('sha1')
      .update(key + WEBSOCKET_GUID)
      .digest('base64')
    socket.write(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${accept}\r\n\r\n`,
    )
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => socket.destroy())
    let pending = head
    const onData = (data: Buffer): void => {
      pending = pending.length === 0 ? data : Buffer.concat([pending, data])
      for (;;) {
        const frame = parseFrame(pending)
        if (frame === undefined) return
        if (frame === 'too-large') {
          socket.destroy()
          return
        }
        pending = pending.subarray(frame.length)
        if (frame.opcode === OPCODE_CLOSE) {
          socket.end(encodeFrame(true, OPCODE_CLOSE, frame.payload))
          return
        }
        const opcode = frame.opcode === OPCODE_PING ? OPCODE_PONG : frame.opcode
        socket.write(encodeFrame(frame.fin, opcode, frame.payload))
      }
    }
    socket.on('data', onData)
    if (head.length > 0) onData(Buffer.alloc(0))
  })
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo
      resolve({
        address: `127.0.0.1:${port}`,
        close: () =>
          new Promise<void>((done) => {
            for (const socket of sockets) socket.destroy()
            server.closeAllConnections()
            server.close(() => done())
          }),
      })
    })
  })
}

interface Frame {
  readonly fin: boolean
  readonly opcode: number
  readonly payload: Buffer
  /** The frame's size on the wire. */
  readonly length: number
}

/**
 * Parses one client frame (RFC 6455 §5.2) from the start of `data`: `undefined` when more
 * bytes are needed.
 */
function parseFrame(data: Buffer): Frame | 'too-large' | undefined {
  if (data.length < 2) return undefined
  const b0 = data[0] as number
  const b1 = data[1] as number
  const masked = (b1 & 0x80) !== 0
  let length = b1 & 0x7f
  let offset = 2
  if (length === 126) {
    if (data.length < 4) return undefined
    length = data.readUInt16BE(2)
    offset = 4
  } else if (length === 127) {
    if (data.length < 10) return undefined
    const big = data.readBigUInt64BE(2)
    if (big > BigInt(MAX_PAYLOAD)) return 'too-large'
    length = Number(big)
    offset = 10
  }
  if (length > MAX_PAYLOAD) return 'too-large'
  const maskOffset = offset
  if (masked) offset += 4
  if (data.length < offset + length) return undefined
  const payload = Buffer.from(data.subarray(offset, offset + length))
  if (masked) {
    // §5.3: client-to-server payloads are XOR-ed with the 4-byte masking key.
    for (let i = 0; i < payload.length; i++) {
      payload[i] = (payload[i] as number) ^ (data[maskOffset + (i & 3)] as number)
    }
  }
  return { fin: (b0 & 0x80) !== 0, opcode: b0 & 0x0f, payload, length: offset + length }
}

/** Encodes one unmasked server frame. */
function encodeFrame(fin: boolean, opcode: number, payload: Buffer): Buffer {
  const length = payload.length
  const headerLength = length < 126 ? 2 : length <= 0xffff ? 4 : 10
  const frame = Buffer.allocUnsafe(headerLength + length)
  frame[0] = (fin ? 0x80 : 0) | opcode
  if (length < 126) {
    frame[1] = length
  } else if (length <= 0xffff) {
    frame[1] = 126
    frame.writeUInt16BE(length, 2)
  } else {
    frame[1] = 127
    frame.writeBigUInt64BE(BigInt(length), 2)
  }
  payload.copy(frame, headerLength)
  return frame
}
