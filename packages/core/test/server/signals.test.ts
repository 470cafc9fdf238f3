import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, readFileSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it, onTestFinished } from 'vitest'
import { connect, readAll } from './helpers.ts'

const FIXTURE = fileURLToPath(new URL('./fixtures/signal-server.ts', import.meta.url))
const BIND_FAIL_FIXTURE = fileURLToPath(new URL('./fixtures/bind-fail-server.ts', import.meta.url))
const NODE_ARGS = ['--conditions=@pingora-ts/source', '--import', 'tsx']

interface Child {
  child: ChildProcess
  port: number
  /** Resolves with the `nth` line starting with `line` that the processes on the pipe printed. */
  printed(line: string, nth?: number): Promise<string>
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  /** Resolves when every process holding the stdout pipe (the child and its successors) ended. */
  ended: Promise<void>
}

async function startChild(threads = 1, env: Record<string, string> = {}): Promise<Child> {
  const child = spawn(process.execPath, [...NODE_ARGS, FIXTURE], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, THREADS: String(threads), ...env },
  })
  const pids = new Set<number>()
  onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {
        // Already gone.
      }
    }
  })
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }))
  })
  const ended = new Promise<void>((resolve) => child.stdout?.once('end', resolve))
  let stdout = ''
  let stderr = ''
  const waiters: Array<() => void> = []
  child.stdout?.setEncoding('utf8')
  child.stderr?.setEncoding('utf8')
  child.stderr?.on('data', (chunk: string) => {
    stderr += chunk
  })
  child.stdout?.on('data', (chunk: string) => {
    stdout += chunk
    for (const match of chunk.matchAll(/"pid":(\d+)/g)) pids.add(Number(match[1]))
    for (const waiter of waiters.splice(0)) waiter()
  })
  const printed = (line: string, nth = 1): Promise<string> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const found = stdout.split('\n').filter((l) => l.startsWith(line))[nth - 1]
        if (found !== undefined) resolve(found)
        else waiters.push(check)
      }
      void ended.then(() => reject(new Error(`no process printed ${line}: ${stderr}`)))
      check()
    })
  const portLine = await printed('{"port"')
  return { child, port: (JSON.parse(portLine) as { port: number }).port, printed, exit, ended }
}

/** One request on a new connection; with `timeoutMs`, a silent connection ends in `timeout`. */
function get(port: number | string, path: string, timeoutMs?: number): Promise<string> {
  return connect(port).then((socket) => {
    if (timeoutMs !== undefined) {
      socket.setTimeout(timeoutMs, () => socket.destroy(new Error('timeout')))
    }
    const reply = readAll(socket).then((text) =>
      socket.errored !== null ? `${socket.errored.message}: ${text}` : text,
    )
    socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)
    return reply
  })
}

