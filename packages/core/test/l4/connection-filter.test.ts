import diagnosticsChannel from 'node:diagnostics_channel'
import type net from 'node:net'
import { describe, expect, it, onTestFinished } from 'vitest'
import { CHANNEL_NAMES, type ConnectionRejectedMessage } from '../../src/diagnostics.ts'
import { IpConnectionFilter } from '../../src/listeners/connection-filter.ts'
import { NetworkList } from '../../src/listeners/network-list.ts'
import type { SocketAddress } from '../../src/protocols/digest.ts'
import { ListeningService } from '../../src/services/listening.ts'
import {
  closed,
  connect,
  deferred,
  echoApp,
  ipv6Available,
  portOf,
  readAll,
  startServer,
} from '../server/helpers.ts'

function collectRejections(): ConnectionRejectedMessage[] {
  const seen: ConnectionRejectedMessage[] = []
  const listener = (message: unknown): void => {
    seen.push(message as ConnectionRejectedMessage)
  }
  diagnosticsChannel.subscribe(CHANNEL_NAMES.connectionRejected, listener)
  onTestFinished(() => {
    diagnosticsChannel.unsubscribe(CHANNEL_NAMES.connectionRejected, listener)
  })
  return seen
}

async function echoOnce(socket: net.Socket, text: string): Promise<string> {
  const reply = readAll(socket)
  socket.end(text)
  return reply
}

/** Resolves with what the server sent before closing, and whether the client saw an error. */
async function refused(socket: net.Socket): Promise<string> {
  const text = readAll(socket)
  socket.write('ignored')
  return text
}

describe('NetworkList', () => {
  it('matches IPv4 and IPv6 CIDRs, single addresses and IPv4-mapped IPv6 addresses', () => {
    const list = new NetworkList(['10.0.0.0/8', '192.168.1.7', 'fd00::/8', '::1'])
    expect(list.contains('10.200.3.4')).toBe(true)
    expect(list.contains('11.0.0.1')).toBe(false)
    expect(list.contains('192.168.1.7')).toBe(true)
    expect(list.contains('192.168.1.8')).toBe(false)
    expect(list.contains('fd12:3456::1')).toBe(true)
    expect(list.contains('fe80::1')).toBe(false)
    expect(list.contains('::1')).toBe(true)
    expect(list.contains('::ffff:10.1.2.3')).toBe(true)
    expect(list.contains('::ffff:11.1.2.3')).toBe(false)
    expect(list.contains('/run/app.sock')).toBe(false)
    expect(list.contains(undefined)).toBe(false)
  })

  it('rejects malformed networks with exact messages', () => {
    expect(() => new NetworkList(['10.0.0.0/33'])).toThrow(
      new RangeError('invalid prefix length in "10.0.0.0/33": expected 0 to 32'),
    )
    expect(() => new NetworkList(['::/129'])).toThrow(
      new RangeError('invalid prefix length in "::/129": expected 0 to 128'),
    )
    expect(() => new NetworkList(['example.com/8'])).toThrow(
      new TypeError('invalid network "example.com/8": expected an IP address or CIDR'),
    )
    expect(() => new NetworkList(['10.0.0.0/-1'])).toThrow(RangeError)
  })
})

describe('IpConnectionFilter', () => {
  const at = (address: string): SocketAddress => ({
    address,
    port: 1234,
    family: address.includes(':') ? 'IPv6' : 'IPv4',
  })

  it('applies deny before allow, then the callback', () => {
    const filter = new IpConnectionFilter({
      allow: ['10.0.0.0/8', '2001:db8::/32'],
      deny: ['10.9.0.0/16'],
      accept: (address) => address?.address !== '10.1.1.1',
    })
    expect(filter.shouldAccept(at('10.2.3.4'))).toBe(true)
    expect(filter.shouldAccept(at('10.9.3.4'))).toBe(false)
    expect(filter.shouldAccept(at('172.16.0.1'))).toBe(false)
    expect(filter.shouldAccept(at('10.1.1.1'))).toBe(false)
    expect(filter.shouldAccept(at('2001:db8::5'))).toBe(true)
    expect(filter.shouldAccept(at('2001:db9::5'))).toBe(false)
  })

  it('counts open connections per IP and frees a slot when one closes', () => {
    const filter = new IpConnectionFilter({ maxConnectionsPerIp: 2 })
    expect(filter.shouldAccept(at('10.0.0.1'))).toBe(true)
    expect(filter.shouldAccept(at('10.0.0.1'))).toBe(true)
    expect(filter.shouldAccept(at('10.0.0.1'))).toBe(false)
    expect(filter.shouldAccept(at('10.0.0.2'))).toBe(true)
    expect(filter.openConnections('10.0.0.1')).toBe(2)
    filter.connectionClosed(at('10.0.0.1'))
    expect(filter.shouldAccept(at('10.0.0.1'))).toBe(true)
    filter.connectionClosed(at('10.0.0.2'))
    expect(filter.openConnections('10.0.0.2')).toBe(0)
  })

  it('validates maxConnectionsPerIp', () => {
    expect(() => new IpConnectionFilter({ maxConnectionsPerIp: 0 })).toThrow(
      new RangeError('maxConnectionsPerIp must be an integer >= 1, got 0'),
    )
  })
})

