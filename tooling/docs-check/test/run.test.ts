import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import net from 'node:net'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { blocksOf, markdownFiles } from '../extract.mjs'

// Runs every block marked `<!-- docs-check: run -->` (a whole program: it imports what it uses
// and starts a server) as it is, with its listeners moved to port 0 and its origin
// (`127.0.0.1:8000` in the docs) moved to an origin this test starts, then checks that it answers
// and stops on SIGTERM.

const here = join(dirname(fileURLToPath(import.meta.url)), '..')
const root = join(here, '..', '..')
const runDir = join(here, '.run')
const hook = join(here, 'test', 'listen-hook.mjs')
/** How long one program may take to start (tsx compiles the packages' sources on the fly). */
const START_MS = 20_000

interface Program {
  /** `docs/quick-start.md:65` */
  readonly source: string
  readonly code: string
}

function programs(): Program[] {
  const found: Program[] = []
  for (const file of markdownFiles()) {
    for (const block of blocksOf(readFileSync(file, 'utf8'))) {
      if (block.run)
        found.push({ source: `${relative(root, file)}:${block.line}`, code: block.code })
    }
  }
  return found
}

/** The program listening on 127.0.0.1 port 0 and proxying to the test's origin. */
function relocate(code: string, originPort: number): string {
  return code
    .replace(/(\.add(?:Tcp|Tls)\(\s*')[^']*'/g, (_match, call: string) => `${call}127.0.0.1:0'`)
    .replaceAll("'127.0.0.1:8000'", `'127.0.0.1:${originPort}'`)
}

/** Starts a program; resolves with the first port it listens on (printed by listen-hook.mjs). */
async function start(
  file: string,
  output: string[],
): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(
    process.execPath,
    ['--conditions=@pingora-ts/source', '--import', 'tsx', '--import', hook, file],
    { cwd: here, stdio: ['ignore', 'pipe', 'pipe'] },
  )
  children.push(child)
  child.stdout?.on('data', (chunk: Buffer) => output.push(chunk.toString()))
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`not listening after ${START_MS} ms`)),
      START_MS,
    )
    let text = ''
    child.stderr?.on('data', (chunk: Buffer) => {
      output.push(chunk.toString())
      text += chunk.toString()
      const listening = /docs-check: listening (\d+)\n/.exec(text)
      if (listening !== null) {
        clearTimeout(timer)
        resolve(Number(listening[1]))
      }
    })
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      reject(new Error(`exited before listening (${code ?? signal}):\n${output.join('')}`))
    })
  })
  return { child, port }
}

function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent: false }, (response) => {
        let body = ''
        response.setEncoding('utf8')
        response.on('data', (chunk: string) => {
          body += chunk
        })
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }))
      })
      .on('error', reject)
  })
}

/** Sends `message` over TCP and resolves with what comes back once as many bytes arrived. */
function echo(port: number, message: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1')
    let received = ''
    socket.setEncoding('utf8')
    socket.on('connect', () => socket.write(message))
    socket.on('data', (chunk: string) => {
      received += chunk
      if (received.length >= message.length) {
        socket.end()
        resolve(received)
      }
    })
    socket.on('error', reject)
  })
}

const children: ChildProcess[] = []
const seenByOrigin: (string | undefined)[] = []
const origin = http.createServer((request, response) => {
  seenByOrigin.push(request.headers['x-proxied-by'] as string | undefined)
  response.end(`origin saw ${request.method} ${request.url}\n`)
})

beforeAll(async () => {
  mkdirSync(runDir, { recursive: true })
  origin.listen(0, '127.0.0.1')
  await once(origin, 'listening')
})

afterAll(() => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL')
  origin.close()
  rmSync(runDir, { recursive: true, force: true })
})

describe('documented programs run', () => {
  const all = programs()

  it('finds the programs marked to run, the quick start among them', () => {
    expect(all.map((program) => program.source)).toEqual(
      expect.arrayContaining([expect.stringMatching(/^docs\/quick-start\.md:/)]),
    )
    expect(all.length).toBeGreaterThanOrEqual(4)
  })

  for (const program of all) {
    it(
      `${program.source} starts, answers and stops`,
      async () => {
        const originPort = (origin.address() as AddressInfo).port
        const file = join(runDir, `${program.source.replaceAll(/[/:.]/g, '_')}.ts`)
        const relocated = relocate(program.code, originPort)
        expect(relocated).toContain("('127.0.0.1:0'")
        writeFileSync(file, relocated)
        const output: string[] = []
        const { child, port } = await start(file, output)

        if (program.code.includes('httpProxyService')) {
          const before = seenByOrigin.length
          const response = await get(port, '/hello')
          expect(response).toEqual({ status: 200, body: 'origin saw GET /hello\n' })
          expect(seenByOrigin.length).toBe(before + 1)
          if (program.code.includes("'X-Proxied-By', 'pingora-ts'")) {
            expect(seenByOrigin.at(-1)).toBe('pingora-ts')
          }
        } else if (program.code.includes('stream.writeAll(chunk)')) {
          expect(await echo(port, 'ping from the docs\n')).toBe('ping from the docs\n')
        } else {
          throw new Error(`${program.source}: no check is known for this program`)
        }

        child.kill('SIGTERM')
        const [code, signal] = await once(child, 'exit')
        // A program that runs `server.runForever()` shuts down gracefully; one that only
        // `start()`s is ended by the signal.
        expect(code === 0 || signal === 'SIGTERM', output.join('')).toBe(true)
      },
      2 * START_MS,
    )
  }
})
