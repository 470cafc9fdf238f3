import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { certs, startOrigin } from '@pingora-ts/test-utils'
import { request } from 'undici'
import { afterEach, describe, expect, it, onTestFinished } from 'vitest'

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

interface StartedExample {
  readonly child: ChildProcess
  readonly address: string
  /** The line after `try ...:`, as printed. */
  readonly tryLine: string
  /** Everything it wrote to stderr so far. */
  stderr(): string
}

/** Starts the example and resolves with the address and the `try` command it prints. */
async function startExample(args: string[]): Promise<StartedExample> {
  const child = spawn(tsx, ['--conditions=@pingora-ts/source', main, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.push(child)
  let err = ''
  child.stderr?.setEncoding('utf8')
  child.stderr?.on('data', (chunk: string) => {
    err += chunk
  })
  let address: string | undefined
  let tryNext = false
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })
  for await (const line of lines) {
    const m = /listening on http:\/\/(\S+)/.exec(line)
    if (m) address = m[1] as string
    else if (line.startsWith('try')) tryNext = true
    else if (tryNext && address !== undefined) {
      return { child, address, tryLine: line, stderr: () => err }
    }
  }
  throw new Error(`the example exited before listening: ${err}`)
}

/** Runs the example to its exit. */
async function runExample(args: string[]): Promise<{ code: unknown; out: string; err: string }> {
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

  it('answers 502 when the only upstream refuses connections, and logs it on one line', async () => {
    const started = await startExample(['--listen', '127.0.0.1:0', '--upstream', '127.0.0.1:1'])
    const response = await request(`http://${started.address}/missing`)
    expect(response.statusCode).toBe(502)
    expect(response.headers['cache-control']).toBe('private, no-store')
    await response.body.dump()
    // The error log of @pingora-ts/observability: one JSON line per failed request (other
    // lines may say that another instance holds the upgrade socket).
    const failures = () =>
      started
        .stderr()
        .split('\n')
        .filter((line) => line.includes('"Fail to proxy"'))
    while (failures().length === 0) await once(started.child.stderr as NodeJS.EventEmitter, 'data')
    expect(failures()).toHaveLength(1)
    expect(JSON.parse(failures()[0] ?? '')).toMatchObject({
      log: 'error',
      status: 502,
      summary: expect.stringMatching(/^GET \/missing, Host: 127\.0\.0\.1:\d+$/),
      error_type: 'ConnectRefused',
      upstream: '127.0.0.1:1',
    })
  })

  it('prints a try line that runs as pasted: two requests, the two origins', async () => {
    const started = await startExample(['--listen', '127.0.0.1:0'])
    expect(started.tryLine).toMatch(/^ {2}curl -s http:\/\/127\.0\.0\.1:\d+\/ http:/)
    const shell = spawn('sh', ['-c', started.tryLine], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    shell.stdout?.on('data', (d: Buffer) => {
      out += d.toString()
    })
    const [code] = await once(shell, 'exit')
    expect(code).toBe(0)
    expect(out).toMatch(
      /^hello from origin-([12]) \(GET \/\)\nhello from origin-(?!\1)[12] \(GET \/\)\n$/,
    )
  })

  it('says what is wrong in one line: a bad address exits 2 with the usage, a port in use exits 1', async () => {
    const bad = await runExample(['--listen', 'nowhere'])
    expect(bad.code).toBe(2)
    expect(bad.err).toMatch(
      /^load-balancer: --listen "nowhere": expected HOST:PORT.*\nusage: load-balancer/,
    )
    expect(bad.err).not.toContain('    at ')
    const upstream = await runExample(['--upstream', '127.0.0.1'])
    expect(upstream.code).toBe(2)
    expect(upstream.err).toMatch(/^load-balancer: --upstream "127\.0\.0\.1": expected HOST:PORT/)
    const first = await startExample(['--listen', '127.0.0.1:0'])
    const taken = await runExample(['--listen', first.address])
    expect(taken.code).toBe(1)
    expect(taken.err).toMatch(/^cannot start: BindError .*EADDRINUSE.*\n$/)
  }, 60_000)

  it('verifies --tls upstreams with the CA of --ca FILE (no NODE_EXTRA_CA_CERTS needed)', async () => {
    const origin = await startOrigin((_request, response) => response.end('over tls'), {
      protocol: 'https',
    })
    onTestFinished(origin.close)
    const upstream = ['--upstream', `127.0.0.1:${origin.port}`, '--tls', '--sni', 'localhost']
    const trusted = await startExample(['--listen', '127.0.0.1:0', ...upstream, '--ca', certs.ca])
    const ok = await request(`http://${trusted.address}/`)
    expect(ok.statusCode).toBe(200)
    expect(await ok.body.text()).toBe('over tls')
    const untrusted = await startExample(['--listen', '127.0.0.1:0', ...upstream])
    const refused = await request(`http://${untrusted.address}/`)
    expect(refused.statusCode).toBe(502)
    await refused.body.dump()
    const missing = await runExample(['--ca', '/nonexistent/ca.pem'])
    expect(missing.code).toBe(2)
    expect(missing.err).toMatch(/^load-balancer: --ca "\/nonexistent\/ca\.pem": ENOENT/)
  }, 60_000)

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
    const run = runExample
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
