import dgram from 'node:dgram'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type RunningUdpProxy, startUdpProxy } from '../src/udp-proxy.ts'
import {
  addressFor,
  decodeMessage,
  encodeQuery,
  startDnsServer,
  type TestDnsServer,
} from './dns-server.ts'

const CLIENTS = 100
const QUERIES_PER_CLIENT = 100
/** Queries a client keeps in flight: enough to load the proxy, few enough for loopback buffers. */
const WINDOW = 8
/** A query unanswered for this long is sent again (loopback UDP may drop under load). */
const RETRANSMIT_AFTER_MS = 400

interface Client {
  readonly index: number
  readonly socket: dgram.Socket
  readonly sentAt: Map<number, number>
  readonly answered: Set<number>
  next: number
}

describe('udp-proxy under load', () => {
  let dns: TestDnsServer
  let proxy: RunningUdpProxy

  beforeAll(async () => {
    dns = await startDnsServer()
    proxy = await startUdpProxy({ upstreams: [dns.address] })
  })
  afterAll(async () => {
    await proxy?.close()
    await dns?.close()
  })

  it('routes 10,000 answers from 100 clients back to the client that asked, none misrouted', async () => {
    const port = proxy.ports[0] as number
    let misrouted = 0
    let wrongAnswers = 0
    let retransmits = 0
    let done = 0
    const clients: Client[] = []
    let finish: () => void = () => {}
    const finished = new Promise<void>((resolve) => {
      finish = resolve
    })
    const send = (client: Client, query: number): void => {
      client.sentAt.set(query, Date.now())
      client.socket.send(encodeQuery(query, `c${client.index}-q${query}.test`), port, '127.0.0.1')
    }
    const fill = (client: Client): void => {
      while (client.sentAt.size < WINDOW && client.next < QUERIES_PER_CLIENT)
        send(client, client.next++)
    }
    for (let index = 0; index < CLIENTS; index++) {
      const socket = dgram.createSocket('udp4')
      const client: Client = { index, socket, sentAt: new Map(), answered: new Set(), next: 0 }
      socket.on('message', (message) => {
        const answer = decodeMessage(message)
        // A misroute: an answer to another client's question (names carry the client index).
        if (answer === undefined || !answer.name.startsWith(`c${index}-`)) {
          misrouted++
          return
        }
        const query = Number(answer.name.slice(answer.name.indexOf('-q') + 2, -'.test'.length))
        if (answer.id !== query || answer.answer !== addressFor(answer.name)) wrongAnswers++
        // Duplicates (answers to a retransmitted query) are counted once.
        if (client.answered.has(query)) return
        client.answered.add(query)
        client.sentAt.delete(query)
        done++
        if (done === CLIENTS * QUERIES_PER_CLIENT) finish()
        else fill(client)
      })
      await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve))
      clients.push(client)
    }
    const retransmitter = setInterval(() => {
      const now = Date.now()
      for (const client of clients) {
        for (const [query, at] of client.sentAt) {
          if (now - at >= RETRANSMIT_AFTER_MS) {
            retransmits++
            send(client, query)
          }
        }
      }
    }, RETRANSMIT_AFTER_MS / 2)
    try {
      for (const client of clients) fill(client)
      await finished
    } finally {
      clearInterval(retransmitter)
      for (const client of clients) client.socket.close()
    }
    expect(misrouted).toBe(0)
    expect(wrongAnswers).toBe(0)
    expect(done).toBe(CLIENTS * QUERIES_PER_CLIENT)
    // One session (one upstream socket) per client address, all still open.
    expect(proxy.app.stats()).toMatchObject({ sessions: CLIENTS, sessionsOpened: CLIENTS })
    // Drops are retried, not hidden: bounded well below the number of queries.
    expect(retransmits).toBeLessThan(CLIENTS * QUERIES_PER_CLIENT)
  }, 120_000)
})
