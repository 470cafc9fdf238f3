/**
 * `startProxy`: a pingora-ts proxy on `127.0.0.1:0` for one test, stopped when the test
 * finishes. A separate entry (`@pingora-ts/test-utils/proxy`) so that tests of the lower
 * packages (tls, pool...) do not load core and proxy.
 *
 * ```ts
 * const proxy = await startProxy({ newCtx: () => undefined, upstreamPeer: () => peer })
 * const response = await fetch(`${proxy.url}/`)
 * ```
 *
 * @packageDocumentation
 */
import { Server, type ServerConfFields, type TlsSettings } from '@pingora-ts/core'
import {
  type HttpProxy,
  type HttpProxyOptions,
  httpProxyService,
  type ProxyHttp,
} from '@pingora-ts/proxy'
import { onTestFinished } from 'vitest'

/** A proxy started by {@link startProxy}. */
export interface StartedProxy<Ctx> {
  /** The port it listens on, on 127.0.0.1. */
  readonly port: number
  /** `http://127.0.0.1:<port>` (`https://` with TLS). */
  readonly url: string
  /** The proxy app (its connector, its phases). */
  readonly proxy: HttpProxy<Ctx>
  /** The server running it. */
  readonly server: Server
  /** The listening service (its `connectionCount` counts open client connections). */
  readonly service: ReturnType<typeof httpProxyService<Ctx>>
  /** Stops it at once (not gracefully); safe to call more than once. */
  close(): Promise<void>
}

/** Options of {@link startProxy}: the proxy's own options, and how to listen. */
export interface StartProxyOptions extends HttpProxyOptions {
  /** Listen with TLS, with these settings, instead of plain TCP. */
  readonly tls?: TlsSettings | undefined
}

/**
 * Starts a proxy service running `app` on `127.0.0.1:0`; it is stopped when the test finishes.
 * @param app - the phases
 * @param configuration - server configuration overrides (`gracePeriodSeconds` is 1 unless set)
 * @param options - proxy options, and `tls` to listen with TLS
 */
export async function startProxy<Ctx>(
  app: ProxyHttp<Ctx>,
  configuration: Partial<ServerConfFields> = {},
  options: StartProxyOptions = {},
): Promise<StartedProxy<Ctx>> {
  const { tls, ...proxyOptions } = options
  const server = new Server({ configuration: { gracePeriodSeconds: 1, ...configuration } })
  server.bootstrap()
  const service = httpProxyService(server.configuration, app, proxyOptions)
  if (tls === undefined) service.addTcp('127.0.0.1:0')
  else service.addTlsWithSettings('127.0.0.1:0', undefined, tls)
  server.addService(service)
  let closed: Promise<void> | undefined
  const close = (): Promise<void> => {
    closed ??= server.shutdown({ graceful: false })
    return closed
  }
  onTestFinished(close)
  await server.start()
  const { port } = service.boundAddress()
  return {
    port,
    url: `${tls === undefined ? 'http' : 'https'}://127.0.0.1:${port}`,
    proxy: service.appLogic,
    server,
    service,
    close,
  }
}