describe('connection filters on a listening service', () => {
  it('closes a denied connection without reading from it and counts it', async () => {
    const seen = collectRejections()
    let served = 0
    const service = new ListeningService('filtered', {
      async processNew(stream) {
        served++
        return echoApp.processNew(stream, new AbortController().signal)
      },
    })
    service.setConnectionFilter(new IpConnectionFilter({ deny: ['127.0.0.0/8'] }))
    service.addTcp('127.0.0.1:0')
    await startServer([service])
    const socket = await connect(portOf(service))
    expect(await refused(socket)).toBe('')
    expect(served).toBe(0)
    expect(service.rejectedConnectionCount).toBe(1)
    expect(seen).toEqual([
      expect.objectContaining({ reason: 'filter', service: 'filtered', error: undefined }),
    ])
    expect(seen[0]?.peer).toMatch(/^127\.0\.0\.1:\d+$/)
  })

  it('serves an allowed connection', async () => {
    const service = new ListeningService('allowed', echoApp)
    service.setConnectionFilter(new IpConnectionFilter({ allow: ['127.0.0.1/32'] }))
    service.addTcp('127.0.0.1:0')
    await startServer([service])
    expect(await echoOnce(await connect(portOf(service)), 'hi')).toBe('hi')
    expect(service.rejectedConnectionCount).toBe(0)
  })

  it('limits connections per client IP and frees the slot when a connection closes', async () => {
    const filter = new ObservedFilter({ maxConnectionsPerIp: 2 })
    const service = new ListeningService('limited', echoApp)
    service.setConnectionFilter(filter)
    service.addTcp('127.0.0.1:0')
    await startServer([service])
    const port = portOf(service)
    const first = await connect(port)
    const second = await connect(port)
    // Both are served (an echo proves the app has them).
    const firstEcho = readUntilText(first, 'one')
    first.write('one')
    await firstEcho
    const secondEcho = readUntilText(second, 'two')
    second.write('two')
    await secondEcho
    expect(filter.openConnections('127.0.0.1')).toBe(2)
    const third = await connect(port)
    expect(await refused(third)).toBe('')
    expect(service.rejectedConnectionCount).toBe(1)
    const gone = new Promise<void>((resolve) => {
      filter.onClosed = resolve
    })
    first.end()
    await closed(first)
    await gone
    expect(filter.openConnections('127.0.0.1')).toBe(1)
    expect(await echoOnce(await connect(port), 'four')).toBe('four')
  })

  it('waits for an asynchronous verdict and serves or refuses by it', async () => {
    const verdicts = [deferred<boolean>(), deferred<boolean>()]
    let calls = 0
    const service = new ListeningService('async', echoApp)
    service.setConnectionFilter({
      shouldAccept: () => (verdicts[calls++] as { promise: Promise<boolean> }).promise,
    })
    service.addTcp('127.0.0.1:0')
    await startServer([service])
    const port = portOf(service)
    const accepted = await connect(port)
    const reply = echoOnce(accepted, 'early bytes wait for the verdict')
    verdicts[0]?.resolve(true)
    expect(await reply).toBe('early bytes wait for the verdict')
    const denied = await connect(port)
    const text = refused(denied)
    verdicts[1]?.resolve(false)
    expect(await text).toBe('')
    expect(service.rejectedConnectionCount).toBe(1)
  })

  it('refuses when the filter throws', async () => {
    const service = new ListeningService('throwing', echoApp)
    service.setConnectionFilter({
      shouldAccept: () => {
        throw new Error('boom')
      },
    })
    service.addTcp('127.0.0.1:0')
    await startServer([service])
    expect(await refused(await connect(portOf(service)))).toBe('')
    expect(service.rejectedConnectionCount).toBe(1)
  })

  it('filters IPv6 clients by CIDR', async () => {
    if (!(await ipv6Available())) return
    const seen = collectRejections()
    const service = new ListeningService('v6', echoApp)
    service.setConnectionFilter(new IpConnectionFilter({ deny: ['::1/128'] }))
    service.addTcp('[::1]:0')
    service.addTcp('127.0.0.1:0')
    await startServer([service])
    const [v6, v4] = service.listeningAddresses() as Array<{ port: number }>
    expect(await refused(await connect(v6?.port ?? 0, '::1'))).toBe('')
    expect(await echoOnce(await connect(v4?.port ?? 0), 'v4 ok')).toBe('v4 ok')
    expect(seen.map((message) => message.peer?.startsWith('[::1]:'))).toEqual([true])
  })
})

function readUntilText(socket: net.Socket, text: string): Promise<void> {
  return new Promise((resolve) => {
    let received = ''
    const onData = (chunk: Buffer): void => {
      received += chunk.toString('latin1')
      if (received.includes(text)) {
        socket.off('data', onData)
        resolve()
      }
    }
    socket.on('data', onData)
  })
}

/** An IpConnectionFilter that reports each `connectionClosed` call. */
class ObservedFilter extends IpConnectionFilter {
  onClosed: () => void = () => {}
  override connectionClosed(address: SocketAddress | undefined): void {
    super.connectionClosed(address)
    this.onClosed()
  }
}
