import diagnosticsChannel from 'node:diagnostics_channel'
import net from 'node:net'
import { describe, expect, it, onTestFinished } from 'vitest'
import { HttpServer, type ServeHttp } from '../../src/apps/http-server.ts'
import type { ServerApp } from '../../src/apps/server-app.ts'
import { CHANNEL_NAMES, type ServerPhaseMessage } from '../../src/diagnostics.ts'
import { Server } from '../../src/server/server.ts'
import { type BackgroundService, backgroundService } from '../../src/services/background.ts'
import { ListeningService } from '../../src/services/listening.ts'
import {
  closed,
  connect,
  connectError,
  deferred,
  echoApp,
  portOf,
  readAll,
  readUntil,
  startServer,
} from './helpers.ts'

/** A ServeHttp whose `/slow` waits for `release`, after signalling `entered`. */
function slowApp() {
  const entered = deferred()
  const release = deferred()
  const app: ServeHttp = {
    async response(session) {
      if (session.requestHeader.uri !== '/slow') return { status: 200, body: 'fast' }
      entered.resolve()
      await release.promise
      return { status: 200, body: 'slow done' }
    },
  }
  return { app, entered, release }
}

async function slowServer(configuration: { gracePeriodSeconds?: number } = {}) {
  const slow = slowApp()
  const service = new ListeningService('slow', new HttpServer(slow.app))
  service.addTcp('127.0.0.1:0')
  const server = await startServer([service], configuration)
  return { ...slow, service, server, port: portOf(service) }
}

/** Opens a keep-alive connection that has served one request and is now idle. */
async function idleConnection(port: number): Promise<net.Socket> {
  const socket = await connect(port)
  socket.write('GET /fast HTTP/1.1\r\nHost: x\r\n\r\n')
  await readUntil(socket, 'fast')
  return socket
}

/** Sends `/slow` and resolves once the app is working on it. */
async function inFlight(port: number, entered: Promise<void>) {
  const socket = await connect(port)
  const reply = readAll(socket)
  socket.write('GET /slow HTTP/1.1\r\nHost: x\r\n\r\n')
  await entered
  return { socket, reply }
}

function recordPhases(): string[] {
  const phases: string[] = []
  const listener = (message: unknown): void => {
    phases.push((message as ServerPhaseMessage).phase)
  }
  diagnosticsChannel.subscribe(CHANNEL_NAMES.serverPhase, listener)
  onTestFinished(() => {
    diagnosticsChannel.unsubscribe(CHANNEL_NAMES.serverPhase, listener)
  })
  return phases
}

/** A raw app that never finishes with a connection; `entered` resolves once it has one. */
function stuckApp() {
  const entered = deferred()
  const app: ServerApp = {
    processNew: () => {
      entered.resolve()
      return new Promise<undefined>(() => {})
    },
  }
  return { app, entered }
}

describe('graceful shutdown', () => {
  it('refuses new connections, closes idle ones and lets in-flight requests finish', async () => {
    const { server, port, entered, release, service } = await slowServer()
    const idle = await idleConnection(port)
    const idleClosed = closed(idle)
    const busy = await inFlight(port, entered.promise)
    const done = server.shutdown({ graceful: true })
    expect((await connectError(port)).code).toBe('ECONNREFUSED')
    await idleClosed
    expect(server.phase).toBe('ShutdownGracePeriod')
    release.resolve()
    const text = await busy.reply
    expect(text).toMatch(/^HTTP\/1\.1 200/)
    expect(text).toContain('slow done')
    expect(text.toLowerCase()).toContain('connection: close')
    await done
    expect(server.phase).toBe('Terminated')
    expect(service.connectionCount).toBe(0)
  })

  it('destroys a connection still open when the grace period expires', async () => {
    const stuck = stuckApp()
    const service = new ListeningService('stuck', stuck.app)
    service.addTcp('127.0.0.1:0')
    const server = await startServer([service], { gracePeriodSeconds: 0.05 })
    const phases = recordPhases()
    const socket = await connect(portOf(service))
    await stuck.entered.promise
    const socketClosed = closed(socket)
    await server.shutdown()
    await socketClosed
    expect(phases).toEqual([
      'GracefulTerminate',
      'ShutdownStarted',
      'ShutdownGracePeriod',
      'ShutdownRuntimes',
      'Terminated',
    ])
  })

  it('ends the grace period early on a fast shutdown request', async () => {
    const stuck = stuckApp()
    const service = new ListeningService('stuck', stuck.app)
    service.addTcp('127.0.0.1:0')
    const server = await startServer([service], { gracePeriodSeconds: 300 })
    const socket = await connect(portOf(service))
    await stuck.entered.promise
    const graceful = server.shutdown()
    const fast = server.shutdown({ graceful: false })
    expect(fast).toBe(graceful)
    await fast
    await closed(socket)
    expect(server.phase).toBe('Terminated')
  })
})

describe('fast shutdown', () => {
  it('destroys in-flight requests at once', async () => {
    const { server, port, entered, service } = await slowServer()
    const phases = recordPhases()
    const busy = await inFlight(port, entered.promise)
    await server.shutdown({ graceful: false })
    expect(await busy.reply).toBe('')
    expect(service.connectionCount).toBe(0)
    expect(phases).toEqual(['ShutdownStarted', 'ShutdownRuntimes', 'Terminated'])
  })
})

