import { existsSync } from 'node:fs'
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PingoraError } from '@pingora-ts/error'
import { describe, expect, it, onTestFinished } from 'vitest'
import { bindServerAddress, closeListener, REUSE_PORT_SUPPORTED } from '../../src/listeners/l4.ts'
import { ListenFds } from '../../src/listeners/listen-fds.ts'
import { Stream } from '../../src/protocols/l4/stream.ts'
import { ListeningService } from '../../src/services/listening.ts'
import {
  closed,
  connect,
  connectError,
  echoApp,
  ipv6Available,
  portOf,
  readAll,
  startServer,
} from './helpers.ts'

async function echoOnce(socket: net.Socket, text: string): Promise<string> {
  const reply = readAll(socket)
  socket.end(text)
  return reply
}

/** Connects to a bare server from bindServerAddress, echoing what it receives. */
function connectAfterListening(server: net.Server, path: string): Promise<net.Socket> {
  server.once('connection', (socket: net.Socket) => socket.pipe(socket))
  return connect(path)
}

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pingora-uds-'))
  onTestFinished(() => rm(dir, { recursive: true, force: true }))
  return dir
}

describe('TCP endpoints', () => {
  it('binds 127.0.0.1:0, reports the bound port and serves a raw ServerApp', async () => {
    const service = new ListeningService('echo', echoApp)
    service.addTcp('127.0.0.1:0')
    expect(service.listeningAddresses()).toEqual([])
    await startServer([service])
    const [address] = service.listeningAddresses()
    expect(address).toMatchObject({ kind: 'tcp', host: '127.0.0.1', family: 'IPv4' })
    const port = portOf(service)
    expect(port).toBeGreaterThan(0)
    expect(address).toMatchObject({ address: `127.0.0.1:${port}` })
    expect(await echoOnce(await connect(port), 'hello')).toBe('hello')
  })

  it('serves every endpoint of one service', async () => {
    const service = new ListeningService('echo', echoApp)
    service.addTcp('127.0.0.1:0')
    service.addTcpWithSettings('127.0.0.1:0', {
      backlog: 16,
      tcpKeepalive: { idleMs: 30_000 },
    })
    await startServer([service])
    const ports = service.listeningAddresses().map((a) => (a.kind === 'tcp' ? a.port : 0))
    expect(ports).toHaveLength(2)
    expect(ports[0]).not.toBe(ports[1])
    for (const port of ports)
      expect(await echoOnce(await connect(port), `to ${port}`)).toBe(`to ${port}`)
  })

  it('binds [::1]:0 over IPv6', async (context) => {
    if (!(await ipv6Available())) context.skip()
    const service = new ListeningService('echo6', echoApp)
    service.addTcp('[::1]:0')
    await startServer([service])
    const [address] = service.listeningAddresses()
    expect(address).toMatchObject({ kind: 'tcp', host: '::1', family: 'IPv6' })
    const port = portOf(service)
    expect(address).toMatchObject({ address: `[::1]:${port}` })
    expect(await echoOnce(await connect(port, '::1'), 'six')).toBe('six')
  })

  it('accepts only IPv6 on [::]:0 with ipv6Only', async (context) => {
    if (!(await ipv6Available())) context.skip()
    const service = new ListeningService('v6only', echoApp)
    service.addTcpWithSettings('[::]:0', { ipv6Only: true })
    await startServer([service])
    const port = portOf(service)
    expect(await echoOnce(await connect(port, '::1'), 'v6')).toBe('v6')
    expect((await connectError(port, '127.0.0.1')).code).toBe('ECONNREFUSED')
  })

  it('fails at once with a BindError when the address is in use (no retry by default)', async () => {
    const occupant = net.createServer()
    await new Promise<void>((resolve) => occupant.listen(0, '127.0.0.1', resolve))
    onTestFinished(() => new Promise<void>((resolve) => occupant.close(() => resolve())))
    const port = (occupant.address() as net.AddressInfo).port
    const service = new ListeningService('busy', echoApp)
    service.addTcp(`127.0.0.1:${port}`)
    // With retries, this would still be waiting when the occupant is closed below.
    const error = await startServer([service]).catch((e: unknown) => e)
    expect(occupant.listening).toBe(true)
    expect(error).toMatchObject({ type: 'BindError', source: 'internal' })
    expect((error as PingoraError).message).not.toContain('\n')
    expect((error as PingoraError).cause).toMatchObject({ code: 'EADDRINUSE' })
  })

  it('reads back the bound TCP address, and throws before start', async () => {
    const service = new ListeningService('bound', echoApp)
    service.addTcp('127.0.0.1:0')
    expect(() => service.boundAddress()).toThrow(/not bound yet/)
    await startServer([service])
    const address = service.boundAddress()
    expect(address).toEqual(service.listeningAddresses()[0])
    expect(address.port).toBeGreaterThan(0)
    expect(await echoOnce(await connect(address.port), 'bound')).toBe('bound')
  })

  it('fails with a BindError when the address stays in use', async () => {
    const occupant = net.createServer()
    await new Promise<void>((resolve) => occupant.listen(0, '127.0.0.1', resolve))
    onTestFinished(() => new Promise<void>((resolve) => occupant.close(() => resolve())))
    const port = (occupant.address() as net.AddressInfo).port
    const service = new ListeningService('busy', echoApp, { bindMaxTry: 2, bindTryStepMs: 1 })
    service.addTcp(`127.0.0.1:${port}`)
    const error = await startServer([service]).catch((e: unknown) => e)
    expect(PingoraError.is(error)).toBe(true)
    expect(error).toMatchObject({ type: 'BindError', source: 'internal' })
    expect((error as PingoraError).cause).toMatchObject({ code: 'EADDRINUSE' })
  })

  it('leaves no endpoint bound when another endpoint of the service fails', async () => {
    const occupant = net.createServer()
    await new Promise<void>((resolve) => occupant.listen(0, '127.0.0.1', resolve))
    onTestFinished(() => new Promise<void>((resolve) => occupant.close(() => resolve())))
    const busyPort = (occupant.address() as net.AddressInfo).port
    const free = net.createServer()
    await new Promise<void>((resolve) => free.listen(0, '127.0.0.1', resolve))
    const freePort = (free.address() as net.AddressInfo).port
    await new Promise<void>((resolve) => free.close(() => resolve()))
    const service = new ListeningService('half', echoApp, { bindMaxTry: 1 })
    service.addTcp(`127.0.0.1:${freePort}`)
    service.addTcp(`127.0.0.1:${busyPort}`)
    await expect(startServer([service])).rejects.toMatchObject({ type: 'BindError' })
    expect((await connectError(freePort)).code).toBe('ECONNREFUSED')
  })

  it.runIf(REUSE_PORT_SUPPORTED)('lets two services share a port with reusePort', async () => {
    const first = new ListeningService('a', echoApp)
    first.addTcpWithSettings('127.0.0.1:0', { reusePort: true })
    await startServer([first])
    const port = portOf(first)
    const second = new ListeningService('b', echoApp, { bindMaxTry: 1 })
    second.addTcpWithSettings(`127.0.0.1:${port}`, { reusePort: true })
    await startServer([second])
    expect(portOf(second)).toBe(port)
  })

  it.skipIf(REUSE_PORT_SUPPORTED)(
    'rejects reusePort with a BindError on Node without it',
    async () => {
      const service = new ListeningService('a', echoApp)
      service.addTcpWithSettings('127.0.0.1:0', { reusePort: true })
      await expect(startServer([service])).rejects.toMatchObject({
        type: 'BindError',
        source: 'internal',
      })
    },
  )

  it('rejects malformed addresses and options with exact messages', () => {
    const service = new ListeningService('bad', echoApp)
    expect(() => service.addTcp('127.0.0.1')).toThrow(
      new TypeError(
        'Invalid TCP listen address "127.0.0.1": expected "host:port" or "[ipv6]:port"',
      ),
    )
    expect(() => service.addTcp('::1:80')).toThrow(TypeError)
    expect(() => service.addTcp('127.0.0.1:65536')).toThrow(TypeError)
    expect(() => service.addTcpWithSettings('127.0.0.1:0', { backlog: 0 })).toThrow(
      new RangeError('backlog must be a positive integer, got 0'),
    )
    expect(() => service.addUds('/tmp/x.sock', 0o1777)).toThrow(
      new RangeError('Unix socket mode must be an integer from 0 to 0o777, got 1023'),
    )
    expect(service.endpoints().configs).toEqual([])
  })
})

