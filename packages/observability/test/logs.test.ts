import { mkdtempSync, readFileSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { HttpPeer, ServerConf } from '@pingora-ts/core'
import { LoadBalancer, RoundRobin, TcpHealthCheck } from '@pingora-ts/load-balancing'
import { freePort } from '@pingora-ts/test-utils'
import { startProxy } from '@pingora-ts/test-utils/proxy'
import pino from 'pino'
import { request } from 'undici'
import { afterAll, beforeAll, describe, expect, onTestFinished, test } from 'vitest'
import { createLogDestination, ProxyLogs } from '../src/index.ts'
import { pollUntil } from './poll.ts'
import { hasRsyslog, type StartedRsyslog, startRsyslog } from './rsyslog.ts'

function tempFile(name: string): string {
  return join(mkdtempSync(join(tmpdir(), 'pingora-logs-')), name)
}

function readJsonLines(path: string): Array<Record<string, unknown>> {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>)
}

describe('ProxyLogs error log', () => {
  test('a failed request: type, source, retry decision and cause chain, as JSON in the file', async () => {
    const errorLog = tempFile('error.log')
    const logs = new ProxyLogs({ errorLog }).enable()
    onTestFinished(() => logs.close())
    const closedPort = await freePort()
    const proxy = await startProxy({
      newCtx: () => undefined,
      upstreamPeer: () => new HttpPeer(`127.0.0.1:${closedPort}`, false, ''),
    })
    const response = await request(`${proxy.url}/missing?x=1`, { headers: { host: 'example' } })
    expect(response.statusCode).toBe(502)
    await response.body.dump()
    await logs.close()
    const lines = readJsonLines(errorLog)
    expect(lines).toHaveLength(1)
    const line = lines[0] as Record<string, unknown>
    expect(line).toMatchObject({
      level: 50,
      log: 'error',
      msg: 'Fail to proxy',
      error_type: 'ConnectRefused',
      error_source: 'upstream',
      summary: 'GET /missing?x=1, Host: example',
      status: 502,
      upstream: `127.0.0.1:${closedPort}`,
    })
    expect(typeof line.retry).toBe('boolean')
    expect(line.causes).toEqual(expect.arrayContaining([expect.stringContaining('ECONNREFUSED')]))
    expect(typeof line.time).toBe('string')
  })

  test('health flips are logged: warn when a backend goes down', async () => {
    const errorLog = tempFile('error.log')
    const logs = new ProxyLogs({ errorLog, level: 'warn' }).enable()
    onTestFinished(() => logs.close())
    const down = `127.0.0.1:${await freePort()}`
    const lb = LoadBalancer.tryFromIter(RoundRobin, [down], { healthCheck: new TcpHealthCheck() })
    await lb.runHealthCheck()
    await logs.close()
    const lines = readJsonLines(errorLog)
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatchObject({ level: 40, msg: 'Backend unhealthy', backend: down })
  })

  test('an unknown level is refused', () => {
    expect(() => new ProxyLogs({ level: 'loud' as 'info' })).toThrow(RangeError)
  })
})

describe('log destinations never block: bounded buffer, counted drops', () => {
  test('a file destination drops what does not fit its buffer while a write is pending', async () => {
    const path = tempFile('slow.log')
    const destination = createLogDestination(path, { maxBufferBytes: 256 })
    const logger = pino({ base: undefined, timestamp: false }, destination)
    // All written in one tick: the first write is in flight, the buffer takes what fits.
    for (let i = 0; i < 200; i++) logger.info({ i }, 'a line of about fifty bytes....')
    await destination.close()
    const written = readFileSync(path, 'utf8').split('\n').filter(Boolean).length
    expect(destination.dropped).toBeGreaterThan(0)
    expect(written + destination.dropped).toBe(200)
  })

  test('a syslog collector that does not read: the socket buffer stays bounded, drops counted', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'pingora-sock-')), 's.sock')
    const accepted: net.Socket[] = []
    const server = net.createServer((socket) => {
      socket.pause()
      accepted.push(socket)
    })
    await new Promise<void>((resolve) => server.listen(path, resolve))
    onTestFinished(() => {
      for (const socket of accepted) socket.destroy()
      return new Promise<void>((resolve) => server.close(() => resolve()))
    })
    const destination = createLogDestination(`syslog+unix:${path}`, { maxBufferBytes: 64 * 1024 })
    const logger = pino({ base: undefined }, destination)
    const big = 'x'.repeat(1000)
    for (let i = 0; i < 2000; i++) logger.info({ i, big })
    expect(destination.dropped).toBeGreaterThan(0)
    // At most the bound is queued in the process (the kernel holds what it accepted).
    expect(destination.dropped).toBeGreaterThanOrEqual(2000 - 64 - 1)
  })

  test('invalid syslog addresses are refused', () => {
    expect(() => createLogDestination('syslog+udp://nohost')).toThrow(TypeError)
    expect(() => createLogDestination('syslog+unix:')).toThrow(TypeError)
  })
})

describe.runIf(hasRsyslog)('syslog (RFC 5424) to Debian rsyslog', () => {
  let rsyslog: StartedRsyslog
  beforeAll(async () => {
    rsyslog = await startRsyslog()
  })
  afterAll(() => rsyslog?.close())

  for (const transport of ['udp', 'unix'] as const) {
    test(`over ${transport}: facility, severity, app name, pid and the JSON line arrive`, async () => {
      const destination = createLogDestination(rsyslog[transport], { appName: 'pingora-test' })
      const logger = pino({ base: undefined }, destination)
      const marker = `m-${transport}-${Date.now()}`
      logger.error({ marker }, 'boom')
      logger.info({ marker }, 'fine')
      const lines = await pollUntil(() => {
        const found = rsyslog.lines().filter((line) => line.includes(marker))
        return found.length === 2 ? found : undefined
      })
      await destination.close()
      const fields = lines.map((line) => line.split('|'))
      // local0 = 16; error → 3, info → 6.
      expect(fields.map((f) => f.slice(0, 2))).toEqual([
        ['16', '3'],
        ['16', '6'],
      ])
      expect(fields[0]?.[3]).toBe('pingora-test')
      expect(fields[0]?.[4]).toBe(String(process.pid))
      const message = JSON.parse(fields[0]?.slice(5).join('|') ?? '') as Record<string, unknown>
      expect(message).toMatchObject({ level: 50, msg: 'boom', marker })
      expect(destination.dropped).toBe(0)
    })
  }
})

describe('ProxyLogs.fromServerConf', () => {
  test('takes error_log and log_level from the YAML', async () => {
    const errorLog = tempFile('error.log')
    const conf = ServerConf.fromYaml(`error_log: ${errorLog}\nlog_level: error\n`).server
    const logs = ProxyLogs.fromServerConf(conf).enable()
    expect(logs.access).toBeUndefined()
    expect(logs.error.level).toBe('error')
    logs.error.warn('below the level')
    logs.error.error('at the level')
    await logs.close()
    expect(readJsonLines(errorLog).map((line) => line.msg)).toEqual(['at the level'])
  })
})
