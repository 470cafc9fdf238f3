// gRPC through the proxy (h2c client -> proxy -> h2c origin) with @grpc/grpc-js on both ends:
// the four call kinds, metadata, error status with trailing metadata, deadlines and
// cancellation propagated to the origin, messages over 4 MiB, and 100 concurrent calls on
// ceil(100 / maxConcurrentStreams) upstream connections.
import * as grpc from '@grpc/grpc-js'
import { type H2Engine, HttpPeer } from '@pingora-ts/core'
import type { ProxyHttp } from '@pingora-ts/proxy'
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest'
import { startProxy } from './helpers.ts'

/** The downstream HTTP/2 engine the running describe block tests (set in its beforeAll). */
let engine: H2Engine = 'node'

const identity = (b: Buffer): Buffer => b

function method(
  name: string,
  requestStream: boolean,
  responseStream: boolean,
): grpc.MethodDefinition<Buffer, Buffer> {
  return {
    path: `/pingora.test.Echo/${name}`,
    requestStream,
    responseStream,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  }
}

const ECHO = {
  unary: method('Unary', false, false),
  serverStream: method('ServerStream', false, true),
  clientStream: method('ClientStream', true, false),
  bidi: method('Bidi', true, true),
} satisfies grpc.ServiceDefinition

const Client = grpc.makeGenericClientConstructor(ECHO, 'Echo')
type EchoClient = InstanceType<typeof Client> &
  Record<string, grpc.MethodDefinition<Buffer, Buffer>>

interface Handlers {
  unary?: grpc.handleUnaryCall<Buffer, Buffer>
  serverStream?: grpc.handleServerStreamingCall<Buffer, Buffer>
  clientStream?: grpc.handleClientStreamingCall<Buffer, Buffer>
  bidi?: grpc.handleBidiStreamingCall<Buffer, Buffer>
}

const BIG = { 'grpc.max_receive_message_length': 16 * 1024 * 1024 }

async function grpcOrigin(handlers: Handlers, options: grpc.ServerOptions = {}): Promise<number> {
  const server = new grpc.Server({ ...BIG, ...options })
  const unimplemented = (_call: unknown, callback?: grpc.sendUnaryData<Buffer>) => {
    callback?.({ code: grpc.status.UNIMPLEMENTED })
  }
  server.addService(ECHO, {
    unary: handlers.unary ?? unimplemented,
    serverStream:
      handlers.serverStream ?? ((call: grpc.ServerWritableStream<Buffer, Buffer>) => call.end()),
    clientStream: handlers.clientStream ?? unimplemented,
    bidi: handlers.bidi ?? ((call: grpc.ServerDuplexStream<Buffer, Buffer>) => call.end()),
  })
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, p) =>
      error ? reject(error) : resolve(p),
    )
  })
  onTestFinished(() => {
    server.forceShutdown()
  })
  return port
}

function app(port: number, maxH2Streams = 100): ProxyHttp<undefined> {
  return {
    newCtx: () => undefined,
    upstreamPeer: () => {
      const peer = new HttpPeer({ address: `127.0.0.1:${port}`, options: { maxH2Streams } })
      peer.options.setHttpVersion(2, 2)
      return peer
    },
  }
}

async function setup(handlers: Handlers, serverOptions: grpc.ServerOptions = {}, streams = 100) {
  const originPort = await grpcOrigin(handlers, serverOptions)
  const proxy = await startProxy(
    app(originPort, streams),
    {},
    { serverOptions: { h2c: true, h2: { engine } } },
  )
  const client = new Client(`127.0.0.1:${proxy.port}`, grpc.credentials.createInsecure(), {
    ...BIG,
  }) as EchoClient
  onTestFinished(() => client.close())
  return { client, proxy }
}

function unary(
  client: EchoClient,
  body: Buffer,
  metadata = new grpc.Metadata(),
  options: grpc.CallOptions = {},
): Promise<{ response: Buffer; headers: grpc.Metadata; status: grpc.StatusObject }> {
  return new Promise((resolve, reject) => {
    let headers = new grpc.Metadata()
    let response: Buffer | undefined
    let done = 0
    let status: grpc.StatusObject | undefined
    const finish = () => {
      if (++done === 2)
        resolve({ response: response as Buffer, headers, status: status as grpc.StatusObject })
    }
    const call = (
      client.unary as unknown as (
        b: Buffer,
        m: grpc.Metadata,
        o: grpc.CallOptions,
        cb: grpc.requestCallback<Buffer>,
      ) => grpc.ClientUnaryCall
    ).call(client, body, metadata, options, (error, value) => {
      if (error) {
        reject(error)
        return
      }
      response = value
      finish()
    })
    call.on('metadata', (m) => {
      headers = m
    })
    call.on('status', (s) => {
      status = s
      finish()
    })
  })
}

