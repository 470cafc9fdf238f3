import dgram from 'node:dgram'
import net from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type RunningUdpProxy, startUdpProxy } from '../src/udp-proxy.ts'
import { decodeMessage, encodeQuery, startDnsServer, type TestDnsServer } from './dns-server.ts'

function ipv6Available(): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createServer()
    probe.once('error', () => resolve(false))
    probe.listen({ host: '::1', port: 0 }, () => probe.close(() => resolve(true)))
  })
}

/** Sends one A query to the proxy and resolves the decoded answer. */
function query(
  port: number,
  host: string,
  name: string,
): Promise<ReturnType<typeof decodeMessage>> {
  const socket = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4')
  return new Promise((resolve, reject) => {
    socket.once('error', reject)
    socket.once('message', (message) => {
      socket.close()
      resolve(decodeMessage(message))
    })
    socket.send(encodeQuery(0x1234, name), port, host)
  })
}

describe('udp-proxy example', () => {
  let dns: TestDnsServer
  let proxy: RunningUdpProxy
  let hasV6 = false
  const lines: string[] = []

  beforeAll(async () => {
    hasV6 = await ipv6Available()
    dns = await startDnsServer()
    proxy = await startUdpProxy({
      upstreams: [dns.address],
      listen: hasV6 ? ['127.0.0.1:0', '[::1]:0'] : ['127.0.0.1:0'],
      onLog: (line) => lines.push(line),
    })
  })
  afterAll(async () => {
    await proxy?.close()
    await dns?.close()
  })

  it('relays a DNS query and its answer', async () => {
    const answer = await query(proxy.ports[0] as number, '127.0.0.1', 'c7-q258.test')
    expect(answer).toMatchObject({
      id: 0x1234,
      isResponse: true,
      name: 'c7-q258.test',
      answer: '10.7.1.2',
    })
    expect(dns.answered()).toBe(1)
  })

  it('serves IPv6 clients too', async () => {
    if (!hasV6) return
    const answer = await query(proxy.ports[1] as number, '::1', 'ipv6-client.test')
    expect(answer).toMatchObject({ name: 'ipv6-client.test', answer: '192.0.2.1' })
  })

  it('logs each session when the proxy stops', async () => {
    await proxy.close()
    expect(lines.length).toBeGreaterThanOrEqual(1)
    expect(lines[0]).toMatch(/^127\.0\.0\.1:\d+ -> addr: 127\.0\.0\.1:\d+ in=1 out=1 dropped=0$/)
  })
})