describe('run', () => {
  it('resolves once a graceful shutdown has let open connections finish', async () => {
    const service = new ListeningService('echo', echoApp)
    service.addTcp('127.0.0.1:0')
    const server = new Server()
    server.addService(service)
    const running = server.run()
    await server.start()
    expect(server.phase).toBe('Running')
    const socket = await connect(portOf(service))
    const reply = readAll(socket)
    socket.write('hi ')
    await readUntil(socket, 'hi ') // the server has accepted and is serving it
    const stopping = server.shutdown()
    socket.end('bye')
    await running
    await stopping
    expect(await reply).toBe('hi bye')
    expect(server.phase).toBe('Terminated')
  })

  it('rejects start with the bind error and stops the services that did start', async () => {
    const occupant = net.createServer()
    await new Promise<void>((resolve) => occupant.listen(0, '127.0.0.1', resolve))
    onTestFinished(() => new Promise<void>((resolve) => occupant.close(() => resolve())))
    const good = new ListeningService('good', echoApp)
    good.addTcp('127.0.0.1:0')
    const bad = new ListeningService('bad', echoApp, { bindMaxTry: 1 })
    bad.addTcp(`127.0.0.1:${(occupant.address() as net.AddressInfo).port}`)
    const server = new Server()
    server.addServices([good, bad])
    await expect(server.run()).rejects.toMatchObject({ type: 'BindError' })
    expect(server.phase).toBe('Terminated')
    const [address] = good.listeningAddresses()
    expect((await connectError(address?.kind === 'tcp' ? address.port : 0)).code).toBe(
      'ECONNREFUSED',
    )
  })

  it('terminates at once when shut down before it started, and refuses to start after', async () => {
    const server = new Server()
    server.addService(new ListeningService('never', echoApp))
    await server.shutdown()
    expect(server.phase).toBe('Terminated')
    await expect(server.start()).rejects.toMatchObject({ type: 'InternalError' })
  })

  it('refuses services added after start', async () => {
    const server = await startServer([])
    expect(() => server.addService(new ListeningService('late', echoApp))).toThrow(
      expect.objectContaining({ type: 'InternalError' }),
    )
  })
})

describe('background services and dependencies', () => {
  it('starts a background service and stops it through the shutdown signal', async () => {
    const started = deferred()
    let sawAbort = false
    const task: BackgroundService = {
      async start(shutdown) {
        started.resolve()
        await new Promise((resolve) => shutdown.addEventListener('abort', resolve))
        sawAbort = true
      },
    }
    const service = backgroundService('ticker', task)
    expect(service.name).toBe('BG ticker')
    expect(service.task).toBe(task)
    const server = await startServer([service])
    await started.promise
    expect(sawAbort).toBe(false)
    await server.shutdown()
    expect(sawAbort).toBe(true)
  })

  it('starts a service only after its dependencies are ready', async () => {
    const order: string[] = []
    const gate = deferred()
    const discovery = backgroundService('discovery', {
      async start() {},
      async startWithReadyNotifier(shutdown, ready) {
        order.push('discovery')
        await gate.promise
        ready.notifyReady()
        await new Promise((resolve) => shutdown.addEventListener('abort', resolve))
      },
    })
    const proxy = backgroundService('proxy', {
      async start(shutdown) {
        order.push('proxy')
        await new Promise((resolve) => shutdown.addEventListener('abort', resolve))
      },
    })
    const server = new Server()
    onTestFinished(() => server.shutdown({ graceful: false }))
    const proxyHandle = server.addService(proxy)
    const discoveryHandle = server.addService(discovery)
    proxyHandle.addDependency(discoveryHandle)
    expect(() => discoveryHandle.addDependency(proxyHandle)).toThrow(
      new RangeError('Circular service dependency detected between BG proxy and BG discovery'),
    )
    const started = server.start()
    expect(order).toEqual(['discovery'])
    gate.resolve()
    await started
    expect(order).toEqual(['discovery', 'proxy'])
  })

  it('publishes a background service failure after ready without stopping the server', async () => {
    const errors: unknown[] = []
    const listener = (message: unknown): void => {
      errors.push(message)
    }
    diagnosticsChannel.subscribe(CHANNEL_NAMES.serverError, listener)
    onTestFinished(() => {
      diagnosticsChannel.unsubscribe(CHANNEL_NAMES.serverError, listener)
    })
    const failed = deferred()
    const flaky = backgroundService('flaky', {
      async startWithReadyNotifier(_shutdown, ready) {
        ready.notifyReady()
        await Promise.resolve()
        failed.resolve()
        throw new Error('lost connection to discovery')
      },
      async start() {},
    })
    const echo = new ListeningService('echo', echoApp)
    echo.addTcp('127.0.0.1:0')
    await startServer([flaky, echo])
    await failed.promise
    const socket = await connect(portOf(echo))
    const reply = readAll(socket)
    socket.end('alive')
    expect(await reply).toBe('alive')
    expect(errors).toHaveLength(1)
    expect(errors[0]).toMatchObject({ service: 'BG flaky', error: { type: 'InternalError' } })
  })
})
