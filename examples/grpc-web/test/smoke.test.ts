// gRPC-web over HTTP/1.1 through the bridge to a @grpc/grpc-js origin over h2c: the message and
// the trailers (grpc-status, grpc-message, trailing metadata) come back in the body frames.
import * as grpc from '@grpc/grpc-js'
import { Agent, request } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type RunningProxy, startGrpcWebProxy } from '../src/grpc-web-proxy.ts'

const identity = (b: Buffer): Buffer => b
const SAY: grpc.MethodDefinition<Buffer, Buffer> = {
  path: '/demo.Greeter/Say',
  requestStream: false,
  responseStream: false,
  requestSerialize: identity,
  requestDeserialize: identity,
  responseSerialize: identity,
  responseDeserialize: identity,
}

/** One gRPC message frame: flag 0, 4-byte length, the bytes. */
function frame(message: Buffer): Buffer {
  const head = Buffer.alloc(5)
  head.writeUInt32BE(message.length, 1)
  return Buffer.concat([head, message])
}

/** Splits a gRPC-web body into its frames. */
function frames(body: Buffer): Array<{ flag: number; data: Buffer }> {
  const out: Array<{ flag: number; data: Buffer }> = []
  let i = 0
  while (i + 5 <= body.length) {
    const length = body.readUInt32BE(i + 1)
    out.push({ flag: body[i] as number, data: body.subarray(i + 5, i + 5 + length) })
    i += 5 + length
  }
  expect(i).toBe(body.length)
  return out
}

describe('grpc-web example', () => {
  let server: grpc.Server
  let proxy: RunningProxy
  const agent = new Agent()

  beforeAll(async () => {
    server = new grpc.Server()
    server.addService(
      { say: SAY },
      {
        say(call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) {
          const name = call.request.toString()
          if (name === '') {
            callback({ code: grpc.status.INVALID_ARGUMENT, details: 'name is empty' })
            return
          }
          const trailing = new grpc.Metadata()
          trailing.set('x-greeted', name)
          callback(null, Buffer.from(`hello ${name}`), trailing)
        },
      },
    )
    const port = await new Promise<number>((resolve, reject) => {
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, p) =>
        error ? reject(error) : resolve(p),
      )
    })
    proxy = await startGrpcWebProxy(`127.0.0.1:${port}`)
  })
  afterAll(async () => {
    await agent.close()
    await proxy?.close()
    server?.forceShutdown()
  })

  const call = (message: Buffer) =>
    request(`http://127.0.0.1:${proxy.port}/demo.Greeter/Say`, {
      method: 'POST',
      dispatcher: agent,
      headers: { 'content-type': 'application/grpc-web+proto', 'x-grpc-web': '1' },
      body: frame(message),
    })

  it('bridges a call: message frame, then the trailers as the last frame', async () => {
    const response = await call(Buffer.from('ada'))
    expect(response.statusCode).toBe(200)
    expect(response.headers['content-type']).toBe('application/grpc-web+proto')
    const body = Buffer.from(await response.body.arrayBuffer())
    const parts = frames(body)
    expect(parts).toHaveLength(2)
    expect(parts[0]?.flag).toBe(0)
    expect(parts[0]?.data.toString()).toBe('hello ada')
    expect(parts[1]?.flag).toBe(0x80)
    const trailers = parts[1]?.data.toString() ?? ''
    expect(trailers).toContain('grpc-status: 0\r\n')
    expect(trailers).toContain('x-greeted: ada\r\n')
  })

  it('an error reaches the client with its status and message', async () => {
    const response = await call(Buffer.alloc(0))
    expect(response.statusCode).toBe(200)
    const body = Buffer.from(await response.body.arrayBuffer())
    // A trailers-only answer: the status is in the header (gRPC-web clients read it there),
    // or in a trailer frame when the origin sent headers first.
    const inHeader = response.headers['grpc-status']
    const text = inHeader === undefined ? (frames(body).at(-1)?.data.toString() ?? '') : ''
    const status = inHeader ?? /grpc-status: (\d+)/.exec(text)?.[1]
    const message = response.headers['grpc-message'] ?? /grpc-message: (.*)\r\n/.exec(text)?.[1]
    expect(String(status)).toBe(String(grpc.status.INVALID_ARGUMENT))
    expect(decodeURIComponent(String(message))).toBe('name is empty')
  })
})
