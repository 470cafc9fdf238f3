import { ListeningService, Server, type ServerApp, type Stream } from '@pingora-ts/core'
import { PingoraError } from '@pingora-ts/error'

/**
 * A raw TCP app that writes back every chunk it reads until the client finishes sending, then
 * closes (Pingora's `examples/app/echo.rs`). `stream.writeAll` waits for the socket to drain,
 * so a client that sends faster than it reads is slowed down instead of filling memory.
 */
export class EchoApp implements ServerApp {
  /** Bytes echoed so far, over every connection. */
  bytesEchoed = 0

  async processNew(stream: Stream): Promise<Stream | undefined> {
    for (let chunk = await stream.read(); chunk !== undefined; chunk = await stream.read()) {
      this.bytesEchoed += chunk.length
      await stream.writeAll(chunk)
    }
    return undefined
  }
}

/** An echo server started by {@link startEchoServer}. */
export interface RunningEchoServer {
  /** The port it listens on. */
  readonly port: number
  /** The app (its counter). */
  readonly app: EchoApp
  /**
   * Stops it: at once (closes the listener and every connection), or with `graceful` after the
   * connections in flight finish.
   */
  close(graceful?: boolean): Promise<void>
}

/**
 * Starts the echo server.
 * @param listen - where to listen @defaultValue `'127.0.0.1:0'` (a free port)
 */
export async function startEchoServer(listen = '127.0.0.1:0'): Promise<RunningEchoServer> {
  const server = new Server()
  server.bootstrap()
  const app = new EchoApp()
  const service = new ListeningService('echo', app)
  service.addTcp(listen)
  server.addService(service)
  await server.start()
  const [address] = service.listeningAddresses()
  if (address?.kind !== 'tcp') {
    throw PingoraError.internal('BindError', 'the echo server did not bind a TCP address')
  }
  return { port: address.port, app, close: (graceful = false) => server.shutdown({ graceful }) }
}
