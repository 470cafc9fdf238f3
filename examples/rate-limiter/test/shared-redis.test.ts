import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { startEchoOrigin } from '@pingora-ts/example-origins'
import { hasRedisServer, startRedis } from '@pingora-ts/test-utils'
import { Agent, request } from 'undici'
import { afterEach, describe, expect, it, onTestFinished } from 'vitest'

const root = fileURLToPath(new URL('../../..', import.meta.url))
const main = fileURLToPath(new URL('../src/main.ts', import.meta.url))

const children: ChildProcess[] = []
afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null) {
      child.kill('SIGKILL')
      await once(child, 'exit')
    }
  }
})

/** Starts one proxy process and resolves with the address it prints. */
async function startProxyProcess(args: string[]): Promise<string> {
  // Node itself with tsx's loader (not the tsx CLI, which would put a second process in between
  // and leave the proxy running when the test kills it).
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--conditions=@pingora-ts/source', main, ...args],
    { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] },
  )
  children.push(child)
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })
  for await (const line of lines) {
    const m = /listening on http:\/\/(\S+)/.exec(line)
    if (m) {
      // Keep draining its output so the pipe closes when the process ends.
      child.stdout?.resume()
      return m[1] as string
    }
  }
  throw new Error('the rate limiter exited before listening')
}

describe.skipIf(!hasRedisServer)('three rate-limiter processes sharing one Redis', () => {
  it('allow in total what one limit allows, within the documented bound', async () => {
    const redis = await startRedis()
    onTestFinished(redis.stop)
    const origin = await startEchoOrigin('origin')
    onTestFinished(origin.close)
    const limit = 30
    const windowMs = 60_000
    const common = ['--listen', '127.0.0.1:0', '--upstream', origin.address, '--redis', redis.url]
    const args = [...common, '--limit', String(limit), '--window-ms', String(windowMs)]
    // A generous Redis timeout: this test is about the shared count, not about failures.
    args.push('--timeout-ms', '2000')
    const addresses = await Promise.all([0, 1, 2].map(() => startProxyProcess(args)))
    const agent = new Agent({ connections: 8 })
    onTestFinished(() => agent.close())

    // Drive them concurrently: 150 requests round robin over the three, one app id.
    const started = performance.now()
    const statuses = await Promise.all(
      Array.from({ length: 150 }, async (_, i) => {
        const response = await request(`http://${addresses[i % 3]}/`, {
          headers: { appid: 'shared-app' },
          dispatcher: agent,
        })
        await response.body.dump()
        return response.statusCode
      }),
    )
    const elapsed = performance.now() - started
    const allowed = statuses.filter((status) => status === 200).length
    expect(statuses.filter((status) => status !== 200 && status !== 429)).toEqual([])
    // Every process answered some of each: the limit is shared, not per process.
    for (let p = 0; p < 3; p++) {
      expect(statuses.filter((s, i) => i % 3 === p && s === 429).length).toBeGreaterThan(0)
    }
    // Documented bound: at most limit x (1 + T / window) over a span of T; at least the limit.
    expect(allowed).toBeGreaterThanOrEqual(limit)
    expect(allowed).toBeLessThanOrEqual(Math.floor(limit * (1 + elapsed / windowMs)) + 1)
    // Without Redis each process would have allowed `limit`: 3 x 30 = 90.
    expect(allowed).toBeLessThan(2 * limit)
  })
})
