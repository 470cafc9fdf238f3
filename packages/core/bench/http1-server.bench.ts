import http from 'node:http'
import type net from 'node:net'
import { Pool } from 'undici'
import { afterAll, beforeAll, bench, describe } from 'vitest'
import { nodeServer, sessionServer } from './hello-servers.ts'

/**
 * Bursts of 32 concurrent GETs over a keep-alive pool (undici, 8 connections, no pipelining): a
 * minimal server on Http1ServerSession against node:http, both answering the same 13-byte body,
 * in the benchmark's own process. The client's cost is included on both sides. In-process
 * numbers also carry vitest's module transform; for a cleaner comparison run the servers in
 * their own processes (see the package README's benchmark notes).
 */
async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return (server.address() as net.AddressInfo).port
}

const servers: net.Server[] = []
const clients: Pool[] = []
let sessionClient: Pool
let nodeClient: Pool

beforeAll(async () => {
  const a = sessionServer()
  const b = nodeServer()
  servers.push(a, b)
  sessionClient = new Pool(`http://127.0.0.1:${await listen(a)}`, { connections: 8 })
  nodeClient = new Pool(`http://127.0.0.1:${await listen(b)}`, { connections: 8 })
  clients.push(sessionClient, nodeClient)
})

afterAll(async () => {
  for (const c of clients) await c.close()
  for (const s of servers) {
    if (s instanceof http.Server) s.closeAllConnections()
    s.close()
  }
})

async function burst(client: Pool): Promise<void> {
  const pending: Array<Promise<void>> = []
  for (let i = 0; i < 32; i++) {
    pending.push(client.request({ path: '/bench', method: 'GET' }).then((r) => r.body.dump()))
  }
  await Promise.all(pending)
}

describe('HTTP/1 server: bursts of 32 GETs over 8 keep-alive connections', () => {
  bench('pingora-ts Http1ServerSession', async () => {
    await burst(sessionClient)
  })
  bench('node:http server', async () => {
    await burst(nodeClient)
  })
})
