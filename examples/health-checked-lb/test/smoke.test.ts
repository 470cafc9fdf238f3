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

describe('examples/health-checked-lb smoke', () => {
  it('boots on port 0 with embedded origins and proxies a request', async () => {
    const child = spawn(tsx, ['--conditions=@pingora-ts/source', main, '--listen', '127.0.0.1:0'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    children.push(child)
    let address: string | undefined
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })
    for await (const line of lines) {
      const m = /listening on http:\/\/(\S+)/.exec(line)
      if (m) {
        address = m[1]
        break
      }
    }
    expect(address).toBeDefined()
    const response = await request(`http://${address}/hello`)
    expect(response.statusCode).toBe(200)
    expect(await response.body.text()).toMatch(/^origin-[123]: GET \/hello\n$/)
    expect(response.headers['x-upstream-attempts']).toBe('1')
  })
})
