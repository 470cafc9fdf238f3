import { type ChildProcess, spawn } from 'node:child_process'
import { chmodSync, closeSync, readFileSync, unlinkSync, writeFileSync, writeSync } from 'node:fs'
import net from 'node:net'
import { PingoraError } from '@pingora-ts/error'
import { LISTEN_FDS_ENV } from '../listeners/listen-fds.ts'

/** The environment variable naming the fd a new process reports ready on (set by the old one). */
export const READY_FD_ENV = 'PINGORA_READY_FD'

/** How long an old process waits for its successor to be ready, in ms, before giving up. */
export const UPGRADE_READY_TIMEOUT_MS = 60_000

/** The largest upgrade request accepted on the upgrade socket, in bytes. */
const MAX_REQUEST_BYTES = 1 << 20

/** The program a new process runs: what the old one spawns during an upgrade. */
export interface UpgradeCommand {
  /** The executable (`process.execPath`). */
  readonly file: string
  /** Its arguments: Node flags, the script, the program's flags. */
  readonly args: readonly string[]
  /** The working directory. */
  readonly cwd: string
  /** The environment. */
  readonly env: Readonly<Record<string, string | undefined>>
}

/**
 * The command line of this process, without the flags that only mean something to the
 * launching invocation (`-u/--upgrade`, `-t/--test`).
 */
export function currentCommand(): UpgradeCommand {
  const own = process.argv.slice(2).filter((arg) => !ONE_SHOT_FLAGS.has(arg))
  const script = process.argv[1]
  return {
    file: process.execPath,
    args: [...process.execArgv, ...(script === undefined ? [] : [script]), ...own],
    cwd: INITIAL_CWD,
    env: { ...process.env },
  }
}

const ONE_SHOT_FLAGS = new Set(['-u', '--upgrade', '-t', '--test'])

/** Where this process started: a daemon moves to `working_directory` later. */
const INITIAL_CWD = process.cwd()

/** Options of {@link spawnSuccessor}. */
export interface SpawnSuccessorOptions {
  /** How long to wait for the ready report, in ms. */
  readonly timeoutMs: number
  /** Start it in its own session (daemon mode). */
  readonly detached: boolean
  /** Where its stdout and stderr go. @defaultValue `'inherit'` */
  readonly output?: 'inherit' | 'ignore' | number
  /** Resolve as soon as it started instead of waiting for the ready report. @defaultValue `false` */
  readonly noWait?: boolean
}

/** A successor that reported ready. */
export interface Successor {
  /** Its process id. */
  readonly pid: number
}

/**
 * Starts the new process of an upgrade with the listening sockets inherited (stdio slots 4 and
 * up, named in {@link LISTEN_FDS_ENV}), and resolves once it reports ready on the pipe in slot 3.
 * Rejects (and kills it) when it exits first or is not ready within `timeoutMs`.
 * @param command - the program to run
 * @param fds - the listening sockets, `[address key, fd]`
 * @param options - the time limit and whether to detach (daemon mode)
 */
