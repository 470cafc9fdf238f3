import {
  type ListeningAddress,
  Server,
  type ServerConfFields,
  type Service,
} from '@pingora-ts/core'
import { onTestFinished } from 'vitest'

/** A server started for one test, with the ports of its services' first endpoints. */
export interface StartedServer {
  readonly server: Server
  /** The TCP port of each service, in the order given. */
  readonly ports: number[]
  close(): Promise<void>
}

/**
 * Starts a server with `services` (each already given a `127.0.0.1:0` endpoint); stopped
 * when the test finishes.
 * @param build - builds the services, against `server.configuration` if they need it
 * @param conf - server configuration overrides
 */
export async function startServer(
  build: (server: Server) => Array<Service & { listeningAddresses(): ListeningAddress[] }>,
  conf: Partial<ServerConfFields> = {},
): Promise<StartedServer> {
  const server = new Server({ configuration: { gracePeriodSeconds: 1, ...conf } })
  server.bootstrap()
  const services = build(server)
  for (const service of services) server.addService(service)
  await server.start()
  const ports = services.map((service) => {
    const endpoint = service.listeningAddresses()[0]
    if (endpoint === undefined || endpoint.kind !== 'tcp') throw new Error('no TCP endpoint')
    return endpoint.port
  })
  let closed: Promise<void> | undefined
  const close = () => {
    closed ??= server.shutdown({ graceful: false })
    return closed
  }
  onTestFinished(close)
  return { server, ports, close }
}
