import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import net, { type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** A RESP reply as {@link StartedRedis.command} decodes it (errors become rejections). */
export type RespReply = string | number | null | RespReply[]

/** A `redis-server` child process started by {@link startRedis}. */
export interface StartedRedis {
  /** Always `127.0.0.1`. */
  readonly host: string
  /** The port, kept across {@link StartedRedis.restart}. */
  readonly port: number
  /** `redis://127.0.0.1:<port>`. */
  readonly url: string
  /** Whether the server process is running now. */
  readonly isRunning: () => boolean
  /** Sends one command on a fresh connection and resolves with the decoded reply. */
  readonly command: (...args: (string | number)[]) => Promise<RespReply>
  /** Kills the server with SIGKILL (a crash: open connections reset) and waits for it to exit. */
  readonly kill: () => Promise<void>
  /** Freezes the server (SIGSTOP): connections stay open but nothing answers, like a stalled Redis. */
  readonly pause: () => void
  /** Lets a paused server run again (SIGCONT). */
  readonly resume: () => void
  /** Starts the server again on the same port (stopping it first if it runs); waits for PING. */
  readonly restart: () => Promise<void>
  /** Stops the server and removes its data folder; safe to call twice (`onTestFinished(r.stop)`). */
  readonly stop: () => Promise<void>
}

/** Options for {@link startRedis}. */
export interface StartRedisOptions {
  /**
   * Starts the server in cluster mode owning all 16384 slots, so multi-key commands whose keys
   * hash to different slots fail with `CROSSSLOT` exactly as on a real Redis Cluster.
   * @defaultValue `false`
   */
  cluster?: boolean
}

/** Whether a `redis-server` binary is on the `PATH` (Debian package `redis-server`). */
export const hasRedisServer: boolean = (() => {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
})()

const READY = 'Ready to accept connections'
const CLUSTER_OK = 'Cluster state changed: ok'
const START_ATTEMPTS = 5

/**
 * Starts a `redis-server` on `127.0.0.1` with a free port and no persistence, and resolves once it
 * has logged that it accepts connections and answered `PING`. The process is killed when the test
 * process exits, should the test forget {@link StartedRedis.stop}.
 *
 * ```ts
 * const redis = await startRedis()
 * onTestFinished(redis.stop)
 * await redis.kill()      // Redis is down
 * await redis.restart()   // and back, same port
 * ```
 * @param options - cluster mode
 */
export async function startRedis(options: StartRedisOptions = {}): Promise<StartedRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'pingora-redis-'))
  let port = 0
  let child: ChildProcess | undefined
  const killOnExit = () => child?.kill('SIGKILL')
  process.once('exit', killOnExit)

  const command = (...args: (string | number)[]) => sendCommand(port, args)

  const launch = async (): Promise<void> => {
    const args = [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--save',
      '',
      '--appendonly',
      'no',
      '--daemonize',
      'no',
      '--loglevel',
      'notice',
    ]
    if (options.cluster) {
      args.push('--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`)
      // A lone node does not know its address; clients (ioredis Cluster) need it in CLUSTER SLOTS.
      args.push('--cluster-announce-ip', '127.0.0.1')
    }
    const started = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] })
    child = started
    const log = new LogWatcher(started)
    await log.waitFor(READY)
    await command('PING')
    if (options.cluster) await claimAllSlots(command, log)
  }

  const isRunning = () =>
    child !== undefined && child.exitCode === null && child.signalCode === null

  const halt = async (signal: NodeJS.Signals) => {
    const running = child
    if (running === undefined || running.exitCode !== null || running.signalCode !== null) return
    const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()))
    running.kill(signal)
    await exited
  }

  for (let attempt = 1; ; attempt++) {
    port = await freePort()
    try {
      await launch()
      break
    } catch (error) {
      // Never leave a half-started server behind.
      await halt('SIGKILL')
      // Another process may have taken the port between our probe and redis's bind: retry.
      if (attempt >= START_ATTEMPTS) {
        process.removeListener('exit', killOnExit)
        rmSync(dir, { recursive: true, force: true })
        throw error
      }
    }
  }

  let stopped = false
  return {
    host: '127.0.0.1',
    port,
    url: `redis://127.0.0.1:${port}`,
    isRunning,
    command,
    kill: () => halt('SIGKILL'),
    pause: () => {
      child?.kill('SIGSTOP')
    },
    resume: () => {
      child?.kill('SIGCONT')
    },
    restart: async () => {
      await halt('SIGTERM')
      await launch()
    },
    stop: async () => {
      if (stopped) return
      stopped = true
      await halt('SIGKILL')
      process.removeListener('exit', killOnExit)
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** Collects a child's output so callers can wait for a line; rejects waits if it exits first. */
class LogWatcher {
  #log = ''
  #exit: string | undefined
  #waiters: { marker: string; resolve: () => void; reject: (error: Error) => void }[] = []

  constructor(child: ChildProcess) {
    const onData = (chunk: Buffer) => {
      this.#log += chunk.toString('utf8')
      // Bounded: keep the tail only once no waiter can still be looking for an older line.
      if (this.#log.length > 64 * 1024) this.#log = this.#log.slice(-4096)
      this.#settle()
    }
    child.stdout?.on('data', onData)
    child.stderr?.on('data', onData)
    child.once('exit', (code, signal) => {
      this.#exit = `redis-server exited (${code ?? signal}): ${this.#log.slice(-500)}`
      this.#settle()
    })
    child.once('error', (error) => {
      this.#exit = error.message
      this.#settle()
    })
  }

  /** Resolves once `marker` has appeared in the output. */
  waitFor(marker: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#waiters.push({ marker, resolve, reject })
      this.#settle()
    })
  }

  #settle(): void {
    this.#waiters = this.#waiters.filter((waiter) => {
      if (this.#log.includes(waiter.marker)) waiter.resolve()
      else if (this.#exit !== undefined) waiter.reject(new Error(this.#exit))
      else return true
      return false
    })
  }
}

