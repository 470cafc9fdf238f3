import net from 'node:net'
import { listen, type StartedServer } from './origin.ts'

/**
 * Starts a plain TCP server on `127.0.0.1:0`; `url` is `tcp://127.0.0.1:<port>`.
 * @param onConnection - called with each accepted socket
 */
export async function startRawServer(
  onConnection: (socket: net.Socket) => void,
): Promise<StartedServer & { readonly server: net.Server }> {
  const server = net.createServer(onConnection)
  const started = await listen(server, 'tcp')
  return { ...started, server }
}
