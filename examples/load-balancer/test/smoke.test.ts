import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { request } from 'undici'
import { afterEach, describe, expect, it } from 'vitest'

const root = fileURLToPath(new URL('../../..', import.meta.url))
const main = fileURLToPath(new URL('../src/main.ts', import.meta.url))
const tsx = `${root}node_modules/.bin/tsx`

const children: ChildProcess[] = []
afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null) {
      child.kill('SIGINT')
      await once(child, 'exit')
    }
  }
})

/** Starts the example and resolves with the address it prints. */
async function startExample(args: string[]): Promise<{ child: ChildProcess; address: string }> {
  const child = spawn(tsx, ['--conditions=@pingora-ts/source', main, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  children.push(child)
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })
  for await (const line of lines) {
    const m = /listening on http:\/\/(\S+)/.exec(line)
    if (m) return { child, address: m[1] as string }
  }
  throw new Error('the example exited before listening')
}

describe('examples/load-balancer', () => {
  it('alternates between the two embedded origins', async () => {
    const { address } = await startExample(['--listen', '127.0.0.1:0'])
    const seen: string[] = []
    for (let i = 0; i < 4; i++) {
      const response = await request(`http://${address}/hello`)
      expect(response.statusCode).toBe(200)
      const text = await response.body.text()
      expect(text).toMatch(/^hello from origin-[12] \(GET \/hello\)\n$/)
      seen.push(String(response.headers['x-origin']))
    }
    expect(seen[0]).not.toBe(seen[1])
    expect(seen[0]).toBe(seen[2])
    expect(seen[1]).toBe(seen[3])
    expect(new Set(seen)).toEqual(new Set(['origin-1', 'origin-2']))
  })

  it('answers 502 when the only upstream refuses connections', async () => {
    const { address } = await startExample(['--listen', '127.0.0.1:0', '--upstream', '127.0.0.1:1'])
    const response = await request(`http://${address}/`)
    expect(response.statusCode).toBe(502)
    expect(response.headers['cache-control']).toBe('private, no-store')
    await response.body.dump()
  })

  it('prints its usage with --help', async () => {
    const child = spawn(tsx, ['--conditions=@pingora-ts/source', main, '--help'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    children.push(child)
    let out = ''
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString()
    })
    const [code] = await once(child, 'exit')
    expect(code).toBe(0)
    expect(out).toContain(
      '--upstream 1.1.1.1:443 --upstream 1.0.0.1:443 --tls --sni one.one.one.one',
    )
  })

  it('accepts the shared flags: a bad flag exits 2, -t checks the file, -c applies its section', async () => {
    const run = async (args: string[]) => {
      const child = spawn(tsx, ['--conditions=@pingora-ts/source', main, ...args], {
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      children.push(child)
      let out = ''
      let err = ''
      child.stdout?.on('data', (d: Buffer) => {
        out += d.toString()
      })
      child.stderr?.on('data', (d: Buffer) => {
        err += d.toString()
      })
      const [code] = await once(child, 'exit')
      return { code, out, err }
    }
    const bad = await run(['--', '--bogus'])
    expect(bad.code).toBe(2)
    expect(bad.err).toMatch(/^load-balancer: Unknown option '--bogus'.*\nusage: load-balancer/)
    const dir = mkdtempSync(join(tmpdir(), 'lb-conf-'))
    const conf = join(dir, 'conf.yaml')
    writeFileSync(conf, 'threads: 1\nload_balancer:\n  response_version: v7\n')
    const tested = await run(['-t', '-c', conf])
    expect(tested.code).toBe(0)
    expect(tested.out).toBe(`${conf}: configuration is valid\n`)
    const broken = join(dir, 'broken.yaml')
    writeFileSync(broken, 'load_balancer:\n  response_version: [v7]\n')
    const failed = await run(['-c', broken])
    expect(failed.code).toBe(1)
    expect(failed.err).toBe(
      `load-balancer: ${broken}:2: load_balancer.response_version: must be a string, got a list\n`,
    )
    const { address } = await startExample(['-c', conf, '--listen', '127.0.0.1:0'])
    const response = await request(`http://${address}/`)
    expect(response.statusCode).toBe(200)
    expect(response.headers['x-lb-version']).toBe('v7')
    await response.body.dump()
  }, 120_000)
})
