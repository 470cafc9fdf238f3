import { type ChildProcess, spawn } from 'node:child_process'
import net from 'node:net'
import { fileURLToPath } from 'node:url'
import { describe, expect, it, onTestFinished } from 'vitest'
import { connect, readAll } from './helpers.ts'

const FIXTURE = fileURLToPath(new URL('./fixtures/signal-server.ts', import.meta.url))
const BIND_FAIL_FIXTURE = fileURLToPath(new URL('./fixtures/bind-fail-server.ts', import.meta.url))
const NODE_ARGS = ['--conditions=@pingora-ts/source', '--import', 'tsx']

interface Child {
  child: ChildProcess
  port: number
  /** Resolves when the child printed `line`. */
  printed(line: string): Promise<void>
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

async function startChild(): Promise<Child> {
  const child = spawn(process.execPath, [...NODE_ARGS, FIXTURE], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }))
  })
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
    for (const waiter of waiters.splice(0)) waiter()
  })
  const printed = (line: string): Promise<void> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        if (stdout.split('\n').some((l) => l.startsWith(line))) resolve()
        else waiters.push(check)
      }
      void exit.then(() => reject(new Error(`child exited before printing ${line}: ${stderr}`)))
      check()
    })
  await printed('{"port"')
  const portLine = stdout.split('\n').find((l) => l.startsWith('{"port"')) as string
  return { child, port: (JSON.parse(portLine) as { port: number }).port, printed, exit }
}

describe('process signals (runForever)', () => {
  it('SIGTERM shuts down gracefully: the in-flight request completes, exit code 0', async () => {
    const { child, port, printed, exit } = await startChild()
    const socket = await connect(port)
    const reply = readAll(socket)
    socket.write('GET /slow HTTP/1.1\r\nHost: x\r\n\r\n')
    await printed('entered')
    process.kill(child.pid as number, 'SIGTERM')
    const text = await reply
    expect(text).toMatch(/^HTTP\/1\.1 200/)
    expect(text).toContain('finished after shutdown started')
    expect(text.toLowerCase()).toContain('connection: close')
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

  it('SIGQUIT (graceful upgrade, no sockets to hand over yet) shuts down gracefully', async () => {
    const { child, port, printed, exit } = await startChild()
    const socket = await connect(port)
    const reply = readAll(socket)
    socket.write('GET /slow HTTP/1.1\r\nHost: x\r\n\r\n')
    await printed('entered')
    process.kill(child.pid as number, 'SIGQUIT')
    expect(await reply).toContain('finished after shutdown started')
    expect(await exit).toEqual({ code: 0, signal: null })
  })

  it('crashes with the BindError (exit code 1) when an endpoint cannot be bound', async () => {
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
    expect(stderr).toContain('BindError')
    expect(stderr).toContain(`Fail to bind to 127.0.0.1:${port}`)
  })
})
