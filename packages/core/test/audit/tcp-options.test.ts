import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { ListeningService } from '../../src/services/listening.ts'
import { connect, echoApp, portOf, readUntil, startServer } from '../server/helpers.ts'

/**
 * Issue 3, "socket options: ... keepalive": the option reaches the accepted sockets. Checked
 * with `ss` (iproute2), which shows the kernel's keepalive timer of a socket; skipped without it.
 */

const run = promisify(execFile)

async function hasSs(): Promise<boolean> {
  try {
    await run('ss', ['-V'])
    return true
  } catch {
    return false
  }
}
const ssAvailable = process.platform === 'linux' && (await hasSs())

/** The `ss` line of the server side of the established connection on `port`. */
async function serverSocketLine(port: number): Promise<string> {
  const { stdout } = await run('ss', ['-tnoH', 'state', 'established', `( sport = :${port} )`])
  const lines = stdout.split('\n').filter((line) => line.trim() !== '')
  expect(lines).toHaveLength(1)
  return lines[0] as string
}

/** Opens a connection and waits for the echo app to answer, so the socket is accepted. */
async function establish(port: number): Promise<void> {
  const socket = await connect(port)
  const echoed = readUntil(socket, 'ping')
  socket.write('ping')
  expect(await echoed).toBe('ping')
}

describe.skipIf(!ssAvailable)('TCP socket options on accepted connections', () => {
  it('arms the kernel keepalive timer with the configured idle time', async () => {
    const service = new ListeningService('keepalive', echoApp)
    service.addTcpWithSettings('127.0.0.1:0', { tcpKeepalive: { idleMs: 30_000 } })
    await startServer([service])
    const port = portOf(service)
    await establish(port)
    const line = await serverSocketLine(port)
    const match = /timer:\(keepalive,(?:(\d+)min)?(\d+(?:\.\d+)?)(ms|sec)/.exec(line)
    expect(match, line).not.toBeNull()
    const [, minutes = '0', amount = '0', unit] = match as RegExpExecArray
    const seconds = Number(minutes) * 60 + Number(amount) / (unit === 'ms' ? 1000 : 1)
    expect(seconds).toBeGreaterThan(10)
    expect(seconds).toBeLessThanOrEqual(30)
  })

  it('leaves keepalive off without the option', async () => {
    const service = new ListeningService('plain', echoApp)
    service.addTcp('127.0.0.1:0')
    await startServer([service])
    const port = portOf(service)
    await establish(port)
    expect(await serverSocketLine(port)).not.toContain('keepalive')
  })
})