describe('Unix socket endpoints', () => {
  it('binds with mode 0o666 by default, replacing a stale file, and removes it on shutdown', async () => {
    const path = join(await tempDir(), 'echo.sock')
    await writeFile(path, 'stale')
    const service = new ListeningService('uds', echoApp)
    service.addUds(path)
    const server = await startServer([service])
    expect(service.listeningAddresses()).toEqual([{ kind: 'uds', path }])
    const info = await stat(path)
    expect(info.isSocket()).toBe(true)
    expect(info.mode & 0o777).toBe(0o666)
    expect(await echoOnce(await connect(path), 'over uds')).toBe('over uds')
    await server.shutdown()
    expect(existsSync(path)).toBe(false)
  })

  it('never leaves the path missing: binds under a temporary name, renames it in place, leaves no other file', async () => {
    const dir = await tempDir()
    const path = join(dir, 'in-place.sock')
    const fds = new ListenFds()
    const first = await bindServerAddress({ kind: 'uds', path }, { fds })
    const inode = (await stat(path)).ino
    expect(await readdir(dir)).toEqual(['in-place.sock'])
    // A second bind (a new process starting fresh) replaces the file in one step.
    const second = await bindServerAddress({ kind: 'uds', path }, { fds: new ListenFds() })
    expect((await stat(path)).ino).not.toBe(inode)
    expect(await readdir(dir)).toEqual(['in-place.sock'])
    // The first one closing leaves the second one's file alone (another inode).
    closeListener(first)
    expect(existsSync(path)).toBe(true)
    expect(await echoOnce(await connectAfterListening(second, path), 'to the second')).toBe(
      'to the second',
    )
    closeListener(second)
    expect(existsSync(path)).toBe(false)
  })

  it('keeps the file when its listeners were handed to a successor', async () => {
    const path = join(await tempDir(), 'handed.sock')
    const fds = new ListenFds()
    const server = await bindServerAddress({ kind: 'uds', path }, { fds })
    fds.handOver()
    closeListener(server)
    expect(server.listening).toBe(false)
    expect((await stat(path)).isSocket()).toBe(true)
  })

  it('applies the given mode', async () => {
    const path = join(await tempDir(), 'private.sock')
    const service = new ListeningService('uds', echoApp)
    service.addUds(path, 0o600)
    await startServer([service])
    expect((await stat(path)).mode & 0o777).toBe(0o600)
  })
})

describe('post-accept handshake', () => {
  it('runs the endpoint handshake before the app sees the stream', async () => {
    const service = new ListeningService('greeter', echoApp)
    service.addListener({
      address: { kind: 'tcp', address: '127.0.0.1:0' },
      async handshake(socket) {
        socket.write('hi ')
        return new Stream(socket)
      },
    })
    await startServer([service])
    expect(await echoOnce(await connect(portOf(service)), 'there')).toBe('hi there')
  })

  it('drops the connection when the handshake does not finish in time', async () => {
    const aborted: unknown[] = []
    const service = new ListeningService('slow-handshake', echoApp)
    service.addListener({
      address: { kind: 'tcp', address: '127.0.0.1:0' },
      handshakeTimeoutMs: 20,
      handshake: (_socket, signal) =>
        new Promise<Stream>((_resolve, reject) => {
          signal.addEventListener('abort', () => {
            aborted.push(signal.reason)
            reject(signal.reason)
          })
        }),
    })
    await startServer([service])
    const socket = await connect(portOf(service))
    await closed(socket)
    expect(aborted).toHaveLength(1)
    expect(aborted[0]).toMatchObject({ type: 'HandshakeError', source: 'downstream' })
  })
})
