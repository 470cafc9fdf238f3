import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
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

/** Starts `src/main.ts`; `waitFor` resolves with the first stdout line matching a pattern. */
function startMain(args: string[]) {
  const child = spawn(tsx, ['--conditions=@pingora-ts/source', main, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  children.push(child)
  const lines: string[] = []
  const waiting: { pattern: RegExp; resolve: (match: RegExpExecArray) => void }[] = []
  const exited = once(child, 'exit')
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    lines.push(line)
    for (const w of waiting.splice(0)) {
      const match = w.pattern.exec(line)
      if (match) w.resolve(match)
      else waiting.push(w)
    }
  })
  return {
    waitFor(pattern: RegExp): Promise<RegExpExecArray> {
      for (const line of lines) {
        const match = pattern.exec(line)
        if (match) return Promise.resolve(match)
      }
      return Promise.race([
        new Promise<RegExpExecArray>((resolve) => waiting.push({ pattern, resolve })),
        exited.then(() => {
          throw new Error(`exited before printing ${pattern}`)
        }),
      ])
    },
  }
}

async function get(address: string, path: string, headers: Record<string, string> = {}) {
  const response = await request(`http://${address}${path}`, { headers })
  return {
    status: response.statusCode,
    body: await response.body.text(),
    upstream: response.headers['x-upstream'],
    attempts: response.headers['x-upstream-attempts'],
  }
}

describe('examples/health-checked-lb smoke', () => {
  it('boots on port 0 with embedded origins and proxies a request', async () => {
    const lb = startMain(['--listen', '127.0.0.1:0'])
    const [, address = ''] = await lb.waitFor(/listening on http:\/\/(\S+)/)
    const response = await get(address, '/hello', { 'x-user': 'alice' })
    expect(response.status).toBe(200)
    expect(response.body).toMatch(/^origin-[123]: GET \/hello\n$/)
    expect(response.attempts).toBe('1')
  })

  it('pins each hash header value to one origin and moves only the keys of an origin that fails its health check', async () => {
    const lb = startMain([
      '--listen',
      '127.0.0.1:0',
      '--check',
      'http',
      '--interval-ms',
      '50',
      '--hash-header',
      'X-Tenant',
    ])
    const [, address = ''] = await lb.waitFor(/listening on http:\/\/(\S+)/)
    const tenants = Array.from({ length: 30 }, (_, i) => `tenant-${i}`)
    const owner = new Map<string, unknown>()
    for (const tenant of tenants) {
      owner.set(tenant, (await get(address, '/', { 'x-tenant': tenant })).upstream)
    }
    // The same value lands on the same origin; different values spread over the origins.
    for (const tenant of tenants) {
      expect((await get(address, '/', { 'x-tenant': tenant })).upstream).toBe(owner.get(tenant))
    }
    expect(new Set(owner.values()).size).toBeGreaterThan(1)

    // Make tenant-0's origin fail its health check (the request goes to that origin).
    const [victimTenant = '', ...others] = tenants
    const victim = owner.get(victimTenant)
    expect((await get(address, '/toggle-health', { 'x-tenant': victimTenant })).upstream).toBe(
      victim,
    )
    await lb.waitFor(new RegExp(`upstream ${String(victim).replaceAll('.', '\\.')} is unhealthy`))
    const moved = await get(address, '/', { 'x-tenant': victimTenant })
    expect(moved.status).toBe(200)
    expect(moved.upstream).not.toBe(victim)
    for (const tenant of others) {
      const result = await get(address, '/', { 'x-tenant': tenant })
      if (owner.get(tenant) === victim) expect(result.upstream).not.toBe(victim)
      else expect(result.upstream).toBe(owner.get(tenant))
    }
  })
})