// Each test starts one to three Node processes with tsx: slow on a loaded machine.
describe('process signals (runForever)', { timeout: 300_000 }, () => {
  it('SIGTERM: a 5 s upload and a 5 s download complete, new connections are refused once the listener closed', async () => {
    const { child, port, printed, exit } = await startChild()
    const upload = await connect(port)
    const uploadReply = readAll(upload)
    upload.write('POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 20480\r\n\r\n')
    const download = await connect(port)
    const downloadReply = readAll(download)
    download.write('GET /download HTTP/1.1\r\nHost: x\r\n\r\n')
    await Promise.all([printed('upload started'), printed('download started')])
    // Accepting until the signal.
    expect(await get(port, '/')).toMatch(/^HTTP\/1\.1 200[\s\S]*fast \d+$/)
    process.kill(child.pid as number, 'SIGTERM')
    await printed('phase ShutdownStarted')
    // The listener closed in the abort that starts the shutdown: refused from now on.
    await expect(connect(port)).rejects.toMatchObject({ code: 'ECONNREFUSED' })
    // The upload goes on for 5 s after the signal: 20 chunks of 1 KiB, one every 250 ms.
    for (let i = 0; i < 20; i++) {
      await new Promise((resolve) => setTimeout(resolve, 250))
      upload.write(Buffer.alloc(1024, 98))
    }
    const uploaded = await uploadReply
    expect(uploaded).toMatch(/^HTTP\/1\.1 200/)
    expect(uploaded.toLowerCase()).toContain('connection: close')
    expect(uploaded.endsWith('received 20480')).toBe(true)
    const downloaded = await downloadReply
    expect(downloaded).toMatch(/^HTTP\/1\.1 200/)
    expect(downloaded.endsWith('a'.repeat(20 * 1024))).toBe(true)
    expect(await exit).toEqual({ code: 0, signal: null })
  })

  it('SIGINT shuts down fast: the in-flight request is cut, exit code 0', async () => {
    const { child, port, printed, exit } = await startChild()
    const socket = await connect(port)
    const reply = readAll(socket)
    socket.write('GET /slow HTTP/1.1\r\nHost: x\r\n\r\n')
    await printed('entered')
    process.kill(child.pid as number, 'SIGINT')
    expect(await exit).toEqual({ code: 0, signal: null })
    expect(await reply).toBe('')
  })

  it('SIGQUIT then SIGHUP upgrade: each new process serves the same port, the old one drains and exits 0', async () => {
    const { child, port, printed, exit, ended } = await startChild()
    const socket = await connect(port)
    const reply = readAll(socket)
    socket.write('GET /slow HTTP/1.1\r\nHost: x\r\n\r\n')
    await printed('entered')
    process.kill(child.pid as number, 'SIGQUIT')
    // The in-flight request on the old process finishes: the old one shut down gracefully.
    expect(await reply).toContain('finished after shutdown started')
    expect(await exit).toEqual({ code: 0, signal: null })
    const second = JSON.parse(await printed(`{"port":${port},"pid"`, 2)) as { pid: number }
    expect(second.pid).not.toBe(child.pid)
    expect(await get(port, '/')).toMatch(new RegExp(`fast ${second.pid}$`))
    process.kill(second.pid, 'SIGHUP')
    // The second process shuts down only once the third reported ready.
    await printed(`phase Terminated ${second.pid}`)
    const answer = await get(port, '/')
    const servedBy = Number(/fast (\d+)$/.exec(answer)?.[1])
    expect(servedBy).not.toBe(second.pid)
    expect(servedBy).not.toBe(child.pid)
    process.kill(servedBy, 'SIGTERM')
    await ended
  })

  it('threads: 2 serves from two worker processes; a killed worker loses only its requests and is replaced', async () => {
    const { child, port, printed, exit } = await startChild(2)
    const firstTwo = [
      JSON.parse(await printed(`{"port":${port},"pid"`, 1)) as { pid: number },
      JSON.parse(await printed(`{"port":${port},"pid"`, 2)) as { pid: number },
    ].map((line) => line.pid)
    expect(new Set(firstTwo).size).toBe(2)
    expect(firstTwo).not.toContain(child.pid)
    await printed(`phase Running ${child.pid}`)
    // The kernel balances the shared socket: new connections, ten at a time, reach both.
    const servedBy = new Set<number>()
    for (let round = 0; round < 50 && servedBy.size < 2; round++) {
      const answers = await Promise.all(Array.from({ length: 10 }, () => get(port, '/')))
      for (const answer of answers) servedBy.add(Number(/fast (\d+)$/.exec(answer)?.[1]))
    }
    expect([...servedBy].sort()).toEqual([...firstTwo].sort())
    // Requests held open on both workers (they answer only at shutdown).
    const held: Array<{ reply: Promise<string> }> = []
    const heldOn = new Set<number>()
    for (let i = 0; i < 40 && heldOn.size < 2; i++) {
      const socket = await connect(port)
      held.push({ reply: readAll(socket) })
      socket.write('GET /slow HTTP/1.1\r\nHost: x\r\n\r\n')
      const line = await printed('entered', i + 1)
      heldOn.add(Number(line.split(' ')[1]))
    }
    expect(heldOn.size).toBe(2)
    const [victim, survivor] = firstTwo as [number, number]
    process.kill(victim, 'SIGKILL')
    // The primary starts a replacement, which prints its own line.
    const third = JSON.parse(await printed(`{"port":${port},"pid"`, 3)) as { pid: number }
    expect(firstTwo).not.toContain(third.pid)
    expect(await get(port, '/')).toMatch(new RegExp(`fast (${survivor}|${third.pid})$`))
    process.kill(child.pid as number, 'SIGTERM')
    const replies = await Promise.all(held.map((entry) => entry.reply))
    const lost = replies.filter((reply) => reply === '').length
    const finished = replies.filter((reply) => reply.endsWith('finished after shutdown started'))
    // Only the killed worker's requests are lost; the survivor's finish gracefully.
    expect(lost).toBeGreaterThan(0)
    expect(finished.length).toBeGreaterThan(0)
    expect(lost + finished.length).toBe(replies.length)
    expect(await exit).toEqual({ code: 0, signal: null })
  })

  it('threads: 2 upgraded three times (SIGQUIT, SIGHUP, -u): each new primary and its workers take the port and the Unix socket over under load, nothing is refused or reset, the old ones drain and exit 0', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pingora-threads-'))
    const upgradeSock = join(dir, 'upgrade.sock')
    const uds = join(dir, 'http.sock')
    const { child, port, printed, exit, ended } = await startChild(2, {
      UPGRADE_SOCK: upgradeSock,
      UDS: uds,
    })
    const workerLine = (nth: number): Promise<number> =>
      printed(`{"port":${port},"pid"`, nth).then(
        (line) => (JSON.parse(line) as { pid: number }).pid,
      )
    const primaries: number[] = []
    onTestFinished(() => {
      for (const pid of primaries) {
        try {
          process.kill(pid, 'SIGKILL')
        } catch {
          // Already gone.
        }
      }
    })
    // The parent of a worker: its primary (killed at the end of the test whatever happens).
    const parentOf = (pid: number): number => {
      const parent = Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ')[1])
      expect(parent).toBeGreaterThan(1)
      if (!primaries.includes(parent)) primaries.push(parent)
      return parent
    }
    const first = [await workerLine(1), await workerLine(2)]
    await printed(`phase Running ${child.pid}`)
    // A request held on a first-generation worker: it must finish after the upgrade.
    const held = await connect(port)
    const heldReply = readAll(held)
    held.write('GET /slow HTTP/1.1\r\nHost: x\r\n\r\n')
    await printed('entered')
    // Steady load, a new connection per request, until the second upgrade is over.
    let stop = false
    let failures = 0
    const servedBy: number[] = []
    const udsProblems: string[] = []
    const load = (async () => {
      while (!stop) {
        const answer = await get(port, '/', 20_000).catch((error: Error) => error.message)
        const pid = Number(/fast (\d+)$/.exec(answer)?.[1])
        if (Number.isInteger(pid) && pid > 0) servedBy.push(pid)
        else {
          failures++
          if (udsProblems.length < 5) udsProblems.push(`tcp: ${answer}`)
        }
      }
    })()
    // The same over the Unix socket: its file never disappears during an upgrade.
    let udsFailures = 0
    const udsServedBy: number[] = []
    const udsLoad = (async () => {
      while (!stop) {
        const answer = await get(uds, '/', 20_000).catch((error: Error) => error.message)
        const pid = Number(/fast (\d+)$/.exec(answer)?.[1])
        if (Number.isInteger(pid) && pid > 0) udsServedBy.push(pid)
        else {
          udsFailures++
          if (udsProblems.length < 5) udsProblems.push(answer)
        }
      }
    })()
    process.kill(child.pid as number, 'SIGQUIT')
    const second = [await workerLine(3), await workerLine(4)]
    const secondPrimary = parentOf(second[0] as number)
    expect(secondPrimary).not.toBe(child.pid)
    expect(parentOf(second[1] as number)).toBe(secondPrimary)
    expect(await heldReply).toContain('finished after shutdown started')
    expect(await exit).toEqual({ code: 0, signal: null })
    process.kill(secondPrimary, 'SIGHUP')
    const third = [await workerLine(5), await workerLine(6)]
    const thirdPrimary = parentOf(third[0] as number)
    expect([child.pid, secondPrimary]).not.toContain(thirdPrimary)
    await printed(`phase Terminated ${secondPrimary}`)
    // Pingora's `-u`: a new program asks the running primary on upgrade_sock to hand over.
    const asking = spawn(process.execPath, [...NODE_ARGS, FIXTURE, '-u'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, THREADS: '2', UPGRADE_SOCK: upgradeSock, UDS: uds },
    })
    let asked = ''
    asking.stdout?.on('data', (chunk: Buffer) => {
      asked += chunk.toString()
    })
    asking.stderr?.on('data', (chunk: Buffer) => {
      asked += chunk.toString()
    })
    const [askCode] = await once(asking, 'exit')
    expect(askCode, asked).toBe(0)
    const fourth = [await workerLine(7), await workerLine(8)]
    const fourthPrimary = parentOf(fourth[0] as number)
    expect(asked).toContain(`upgraded: the new process ${fourthPrimary} is ready\n`)
    await printed(`phase Terminated ${thirdPrimary}`)
    const before = servedBy.length
    while (servedBy.length < before + 20) await new Promise((resolve) => setImmediate(resolve))
    const udsBefore = udsServedBy.length
    while (udsServedBy.length < udsBefore + 20) {
      await new Promise((resolve) => setImmediate(resolve))
    }
    stop = true
    await load
    await udsLoad
    process.stdout.write(
      `threads upgrade: ${servedBy.length} requests, ${failures} failed, served by ${new Set(servedBy).size} workers; over the Unix socket ${udsServedBy.length}, ${udsFailures} failed\n`,
    )
    expect(failures, udsProblems.join('; ')).toBe(0)
    expect(udsFailures, udsProblems.join('; ')).toBe(0)
    for (const pid of udsServedBy.slice(-20)) expect(fourth).toContain(pid)
    expect(udsServedBy.some((pid) => first.includes(pid))).toBe(true)
    // The last requests reach the fourth generation only.
    for (const pid of servedBy.slice(-20)) expect(fourth).toContain(pid)
    expect(servedBy.some((pid) => first.includes(pid))).toBe(true)
    process.kill(fourthPrimary, 'SIGTERM')
    await ended
  })

  it('exits 1 with the BindError on one line (no stack trace) when an endpoint cannot be bound', async () => {
    const occupant = net.createServer()
    await new Promise<void>((resolve) => occupant.listen(0, '127.0.0.1', resolve))
    onTestFinished(() => new Promise<void>((resolve) => occupant.close(() => resolve())))
    const port = (occupant.address() as net.AddressInfo).port
    const child = spawn(process.execPath, [...NODE_ARGS, BIND_FAIL_FIXTURE, String(port)], {
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    onTestFinished(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    })
    let stderr = ''
    child.stderr?.setEncoding('utf8')
    child.stderr?.on('data', (chunk: string) => {
      stderr += chunk
    })
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
    expect(code).toBe(1)
    expect(stderr).toMatch(
      /^cannot start: BindError .*Fail to bind to 127\.0\.0\.1:\d+.*EADDRINUSE.*\n$/,
    )
    expect(stderr).toContain(`Fail to bind to 127.0.0.1:${port}`)
    expect(stderr.split('\n')).toHaveLength(2)
  })
})