/**
 * Assigns every slot to the single node if it has none, then waits for the node to log that the
 * cluster state is ok (a master waits about two seconds after boot before it says so).
 */
async function claimAllSlots(
  command: (...args: (string | number)[]) => Promise<RespReply>,
  log: LogWatcher,
): Promise<void> {
  const info = String(await command('CLUSTER', 'INFO'))
  if (!info.includes('cluster_slots_assigned:16384')) {
    await command('CLUSTER', 'ADDSLOTSRANGE', 0, 16383)
  }
  await log.waitFor(CLUSTER_OK)
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo
      server.close(() => resolve(port))
    })
  })
}

/** Writes one RESP command on a new connection and decodes the first reply. */
function sendCommand(port: number, args: (string | number)[]): Promise<RespReply> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1')
    let buffer = Buffer.alloc(0)
    let encoded = `*${args.length}\r\n`
    for (const arg of args) {
      const text = String(arg)
      encoded += `$${Buffer.byteLength(text)}\r\n${text}\r\n`
    }
    socket.setTimeout(5000, () => socket.destroy(new Error('redis command timed out')))
    socket.once('error', reject)
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk])
      let parsed: { value: RespReply | Error; end: number } | undefined
      try {
        parsed = parseReply(buffer, 0)
      } catch (error) {
        socket.destroy()
        reject(error)
        return
      }
      if (parsed === undefined) return
      socket.end()
      if (parsed.value instanceof Error) reject(parsed.value)
      else resolve(parsed.value)
    })
    socket.write(encoded)
  })
}

/** Decodes one RESP2 value at `start`, or returns undefined when more bytes are needed. */
function parseReply(
  buffer: Buffer,
  start: number,
): { value: RespReply | Error; end: number } | undefined {
  const lineEnd = buffer.indexOf('\r\n', start)
  if (lineEnd === -1) return undefined
  const type = String.fromCharCode(buffer[start] ?? 0)
  const line = buffer.toString('utf8', start + 1, lineEnd)
  switch (type) {
    case '+':
      return { value: line, end: lineEnd + 2 }
    case '-':
      return { value: new Error(line), end: lineEnd + 2 }
    case ':':
      return { value: Number(line), end: lineEnd + 2 }
    case '$': {
      const length = Number(line)
      if (length < 0) return { value: null, end: lineEnd + 2 }
      const end = lineEnd + 2 + length
      if (buffer.length < end + 2) return undefined
      return { value: buffer.toString('utf8', lineEnd + 2, end), end: end + 2 }
    }
    case '*': {
      const count = Number(line)
      if (count < 0) return { value: null, end: lineEnd + 2 }
      const items: RespReply[] = []
      let offset = lineEnd + 2
      for (let i = 0; i < count; i++) {
        const item = parseReply(buffer, offset)
        if (item === undefined) return undefined
        if (item.value instanceof Error) return item
        items.push(item.value)
        offset = item.end
      }
      return { value: items, end: offset }
    }
    default:
      throw new Error(`unexpected RESP type byte ${JSON.stringify(type)}`)
  }
}