export function spawnSuccessor(
  command: UpgradeCommand,
  fds: ReadonlyArray<readonly [string, number]>,
  options: SpawnSuccessorOptions,
): Promise<Successor> {
  const firstSlot = 4
  const table = fds.map(([key], index) => [key, firstSlot + index] as const)
  const env = { ...command.env, [LISTEN_FDS_ENV]: JSON.stringify(table), [READY_FD_ENV]: '3' }
  let child: ChildProcess
  try {
    child = spawn(command.file, command.args, {
      cwd: command.cwd,
      env,
      stdio: [
        'ignore',
        options.output ?? 'inherit',
        options.output ?? 'inherit',
        'pipe',
        ...fds.map(([, fd]) => fd),
      ],
      detached: options.detached,
    })
  } catch (error) {
    return Promise.reject(
      PingoraError.internal('InternalError', 'cannot start the new process', error),
    )
  }
  return new Promise<Successor>((resolve, reject) => {
    let text = ''
    const pipe = child.stdio[3] as NodeJS.ReadableStream | null
    const fail = (reason: string, cause?: unknown): void => {
      clearTimeout(timer)
      child.off('exit', onExit)
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      reject(PingoraError.internal('InternalError', `upgrade failed: ${reason}`, cause))
    }
    const onExit = (code: number | null, signal: string | null): void => {
      fail(`the new process exited before it was ready (${signal ?? `code ${code}`})`)
    }
    const timer = setTimeout(
      () => fail(`the new process was not ready within ${options.timeoutMs} ms`),
      options.timeoutMs,
    )
    child.once('error', (error) => fail('cannot start the new process', error))
    child.once('exit', onExit)
    if (options.noWait === true) {
      child.once('spawn', () => {
        clearTimeout(timer)
        child.off('exit', onExit)
        child.unref()
        ;(pipe as unknown as net.Socket | null)?.destroy()
        resolve({ pid: child.pid as number })
      })
      return
    }
    pipe?.setEncoding('utf8')
    pipe?.on('data', (chunk: string) => {
      text += chunk
      if (!text.includes('\n')) return
      clearTimeout(timer)
      child.off('exit', onExit)
      pipe.removeAllListeners('data')
      // The successor lives on without us: do not keep the old event loop alive for it.
      child.unref()
      ;(pipe as unknown as net.Socket).destroy()
      resolve({ pid: child.pid as number })
    })
  })
}

/**
 * Whether a pingora-ts process started this one (an upgrade's new process, or a daemon started
 * by its launching command): it then reports ready instead of daemonizing or upgrading itself.
 */
export const STARTED_BY_PINGORA: boolean = process.env[READY_FD_ENV] !== undefined

// Read once and removed: worker processes forked from this one inherit the environment, and
// must not take the ready pipe's slot number (their fd 3 is the cluster channel).
const READY_FD = process.env[READY_FD_ENV]
delete process.env[READY_FD_ENV]
let readyReported = false

/**
 * Tells the old process (when this one is the new side of an upgrade) that it is ready: its
 * listeners accept. Does nothing in a process not started by an upgrade.
 * @returns whether a ready report was sent
 */
export function reportReady(): boolean {
  if (READY_FD === undefined || readyReported) return false
  readyReported = true
  const fd = Number(READY_FD)
  try {
    writeSync(fd, `ready ${process.pid}\n`)
    closeSync(fd)
    return true
  } catch {
    return false
  }
}

/**
 * Writes the pid file: this process's pid, replacing what is there (a new process takes the
 * file over from the old one during an upgrade).
 * @param path - the pid file
 * @throws PingoraError `FileCreateError` when it cannot be written
 */
export function writePidFile(path: string): void {
  try {
    writeFileSync(path, `${process.pid}\n`)
  } catch (error) {
    throw PingoraError.internal('FileCreateError', `cannot write the pid file ${path}`, error)
  }
}

/**
 * Removes the pid file if it still names this process (after an upgrade it names the new one).
 * @param path - the pid file
 */
export function removeOwnPidFile(path: string): void {
  try {
    if (readFileSync(path, 'utf8').trim() === String(process.pid)) unlinkSync(path)
  } catch {
    // Gone or unreadable: nothing of ours to remove.
  }
}

/** What the upgrade socket's handler returns for a request. */
export type UpgradeHandler = (command: UpgradeCommand) => Promise<Successor>

/**
 * The Unix socket a running instance listens on (`upgrade_sock`) for upgrade requests from
 * `-u` invocations: one JSON {@link UpgradeCommand} per connection, answered with
 * `ok <pid>` once the new process is ready or `error <reason>`.
 */
export class UpgradeSocket {
  readonly #path: string
  readonly #handler: UpgradeHandler
  #server: net.Server | undefined

  /**
   * Creates the socket; nothing listens until {@link UpgradeSocket.open}.
   * @param path - the socket path
   * @param handler - runs the upgrade
   */
  constructor(path: string, handler: UpgradeHandler) {
    this.#path = path
    this.#handler = handler
    this.#server = undefined
  }

