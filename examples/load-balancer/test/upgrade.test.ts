import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Client } from 'undici'
import { describe, expect, it, onTestFinished } from 'vitest'

const exampleDir = fileURLToPath(new URL('..', import.meta.url))
const main = fileURLToPath(new URL('../src/main.ts', import.meta.url))
const NODE_ARGS = ['--conditions=@pingora-ts/source', '--import', 'tsx', main]
const BODY = /^hello from origin-[12] \(GET \/hello\)\n$/

interface Outcome {
  /** How many upgrades had returned when the request started. */
  readonly startedAfter: number
  /** The version that answered (1 for `v1`...), or 0 on a failure. */
  readonly version: number
  /** Why it failed, if it did. */
  readonly failure: string | undefined
}

function versionOf(header: string | string[] | undefined): number {
  const match = /^v(\d+)$/.exec(String(header))
  return match === null ? -1 : Number(match[1])
}

/** A request on its own connection (node:http without an agent: `Connection: close`). */
function freshRequest(host: string, port: number): Promise<{ version: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.get({ host, port, path: '/hello', agent: false }, (response) => {
      let body = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => {
        body += chunk
      })
      response.once('error', reject)
      response.once('end', () => {
        if (response.statusCode !== 200 || !response.complete) {
          reject(new Error(`status ${response.statusCode}, complete ${response.complete}`))
        } else {
          resolve({ version: versionOf(response.headers['x-lb-version']), body })
        }
      })
    })
    request.once('error', reject)
  })
}

describe('examples/load-balancer: zero-downtime upgrade under load', () => {
  it('upgrades three times under 20 client loops: every request a complete 200, versions move forward', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lb-upgrade-'))
    const conf = join(dir, 'conf.yaml')
    const writeConf = (version: number): void =>
      writeFileSync(
        conf,
        `upgrade_sock: ${join(dir, 'upgrade.sock')}\ngrace_period_seconds: 30\nload_balancer:\n  response_version: v${version}\n`,
      )
    writeConf(1)
    const pids = new Set<number>()
    const first: ChildProcess = spawn(
      process.execPath,
      [...NODE_ARGS, '-c', conf, '--listen', '127.0.0.1:0'],
      { cwd: exampleDir, stdio: ['ignore', 'pipe', 'inherit'] },
    )
    onTestFinished(() => {
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL')
        } catch {
          // Gone.
        }
      }
    })
    pids.add(first.pid as number)
    // Every process of the chain writes to this pipe: it ends when the last one exits.
    const ended = once(first.stdout as NodeJS.ReadableStream, 'end')
    let stdout = ''
    const address = await new Promise<string>((resolve, reject) => {
      first.stdout?.setEncoding('utf8')
      first.stdout?.on('data', (chunk: string) => {
        stdout += chunk
        const match = /listening on http:\/\/(\S+)/.exec(stdout)
        if (match !== null) resolve(match[1] as string)
      })
      first.once('exit', () => reject(new Error('the load balancer exited before listening')))
    })
    const [host = '', portText = ''] = address.split(':')
    const port = Number(portText)

    let upgrades = 0
    let running = true
    const keepAlive: Outcome[][] = []
    const fresh: Outcome[][] = []
    const keepAliveLoop = async (outcomes: Outcome[]): Promise<void> => {
      const client = new Client(`http://${address}`, { pipelining: 1 })
      try {
        while (running) {
          const startedAfter = upgrades
          try {
            const response = await client.request({ path: '/hello', method: 'GET' })
            const body = await response.body.text()
            const ok = response.statusCode === 200 && BODY.test(body)
            outcomes.push({
              startedAfter,
              version: versionOf(response.headers['x-lb-version']),
              failure: ok ? undefined : `status ${response.statusCode} body ${body}`,
            })
          } catch (error) {
            outcomes.push({ startedAfter, version: 0, failure: String(error) })
          }
        }
      } finally {
        await client.close()
      }
    }
    const freshLoop = async (outcomes: Outcome[]): Promise<void> => {
      while (running) {
        const startedAfter = upgrades
        try {
          const { version, body } = await freshRequest(host, port)
          outcomes.push({ startedAfter, version, failure: BODY.test(body) ? undefined : body })
        } catch (error) {
          outcomes.push({ startedAfter, version: 0, failure: String(error) })
        }
      }
    }
    const loops: Promise<void>[] = []
    for (let i = 0; i < 10; i++) {
      const a: Outcome[] = []
      const b: Outcome[] = []
      keepAlive.push(a)
      fresh.push(b)
      loops.push(keepAliveLoop(a), freshLoop(b))
    }

    const startedAt = Date.now()
    const loadFor = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
    for (let version = 2; version <= 4; version++) {
      await loadFor(2_000)
      writeConf(version)
      // `-u` asks the running instance to upgrade to this program; it returns once the new
      // process is ready and the old one has stopped accepting.
      const requester = spawn(
        process.execPath,
        [...NODE_ARGS, '-c', conf, '--listen', '127.0.0.1:0', '-u'],
        { cwd: exampleDir, stdio: ['ignore', 'pipe', 'inherit'] },
      )
      let said = ''
      requester.stdout?.setEncoding('utf8')
      requester.stdout?.on('data', (chunk: string) => {
        said += chunk
      })
      const [code] = await once(requester, 'exit')
      const pid = Number(/upgraded: the new process (\d+) is ready/.exec(said)?.[1])
      expect(code, said).toBe(0)
      pids.add(pid)
      upgrades++
    }
    await loadFor(Math.max(2_000, 10_500 - (Date.now() - startedAt)))
    running = false
    await Promise.all(loops)
    const elapsedMs = Date.now() - startedAt

    const all = [...keepAlive.flat(), ...fresh.flat()]
    const failures = all.filter((outcome) => outcome.failure !== undefined)
    const byVersion = [1, 2, 3, 4].map((v) => all.filter((o) => o.version === v).length)
    process.stdout.write(
      `upgrade under load: ${all.length} requests in ${elapsedMs} ms, ${failures.length} failed; ` +
        `by version v1..v4: ${byVersion.join(' / ')}; keep-alive ${keepAlive.flat().length}, ` +
        `new connection ${fresh.flat().length}\n`,
    )
    expect(elapsedMs).toBeGreaterThanOrEqual(10_000)
    expect(failures.slice(0, 5)).toEqual([])
    for (const outcomes of keepAlive) {
      // One connection at a time: it moves to a newer process only when the old one closed it.
      const versions = outcomes.map((outcome) => outcome.version)
      expect(versions).toEqual([...versions].sort((a, b) => a - b))
      expect(versions.at(-1)).toBe(4)
    }
    for (const outcomes of fresh) {
      // A connection opened after upgrade k returned can only reach version k + 1 or later.
      for (const outcome of outcomes) {
        expect(outcome.version).toBeGreaterThanOrEqual(outcome.startedAfter + 1)
      }
      expect(outcomes.at(-1)?.version).toBe(4)
    }
    for (const count of byVersion) expect(count).toBeGreaterThan(0)

    const last = [...pids].at(-1) as number
    process.kill(last, 'SIGTERM')
    await ended
  }, 300_000)
})
