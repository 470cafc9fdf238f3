import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import dgram from 'node:dgram'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from '@pingora-ts/test-utils'
import { pollUntil } from './poll.ts'

/** Whether Debian's `rsyslogd` is installed. */
export const hasRsyslog: boolean = (() => {
  try {
    execFileSync('rsyslogd', ['-v'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
})()

/** An rsyslog daemon started for one test. */
export interface StartedRsyslog {
  /** `syslog+udp://127.0.0.1:<port>`. */
  readonly udp: string
  /** `syslog+unix:<path>`. */
  readonly unix: string
  /**
   * The messages received, one per line: `facility|severity|hostname|app|procid|msg`.
   */
  lines(): string[]
  close(): Promise<void>
}

/**
 * Starts `rsyslogd` in the foreground on a free UDP port and a Unix stream socket (imptcp), writing
 * every message it receives to a file with the RFC 5424 fields it parsed. Resolves once both inputs
 * deliver (a probe datagram came through).
 */
export async function startRsyslog(): Promise<StartedRsyslog> {
  const dir = mkdtempSync(join(tmpdir(), 'pingora-rsyslog-'))
  const port = await freePort()
  const socket = join(dir, 'syslog.sock')
  const out = join(dir, 'out.log')
  const conf = join(dir, 'rsyslog.conf')
  writeFileSync(
    conf,
    [
      `global(workDirectory="${dir}" maxMessageSize="64k")`,
      'module(load="imudp")',
      'module(load="imptcp")',
      `input(type="imudp" address="127.0.0.1" port="${port}")`,
      `input(type="imptcp" path="${socket}")`,
      'template(name="fields" type="string" string="%syslogfacility%|%syslogseverity%|%hostname%|%app-name%|%procid%|%msg%\\n")',
      `*.* action(type="omfile" file="${out}" template="fields")`,
      '',
    ].join('\n'),
  )
  const child: ChildProcess = spawn('rsyslogd', ['-n', '-f', conf, '-i', join(dir, 'pid')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => {
    if (stderr.length < 10_000) stderr += chunk.toString()
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const lines = () => (existsSync(out) ? readFileSync(out, 'utf8').split('\n').filter(Boolean) : [])
  const close = async () => {
    if (child.exitCode === null) child.kill('SIGTERM')
    await exited
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    // Both inputs are up when the socket exists and a UDP probe arrives (resent until it does).
    const probe = dgram.createSocket('udp4')
    try {
      await pollUntil(async () => {
        if (child.exitCode !== null) throw new Error(`rsyslogd exited: ${stderr}`)
        if (!existsSync(socket)) return undefined
        if (lines().some((line) => line.endsWith('probe'))) return true
        probe.send('<14>1 - - test - - - probe', port, '127.0.0.1')
        return undefined
      })
    } finally {
      probe.close()
    }
  } catch (e) {
    await close()
    throw e
  }
  return { udp: `syslog+udp://127.0.0.1:${port}`, unix: `syslog+unix:${socket}`, lines, close }
}
