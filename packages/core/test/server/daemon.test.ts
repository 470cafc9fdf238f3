import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdtempSync, readFileSync, realpathSync, watch } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it, onTestFinished } from 'vitest'
import { connect, readAll } from './helpers.ts'

const FIXTURE = fileURLToPath(new URL('./fixtures/daemon-server.ts', import.meta.url))
const NODE_ARGS = ['--conditions=@pingora-ts/source', '--import', 'tsx']

async function get(path: string): Promise<string> {
  const socket = await connect(path)
  const reply = readAll(socket)
  socket.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
  return reply
}

/** Resolves once `check()` holds, re-checking on every change in `dir` (no polling). */
function whenChanged(dir: string, check: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const watcher = watch(dir, () => {
      if (check()) {
        watcher.close()
        resolve()
      }
    })
    if (check()) {
      watcher.close()
      resolve()
    }
  })
}

function pidIn(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim())
    return pid > 0 ? pid : undefined
  } catch {
    return undefined
  }
}

describe('daemon mode (runForever)', { timeout: 300_000 }, () => {
  it('returns once the daemon listens, writes the pid file, moves it on an upgrade, removes it on exit', async () => {
    const dir = realpathSync(mkdtempSync(join(tmpdir(), 'pingora-daemon-')))
    const pidFile = join(dir, 'server.pid')
    const launcher = spawn(process.execPath, [...NODE_ARGS, FIXTURE, dir, 'wait'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    launcher.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString()
    })
    launcher.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString()
    })
    const [code] = await once(launcher, 'exit')
    expect(code, output).toBe(0)
    // daemon_wait_for_ready: by now the daemon accepts and its pid file is written.
    const daemon = pidIn(pidFile) as number
    onTestFinished(() => {
      for (const pid of [daemon, pidIn(pidFile)]) {
        try {
          if (pid !== undefined) process.kill(pid, 'SIGKILL')
        } catch {
          // Gone.
        }
      }
    })
    expect(daemon).toBeGreaterThan(0)
    expect(daemon).not.toBe(launcher.pid)
    expect(output).toBe('')
    const socketPath = join(dir, 'http.sock')
    expect(await get(socketPath)).toMatch(new RegExp(`served by ${daemon} in ${dir}$`))

    // Requests one after the other, a new connection each, across the upgrade: the socket file
    // never disappears, so none is refused.
    let stop = false
    let failures = 0
    const servedBy = new Set<number>()
    let sawSuccessor = (): void => {}
    const successorServedTheLoop = new Promise<void>((resolve) => {
      sawSuccessor = resolve
    })
    const load = (async () => {
      while (!stop) {
        const answer = await get(socketPath).catch((error: Error) => error.message)
        const pid = Number(/served by (\d+)/.exec(answer)?.[1])
        if (pid > 0) servedBy.add(pid)
        else failures++
        if (pid > 0 && pid !== daemon) sawSuccessor()
      }
    })()

    // An upgrade: the new daemon takes the Unix socket over and the pid file with it.
    process.kill(daemon, 'SIGHUP')
    await whenChanged(dir, () => {
      const pid = pidIn(pidFile)
      return pid !== undefined && pid !== daemon
    })
    const successor = pidIn(pidFile) as number
    const answer = await get(socketPath)
    expect(answer).toMatch(/served by \d+/)
    // The old daemon answers only until it heard "ready"; from then on the new one does.
    await whenChanged(dir, () =>
      readFileSync(join(dir, 'error.log'), 'utf8').includes(`daemon ${successor} listening`),
    )
    expect(await get(socketPath)).toMatch(new RegExp(`served by ${successor} in ${dir}$`))
    // Until the old daemon has closed its listener (it did before this phase starts).
    await whenChanged(dir, () =>
      readFileSync(join(dir, 'phases.log'), 'utf8').includes(`phase ShutdownStarted ${daemon}`),
    )
    expect(await get(socketPath)).toMatch(new RegExp(`served by ${successor} in ${dir}$`))
    await successorServedTheLoop
    stop = true
    await load
    expect(failures).toBe(0)
    expect(servedBy).toEqual(new Set([daemon, successor]))

    process.kill(successor, 'SIGTERM')
    await whenChanged(dir, () => !existsSync(pidFile))
    // A shutdown that is not an upgrade removes the socket file (the successor inherited it).
    await whenChanged(dir, () => !existsSync(socketPath))
    expect(readFileSync(join(dir, 'error.log'), 'utf8')).toContain(`daemon ${daemon} listening`)
  })
})