describe.each<H2Engine>(['node', 'native'])('gRPC through the proxy (%s h2 engine)', (tested) => {
  beforeAll(() => {
    engine = tested
  })

  it('unary: request metadata up, response, header and trailing metadata down', async () => {
    const { client } = await setup({
      unary(call, callback) {
        const initial = new grpc.Metadata()
        initial.set('x-seen', String(call.metadata.get('x-req')[0]))
        call.sendMetadata(initial)
        const trailing = new grpc.Metadata()
        trailing.set('x-trail', 'done')
        callback(null, Buffer.concat([Buffer.from('echo:'), call.request]), trailing)
      },
    })
    const metadata = new grpc.Metadata()
    metadata.set('x-req', 'abc')
    const result = await unary(client, Buffer.from('hi'), metadata)
    expect(result.response.toString()).toBe('echo:hi')
    expect(result.headers.get('x-seen')).toEqual(['abc'])
    expect(result.status.code).toBe(grpc.status.OK)
    expect(result.status.metadata.get('x-trail')).toEqual(['done'])
  })

  it('server streaming, client streaming and bidi', async () => {
    const { client } = await setup({
      serverStream(call) {
        const n = call.request.readUInt8(0)
        for (let i = 0; i < n; i++) call.write(Buffer.from(`m${i}`))
        call.end()
      },
      clientStream(call, callback) {
        let total = 0
        call.on('data', (b: Buffer) => {
          total += b.length
        })
        call.on('end', () => callback(null, Buffer.from(String(total))))
      },
      bidi(call) {
        call.on('data', (b: Buffer) => call.write(Buffer.from(`<${b.toString()}>`)))
        call.on('end', () => call.end())
      },
    })
    const streamed: string[] = []
    await new Promise<void>((resolve, reject) => {
      const call = (
        client.serverStream as unknown as (b: Buffer) => grpc.ClientReadableStream<Buffer>
      ).call(client, Buffer.from([5]))
      call.on('data', (b: Buffer) => streamed.push(b.toString()))
      call.on('error', reject)
      call.on('end', () => resolve())
    })
    expect(streamed).toEqual(['m0', 'm1', 'm2', 'm3', 'm4'])

    const sum = await new Promise<string>((resolve, reject) => {
      const call = (
        client.clientStream as unknown as (
          cb: grpc.requestCallback<Buffer>,
        ) => grpc.ClientWritableStream<Buffer>
      ).call(client, (error, value) => (error ? reject(error) : resolve(String(value))))
      for (let i = 0; i < 10; i++) call.write(Buffer.alloc(1000))
      call.end()
    })
    expect(sum).toBe('10000')

    const echoed: string[] = []
    await new Promise<void>((resolve, reject) => {
      const call = (client.bidi as unknown as () => grpc.ClientDuplexStream<Buffer, Buffer>).call(
        client,
      )
      call.on('data', (b: Buffer) => {
        echoed.push(b.toString())
        if (echoed.length < 3) call.write(Buffer.from(`x${echoed.length}`))
        else call.end()
      })
      call.on('error', reject)
      call.on('end', () => resolve())
      call.write(Buffer.from('x0'))
    })
    expect(echoed).toEqual(['<x0>', '<x1>', '<x2>'])
  })

  it('an error keeps its status, message and metadata', async () => {
    const { client } = await setup({
      unary(_call, callback) {
        const metadata = new grpc.Metadata()
        metadata.set('x-why', 'missing')
        callback({ code: grpc.status.NOT_FOUND, details: 'no such thing', metadata })
      },
    })
    const error = (await unary(client, Buffer.from('q')).catch(
      (e: unknown) => e,
    )) as grpc.ServiceError
    expect(`${error.code} ${error.details}`).toBe(`${grpc.status.NOT_FOUND} no such thing`)
    expect(error.details).toBe('no such thing')
    expect(error.metadata.get('x-why')).toEqual(['missing'])
  })

  it('the deadline reaches the origin (grpc-timeout) and cancels the call there', async () => {
    let originDeadline: grpc.Deadline = Number.POSITIVE_INFINITY
    let cancelled!: () => void
    const originCancelled = new Promise<void>((resolve) => {
      cancelled = resolve
    })
    const { client } = await setup({
      unary(call) {
        originDeadline = call.getDeadline()
        call.on('cancelled', () => cancelled())
      },
    })
    const error = (await unary(client, Buffer.from('slow'), new grpc.Metadata(), {
      deadline: Date.now() + 300,
    }).catch((e: unknown) => e)) as grpc.ServiceError
    expect(error.code).toBe(grpc.status.DEADLINE_EXCEEDED)
    await originCancelled
    expect(Number.isFinite(Number(originDeadline))).toBe(true)
  })

  it('a client cancel cancels the origin call', async () => {
    let cancelled!: () => void
    const originCancelled = new Promise<void>((resolve) => {
      cancelled = resolve
    })
    let started!: () => void
    const originStarted = new Promise<void>((resolve) => {
      started = resolve
    })
    const { client } = await setup({
      serverStream(call) {
        call.write(Buffer.from('first'))
        started()
        call.on('cancelled', () => cancelled())
      },
    })
    const call = (
      client.serverStream as unknown as (b: Buffer) => grpc.ClientReadableStream<Buffer>
    ).call(client, Buffer.from([1]))
    call.on('error', () => {})
    const first = await new Promise<string>((resolve) =>
      call.once('data', (b: Buffer) => resolve(b.toString())),
    )
    expect(first).toBe('first')
    await originStarted
    call.cancel()
    await originCancelled
  })

  it('carries messages over 4 MiB both ways', async () => {
    const { client } = await setup({
      unary(call, callback) {
        callback(null, Buffer.concat([call.request, call.request]))
      },
    })
    const big = Buffer.alloc(5 * 1024 * 1024, 7)
    const result = await unary(client, big)
    expect(result.response.length).toBe(10 * 1024 * 1024)
    expect(result.response.every((b) => b === 7)).toBe(true)
  })

  it('100 concurrent calls open ceil(100 / maxConcurrentStreams) upstream connections', async () => {
    const waiting: Array<() => void> = []
    const { client, proxy } = await setup(
      {
        unary(call, callback) {
          waiting.push(() => callback(null, call.request))
          if (waiting.length === 100) for (const go of waiting) go()
        },
      },
      { 'grpc.max_concurrent_streams': 25 },
      100,
    )
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) => unary(client, Buffer.from(`c${i}`))),
    )
    for (let i = 0; i < 100; i++) expect(results[i]?.response.toString()).toBe(`c${i}`)
    expect(proxy.proxy.clientUpstream.h2Stats().connections).toBe(Math.ceil(100 / 25))
  })
})