  /**
   * Listens (mode 0600: only this user may ask for an upgrade). A stale file (nobody answers
   * on it) is replaced; a live one belongs to another instance and is left alone.
   * @throws Error `EADDRINUSE` when another instance listens on the path
   */
  async open(): Promise<void> {
    if (this.#server !== undefined) return
    let server: net.Server
    try {
      server = await this.#listen()
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE' || (await isLive(this.#path))) {
        throw error
      }
      try {
        unlinkSync(this.#path)
      } catch {
        // Removed meanwhile.
      }
      server = await this.#listen()
    }
    server.on('error', noop)
    server.unref()
    this.#server = server
  }

  #listen(): Promise<net.Server> {
    const server = net.createServer((socket) => this.#serve(socket))
    return new Promise<net.Server>((resolve, reject) => {
      server.once('error', reject)
      server.listen({ path: this.#path, readableAll: false, writableAll: false }, () => {
        server.off('error', reject)
        // listen() creates the file with the umask's mode: make it this user's only.
        try {
          chmodSync(this.#path, 0o600)
        } catch {
          // The file is already gone: the server closes with its owner.
        }
        resolve(server)
      })
    })
  }

  /** Stops listening (the file is removed); connections being answered stay open. */
  close(): void {
    this.#server?.close()
    this.#server = undefined
  }

  #serve(socket: net.Socket): void {
    let text = ''
    socket.setEncoding('utf8')
    socket.on('error', noop)
    socket.on('data', (chunk: string) => {
      text += chunk
      if (text.length > MAX_REQUEST_BYTES) {
        socket.end('error request too large\n')
        return
      }
      const end = text.indexOf('\n')
      if (end === -1) return
      socket.removeAllListeners('data')
      let command: UpgradeCommand
      try {
        command = parseCommand(JSON.parse(text.slice(0, end)))
      } catch {
        socket.end('error malformed upgrade request\n')
        return
      }
      this.#handler(command).then(
        (successor) => socket.end(`ok ${successor.pid}\n`),
        (error: unknown) => socket.end(`error ${oneLine(error)}\n`),
      )
    })
  }
}

function parseCommand(raw: unknown): UpgradeCommand {
  const value = raw as Partial<UpgradeCommand>
  if (
    typeof value.file !== 'string' ||
    !Array.isArray(value.args) ||
    !value.args.every((arg) => typeof arg === 'string') ||
    typeof value.cwd !== 'string' ||
    typeof value.env !== 'object' ||
    value.env === null
  ) {
    throw new TypeError('malformed upgrade request')
  }
  return { file: value.file, args: value.args, cwd: value.cwd, env: value.env }
}

/**
 * Asks the instance listening on `path` to upgrade to `command` (what `-u` does), and resolves
 * with the new process's pid once it is ready.
 * @param path - the running instance's `upgrade_sock`
 * @param command - the program to run @defaultValue this process's command line without `-u`
 * @throws PingoraError when no instance listens there or the upgrade failed
 */
export function requestUpgrade(
  path: string,
  command: UpgradeCommand = currentCommand(),
): Promise<Successor> {
  return new Promise<Successor>((resolve, reject) => {
    const socket = net.connect({ path })
    let answer = ''
    socket.setEncoding('utf8')
    socket.once('error', (error) => {
      reject(PingoraError.internal('ConnectError', `no running instance answers on ${path}`, error))
    })
    socket.once('connect', () => socket.write(`${JSON.stringify(command)}\n`))
    socket.on('data', (chunk: string) => {
      answer += chunk
    })
    socket.once('end', () => {
      const line = answer.trim()
      const ok = /^ok (\d+)$/.exec(line)
      if (ok !== null) resolve({ pid: Number(ok[1]) })
      else
        reject(PingoraError.internal('InternalError', line.replace(/^error /, '') || 'no answer'))
      socket.destroy()
    })
  })
}

function isLive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ path })
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

function oneLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error)
  return message.split('\n')[0] ?? message
}

function noop(): void {}
