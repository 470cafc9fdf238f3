import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** Whether an `haproxy` binary is on the PATH (Debian package `haproxy`). */
export const hasHaproxy: boolean = (() => {
  try {
    execFileSync('haproxy', ['-v'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
})()

/** Finds a free TCP port on 127.0.0.1 (bind to 0, read it back, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer()
    probe.once('error', reject)
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo
      probe.close(() => resolve(port))
    })
  })
}

/** An `haproxy` process started by {@link startHaproxy}. */
export interface StartedHaproxy {
  /** Kills it and removes its configuration; safe to call twice (`onTestFinished(h.stop)`). */
  readonly stop: () => Promise<void>
}

/**
 * Starts `haproxy -db` with `config` (its `frontend`/`backend`/`listen` sections; a `global`
 * and a `defaults` section with timeouts are prepended) and resolves once every port in
 * `ports` accepts connections. Pick the ports with {@link freePort}. The process is killed when
 * the test process exits, should the test forget {@link StartedHaproxy.stop}.
 *
 * ```ts
 * const front = await freePort()
 * const haproxy = await startHaproxy(`frontend fe\n  bind 127.0.0.1:${front}\n ...`, [front])
 * onTestFinished(haproxy.stop)
 * ```
 * @param config - the proxy sections
 * @param ports - the ports to wait for
 */
export async function startHaproxy(
  config: string,
  ports: readonly number[],
): Promise<StartedHaproxy> {
  const dir = mkdtempSync(join(tmpdir(), 'pingora-haproxy-'))
  const file = join(dir, 'haproxy.cfg')
  writeFileSync(
    file,
    `global
  maxconn 1000
defaults
  timeout connect 5s
  timeout client 30s
  timeout server 30s
${config}
`,
  )
  const child: ChildProcess = spawn('haproxy', ['-db', '-f', file], {
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString()
  })
  const exited = new Promise<never>((_resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`haproxy exited with ${code}: ${stderr}`)))
  })
  exited.catch(() => {})
  const killOnExit = (): void => {
    child.kill('SIGKILL')
  }
  process.once('exit', killOnExit)
  const stop = async (): Promise<void> => {
    process.off('exit', killOnExit)
    if (child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGKILL')
      await gone
    }
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    for (const port of ports) await Promise.race([accepting(port), exited])
  } catch (error) {
    await stop()
    throw error
  }
  return { stop }
}

/** Resolves once 127.0.0.1:port accepts a connection (retrying while it refuses). */
function accepting(port: number): Promise<void> {
  return new Promise((resolve) => {
    const attempt = (): void => {
      const socket = net.connect(port, '127.0.0.1')
      socket.once('connect', () => {
        socket.destroy()
        resolve()
      })
      socket.once('error', () => {
        socket.destroy()
        setTimeout(attempt, 20)
      })
    }
    attempt()
  })
}
